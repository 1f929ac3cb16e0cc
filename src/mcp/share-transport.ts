import type { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { isGatewayError } from '../errors.js';
import type { ShareConnector } from '../share/index.js';
import { openSessionStream, type SessionStream } from './session-stream.js';
import { StreamTransport } from './stream-transport.js';

/** A session with a share: our persistent stream, or standard MCP over HTTP for other servers. */
export type ShareSession = { kind: 'stream'; stream: SessionStream } | { kind: 'http'; transport: Transport; protocol: 'streamable' | 'sse' };

/**
 * Opens a session with whatever serves the share. Our bridges and gateways accept the session
 * stream upgrade; the original Go gateway and bridge do not (they serve legacy SSE at `/sse`),
 * so a refused upgrade falls back to HTTP when the connector offers an HTTP address.
 */
export async function openShareSession(connector: ShareConnector, preferHttp: 'streamable' | 'sse' | undefined = undefined): Promise<ShareSession> {
  if (preferHttp === undefined) {
    try {
      return { kind: 'stream', stream: await openSessionStream(connector) };
    } catch (error) {
      if (!isGatewayError(error, 'PROTOCOL_ERROR') || connector.httpBase === undefined) throw error;
    }
  }
  const base = connector.httpBase as string;
  // Loaded only here: a share served by our own bridge or gateway never needs them, and they
  // bring the SDK's zod schemas, which take longer to load than all the rest of `mcp-tools run`.
  const [{ SSEClientTransport: Sse }, { StreamableHTTPClientTransport: Streamable }] = await Promise.all([
    import('@modelcontextprotocol/sdk/client/sse.js'),
    import('@modelcontextprotocol/sdk/client/streamableHttp.js'),
  ]);
  // Streamable HTTP needs no probe of its own: its first POST is the initialize. SSE opens a
  // stream at start(), so it is the one to try when streamable is refused.
  if (preferHttp === 'sse') return { kind: 'http', transport: new Sse(new URL('/sse', base)), protocol: 'sse' };
  return { kind: 'http', transport: new FallbackTransport(new Streamable(new URL('/mcp', base)), () => new Sse(new URL('/sse', base))), protocol: 'streamable' };
}

/** The session as an SDK Transport, whichever kind it is. */
export async function openShareTransport(connector: ShareConnector): Promise<Transport> {
  const session = await openShareSession(connector);
  return session.kind === 'stream' ? StreamTransport.overSocket(session.stream.socket, session.stream.head) : session.transport;
}

/**
 * Streamable HTTP, switching to legacy SSE when the server refuses the first message (404/405),
 * which is how a server that only speaks SSE answers a POST to /mcp.
 */
class FallbackTransport implements Transport {
  onmessage?: Transport['onmessage'];
  onclose?: () => void;
  onerror?: (error: Error) => void;
  #active: Transport;
  readonly #newSse: () => SSEClientTransport;
  #firstSend = true;

  constructor(streamable: StreamableHTTPClientTransport, newSse: () => SSEClientTransport) {
    this.#active = streamable;
    this.#newSse = newSse;
  }

  get sessionId(): string | undefined {
    return this.#active.sessionId;
  }

  async start(): Promise<void> {
    this.#wire(this.#active);
    await this.#active.start();
  }

  async send(...args: Parameters<Transport['send']>): Promise<void> {
    if (!this.#firstSend) return this.#active.send(...args);
    this.#firstSend = false;
    try {
      await this.#active.send(...args);
    } catch {
      const sse = this.#newSse();
      this.#wire(sse);
      const previous = this.#active;
      this.#active = sse;
      previous.onclose = undefined;
      await previous.close().catch(() => undefined);
      await sse.start();
      await sse.send(args[0]);
    }
  }

  close(): Promise<void> {
    return this.#active.close();
  }

  #wire(transport: Transport): void {
    transport.onmessage = (message) => this.onmessage?.(message);
    transport.onclose = () => this.onclose?.();
    transport.onerror = (error) => this.onerror?.(error);
  }
}
