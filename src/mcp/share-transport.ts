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
  const wires: Wire[] = [
    { path: '/', open: () => new Streamable(new URL('/', base)) },
    { path: '/mcp', open: () => new Streamable(new URL('/mcp', base)) },
    { path: '/sse', open: () => new Sse(new URL('/sse', base)) },
  ];
  // What worked for this address before is tried first (a gateway dials a share once a session).
  const known = WORKED.get(base);
  const ordered = known === undefined ? wires : [...wires.filter((w) => w.path === known), ...wires.filter((w) => w.path !== known)];
  return { kind: 'http', transport: new FallbackTransport(ordered, (path) => WORKED.set(base, path)), protocol: 'streamable' };
}

/** One way of speaking MCP over HTTP to a share: where, and its client transport. */
interface Wire {
  path: '/' | '/mcp' | '/sse';
  open: () => Transport;
}

/** By HTTP base address: the wire that last carried a session there. Bounded: few addresses. */
const WORKED = new Map<string, Wire['path']>();
const MAX_REMEMBERED = 256;

/** The session as an SDK Transport, whichever kind it is. */
export async function openShareTransport(connector: ShareConnector): Promise<Transport> {
  const session = await openShareSession(connector);
  return session.kind === 'stream' ? StreamTransport.overSocket(session.stream.socket, session.stream.head) : session.transport;
}

/**
 * The wires in order, each given the first message: the newest original answers streamable HTTP
 * at `/`, our earlier versions only at `/mcp`, v0.1.3 originals only SSE — and a server that does
 * not speak a wire refuses its first message (404/405), which moves on to the next.
 */
class FallbackTransport implements Transport {
  onmessage?: Transport['onmessage'];
  onclose?: () => void;
  onerror?: (error: Error) => void;
  #active: Transport;
  readonly #rest: Wire[];
  readonly #worked: (path: Wire['path']) => void;
  #path: Wire['path'];
  /** Set once a message went through: the wire is settled. */
  #chosen = false;

  constructor(wires: readonly Wire[], worked: (path: Wire['path']) => void) {
    const [first, ...rest] = wires as [Wire, ...Wire[]];
    this.#active = first.open();
    this.#path = first.path;
    this.#rest = rest;
    this.#worked = worked;
  }

  get sessionId(): string | undefined {
    return this.#active.sessionId;
  }

  async start(): Promise<void> {
    this.#wire(this.#active);
    await this.#active.start();
  }

  async send(...args: Parameters<Transport['send']>): Promise<void> {
    if (this.#chosen) return this.#active.send(...args).catch((error: unknown) => this.#answerOrThrow(args[0], error));
    for (;;) {
      try {
        await this.#active.send(...args);
        this.#chosen = true;
        if (WORKED.size >= MAX_REMEMBERED && !WORKED.has(this.#path)) WORKED.clear();
        this.#worked(this.#path);
        return;
      } catch (error) {
        // Only "no such endpoint" moves on: any other refusal (a 2025 server's 400 to a
        // 2026-07-28 client's probe, say) is this wire's answer, for the client to act on.
        const status = (error as { code?: unknown }).code;
        const next = status === 404 || status === 405 ? this.#rest.shift() : undefined;
        if (next === undefined) return this.#answerOrThrow(args[0], error);
        const previous = this.#active;
        previous.onclose = undefined;
        await previous.close().catch(() => undefined);
        this.#active = next.open();
        this.#path = next.path;
        this.#wire(this.#active);
        await this.#active.start();
      }
    }
  }

  close(): Promise<void> {
    return this.#active.close();
  }

  /**
   * The SDK's HTTP client transport throws when a server answers a request with an HTTP error,
   * even when the body is a JSON-RPC error for it (a 2025 server's 400 "Server not initialized"
   * to a 2026-07-28 client's `server/discover`): that is the server's answer to the request, so
   * the client gets it as one — and can fall back to `initialize` — instead of a dead transport.
   */
  #answerOrThrow(message: Parameters<Transport['send']>[0], error: unknown): void {
    const request = message as { id?: string | number; method?: string };
    const body = /(\{"jsonrpc":"2\.0".*\})\s*$/s.exec(error instanceof Error ? error.message : '')?.[1];
    let parsed: { error?: { code?: unknown; message?: unknown } } | undefined;
    try {
      parsed = body === undefined ? undefined : (JSON.parse(body) as typeof parsed);
    } catch {
      parsed = undefined;
    }
    const rpcError = parsed?.error;
    if (request.id === undefined || request.method === undefined || typeof rpcError?.code !== 'number' || typeof rpcError.message !== 'string') throw error;
    this.onmessage?.({ jsonrpc: '2.0', id: request.id, error: { code: rpcError.code, message: rpcError.message } });
  }

  #wire(transport: Transport): void {
    transport.onmessage = (message) => this.onmessage?.(message);
    transport.onclose = () => this.onclose?.();
    transport.onerror = (error) => this.onerror?.(error);
  }
}
