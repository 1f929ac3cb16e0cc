import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Progress } from '@modelcontextprotocol/sdk/types.js';

/** The text parts of a tool result, joined by newlines. */
export function text(result: unknown): string {
  return ((result as { content?: { text?: string }[] }).content ?? []).map((c) => c.text ?? '').join('\n');
}

/**
 * Records progress notifications as they arrive on a client's transport. Observed on the wire
 * because the SDK Client itself drops a progress notification that arrives in the same read as
 * its result (SDK issue #2580; it happens on a direct stdio connection too).
 */
export function tapProgress(transport: Transport): { seen: Progress[]; restore: () => void } {
  const seen: Progress[] = [];
  const original = transport.onmessage;
  transport.onmessage = (message, extra) => {
    const m = message as { method?: string; params?: Progress };
    if (m.method === 'notifications/progress' && m.params !== undefined) seen.push(m.params);
    original?.(message, extra);
  };
  return {
    seen,
    restore: () => {
      if (original !== undefined) transport.onmessage = original;
    },
  };
}

/**
 * Calls a tool with a progress callback and resolves `started` at the first progress notification:
 * our dynamic fixture's `sleep` sends one as it begins, the event that the call is in flight at
 * the backend.
 */
export function callAndSeeStart(
  client: Client,
  params: { name: string; arguments: Record<string, unknown> },
  options: RequestOptions = {},
): { result: ReturnType<Client['callTool']>; started: Promise<void> } {
  let begun!: () => void;
  const started = new Promise<void>((resolve) => (begun = resolve));
  const result = client.callTool(params, undefined, { ...options, onprogress: () => begun() });
  return { result, started };
}

/** Resolves once the transport has sent a request with this method (the next one sent). */
export function requestSent(transport: Transport, method: string): Promise<void> {
  const send = transport.send.bind(transport);
  return new Promise((resolve) => {
    transport.send = async (message, options) => {
      await send(message, options);
      if ('method' in message && message.method === method && 'id' in message) {
        transport.send = send;
        resolve();
      }
    };
  });
}
