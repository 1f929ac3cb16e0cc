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
