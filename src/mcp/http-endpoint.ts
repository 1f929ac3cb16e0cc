import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { randomUUID } from 'node:crypto';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { type JsonRpcId, JsonRpcErrorCode, type RoutingView, errorResponse, isRequest } from './jsonrpc.js';
import { ModernHttpFront, isModernPost } from './modern-http.js';
import { relay, type Relay } from './relay.js';
import { StatelessMultiplexer } from './stateless.js';

/** Opens the server side of a new client session (a child process, a share stream, …). */
export type SessionOpener = (sessionLabel: string) => Promise<Transport>;

/** Options for {@link McpHttpEndpoint}. */
export interface HttpEndpointOptions {
  openSession: SessionOpener;
  logger: Logger;
  /** Answer POSTs with one JSON body instead of an SSE stream. */
  jsonResponse?: boolean;
  /** Stateless streamable HTTP: no session ids; all requests share one server side. */
  stateless?: boolean;
  /** `Host` values accepted (e.g. `127.0.0.1:8080`); no check when undefined. */
  allowedHosts?: readonly string[];
  /** `Origin` values accepted when a request carries one; defaults to http(s)://<allowed host>. */
  allowedOrigins?: readonly string[];
  /** Largest request body accepted, in bytes. */
  maxBodyBytes?: number;
  /** Client sessions open at once; a new one beyond it gets 503. Unlimited when undefined. */
  maxSessions?: number;
  /** A session with no HTTP request for this long is closed (ms); never when undefined or 0. */
  sessionIdleTimeoutMs?: number;
}

/** Default request body limit: generous for tool arguments, bounded against memory abuse. */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;

/** The SDK's HTTP server side, loaded by the first HTTP request: {@link loadSdk}. */
interface Sdk {
  SSEServerTransport: typeof SSEServerTransport;
  StreamableHTTPServerTransport: typeof StreamableHTTPServerTransport;
  isInitializeRequest: typeof import('@modelcontextprotocol/sdk/types.js').isInitializeRequest;
}

let sdk: Promise<Sdk> | undefined;

/**
 * Loaded on first use: bridges and gateways serve HTTP for clients other than ours (which use
 * the session stream), and the SDK's transports with their zod schemas cost more to load than
 * all the rest of a bridge's start-up.
 */
function loadSdk(): Promise<Sdk> {
  sdk ??= Promise.all([
    import('@modelcontextprotocol/sdk/server/sse.js'),
    import('@modelcontextprotocol/sdk/server/streamableHttp.js'),
    import('@modelcontextprotocol/sdk/types.js'),
  ]).then(([sse, streamable, types]) => ({
    SSEServerTransport: sse.SSEServerTransport,
    StreamableHTTPServerTransport: streamable.StreamableHTTPServerTransport,
    isInitializeRequest: types.isInitializeRequest,
  }));
  return sdk;
}

interface Session {
  transport: StreamableHTTPServerTransport | SSEServerTransport;
  relay: Relay;
  /** HTTP requests of this session in progress (an open SSE stream is one). */
  active: number;
  /** Runs while `active` is 0: closes the session when it fires. */
  idleTimer: NodeJS.Timeout | undefined;
}

/**
 * Standard MCP over HTTP in front of any session opener: streamable HTTP (POST/GET/DELETE,
 * stateful) on every path — `/` as the newest original serves and dials it, `/mcp` as the SDKs
 * do — except the legacy SSE pair `GET /sse` + `POST /message` of v0.1.3 originals.
 * Each client session gets its own server side, relayed message for message.
 */
export class McpHttpEndpoint {
  readonly #options: HttpEndpointOptions;
  readonly #sessions = new Map<string, Session>();
  /** Sessions being opened: they count against maxSessions before they are in #sessions. */
  #opening = 0;
  readonly #allowedOrigins: Set<string> | undefined;
  readonly #stateless: StatelessMultiplexer | undefined;
  /** MCP 2026-07-28 clients (no sessions), made at the first one. */
  #modern: ModernHttpFront | undefined;
  #closing = false;

  constructor(options: HttpEndpointOptions) {
    this.#options = options;
    if (options.stateless === true) {
      this.#stateless = new StatelessMultiplexer(() => options.openSession(randomUUID()), options.logger);
    }
    if (options.allowedHosts !== undefined) {
      this.#allowedOrigins = new Set(
        options.allowedOrigins ?? options.allowedHosts.flatMap((host) => [`http://${host}`, `https://${host}`]),
      );
    }
  }

  /** Number of live client sessions. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Routes one HTTP request: SSE on its two paths, streamable HTTP on any other. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    this.#route(req, res).catch((error: unknown) => {
      this.#options.logger.warn({ err: error }, 'http: request failed');
      if (!res.headersSent) sendJsonRpcError(res, 500, JsonRpcErrorCode.InternalError, 'Internal error');
      else res.end();
    });
  }

  /** Ends every session (and so their server sides). */
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.allSettled([...this.#sessions.values()].map((session) => session.relay.close()));
    await this.#stateless?.close();
    await this.#modern?.close();
    this.#sessions.clear();
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.#hostAllowed(req)) {
      sendJsonRpcError(res, 403, JsonRpcErrorCode.InvalidRequest, 'Forbidden: Host or Origin not allowed');
      return;
    }
    const sdk = await loadSdk();
    const path = (req.url ?? '/').split('?')[0];
    if (this.#closing) {
      sendJsonRpcError(res, 503, JsonRpcErrorCode.InternalError, 'Server is shutting down');
      return;
    }
    if (path === '/sse' && req.method === 'GET') return this.#sseOpen(res, sdk);
    if (path === '/message' && req.method === 'POST') return this.#ssePost(req, res, sdk);
    return this.#stateless === undefined ? this.#streamable(req, res, sdk) : this.#statelessPost(req, res, this.#stateless, sdk);
  }

  #hostAllowed(req: IncomingMessage): boolean {
    const hosts = this.#options.allowedHosts;
    if (hosts === undefined) return true;
    const host = req.headers.host;
    if (host === undefined || !hosts.includes(host.toLowerCase())) return false;
    const origin = req.headers.origin;
    return origin === undefined || (this.#allowedOrigins?.has(origin.toLowerCase()) ?? true);
  }

  async #streamable(req: IncomingMessage, res: ServerResponse, sdk: Sdk): Promise<void> {
    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId === 'string') {
      const session = this.#sessions.get(sessionId);
      if (session === undefined || !(session.transport instanceof sdk.StreamableHTTPServerTransport)) {
        sendJsonRpcError(res, 404, JsonRpcErrorCode.InvalidRequest, 'Session not found');
        return;
      }
      this.#track(session, res);
      const body = req.method === 'POST' ? await this.#readJson(req, res) : undefined;
      if (body === INVALID) return;
      await session.transport.handleRequest(req, res, body);
      return;
    }
    if (req.method !== 'POST') {
      sendJsonRpcError(res, 400, JsonRpcErrorCode.InvalidRequest, 'Bad Request: Mcp-Session-Id header is required');
      return;
    }
    const body = await this.#readJson(req, res);
    if (body === INVALID) return;
    if (isModernPost(req, body)) return this.#modernPost(req, res, body as Record<string, unknown>);
    const messages = Array.isArray(body) ? body : [body];
    if (!messages.some((message) => sdk.isInitializeRequest(message))) {
      sendJsonRpcError(res, 400, JsonRpcErrorCode.InvalidRequest, 'Bad Request: Mcp-Session-Id header is required');
      return;
    }
    if (this.#full(res)) return;
    const label = randomUUID();
    let failure: string | undefined;
    this.#opening += 1;
    const transport = new sdk.StreamableHTTPServerTransport({
      sessionIdGenerator: () => label,
      enableJsonResponse: this.#options.jsonResponse ?? false,
      // Called only for an initialize the SDK accepted (its Accept, Content-Type and batch checks
      // passed): a request it answers 406, 415 or 400 never opens a session to the share.
      onsessioninitialized: async () => {
        failure = await this.#open(label, transport, res);
      },
    });
    // Replaced by the relay once the session is open; until then (and if it never is) a request
    // has nowhere to go but back, with the reason.
    transport.onmessage = (message) => {
      const view = message as RoutingView;
      if (isRequest(view)) void transport.send(errorResponse(view.id as JsonRpcId, JsonRpcErrorCode.InternalError, `Could not open session: ${failure ?? 'not initialized'}`));
    };
    try {
      await transport.handleRequest(req, res, body);
    } finally {
      this.#opening -= 1;
      // Rejected, or its session could not open: nothing stays behind once the answer is out.
      if (!this.#sessions.has(label)) {
        if (res.writableFinished || res.destroyed) await transport.close();
        else res.once('close', () => void transport.close());
      }
    }
  }

  /** Answers 503 when a new session would pass maxSessions. */
  #full(res: ServerResponse): boolean {
    const max = this.#options.maxSessions;
    if (max === undefined || this.#sessions.size + this.#opening < max) return false;
    this.#options.logger.warn({ max }, 'http: session refused: max sessions reached');
    sendJsonRpcError(res, 503, JsonRpcErrorCode.InternalError, `Too many sessions: this endpoint serves at most ${max}; close one (DELETE) or retry later`);
    return true;
  }

  /** Counts `res` as activity of `session` until it closes; the idle timer runs only in between. */
  #track(session: Session, res: ServerResponse): void {
    session.active += 1;
    clearTimeout(session.idleTimer);
    session.idleTimer = undefined;
    res.once('close', () => {
      session.active -= 1;
      this.#armIdle(session);
    });
  }

  #armIdle(session: Session): void {
    const timeout = this.#options.sessionIdleTimeoutMs ?? 0;
    if (timeout <= 0 || session.active > 0 || this.#closing) return;
    clearTimeout(session.idleTimer);
    session.idleTimer = setTimeout(() => {
      this.#options.logger.info({ idleMs: timeout }, 'http: session closed after being idle');
      void session.relay.close();
    }, timeout);
    session.idleTimer.unref();
  }

  async #statelessPost(req: IncomingMessage, res: ServerResponse, mux: StatelessMultiplexer, sdk: Sdk): Promise<void> {
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    const body = await this.#readJson(req, res);
    if (body === INVALID) return;
    if (isModernPost(req, body)) return this.#modernPost(req, res, body as Record<string, unknown>);
    const transport = new sdk.StreamableHTTPServerTransport({ enableJsonResponse: this.#options.jsonResponse ?? false });
    mux.attach(transport);
    res.once('close', () => void transport.close());
    await transport.handleRequest(req, res, body);
  }

  /** A request of the 2026-07-28 era: no session, one shared server side for all such clients. */
  #modernPost(req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>): Promise<void> {
    this.#modern ??= new ModernHttpFront(() => this.#options.openSession(`modern-${randomUUID()}`), this.#options.logger, this.#options.jsonResponse ?? false);
    return this.#modern.handle(req, res, body);
  }

  async #sseOpen(res: ServerResponse, sdk: Sdk): Promise<void> {
    if (this.#full(res)) return;
    const transport = new sdk.SSEServerTransport('/message', res);
    // The stream must not be buffered by proxies (zrok, nginx) or events arrive late.
    res.setHeader('X-Accel-Buffering', 'no');
    this.#opening += 1;
    try {
      const failure = await this.#open(transport.sessionId, transport, res);
      if (failure !== undefined) sendJsonRpcError(res, 502, JsonRpcErrorCode.InternalError, `Could not open session: ${failure}`);
    } finally {
      this.#opening -= 1;
    }
  }

  async #ssePost(req: IncomingMessage, res: ServerResponse, sdk: Sdk): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const session = this.#sessions.get(url.searchParams.get('sessionId') ?? '');
    if (session === undefined || !(session.transport instanceof sdk.SSEServerTransport)) {
      sendJsonRpcError(res, 404, JsonRpcErrorCode.InvalidRequest, 'Session not found');
      return;
    }
    this.#track(session, res);
    const body = await this.#readJson(req, res);
    if (body === INVALID) return;
    await session.transport.handlePostMessage(req, res, body);
  }

  /**
   * Opens the server side and starts relaying; `res` (the request that opened it) is the
   * session's first activity. Resolves with why it could not, else undefined.
   */
  async #open(label: string, transport: StreamableHTTPServerTransport | SSEServerTransport, res: ServerResponse): Promise<string | undefined> {
    let serverSide: Transport;
    try {
      serverSide = await this.#options.openSession(label);
    } catch (error) {
      this.#options.logger.warn({ session: label, err: describeError(error) }, 'http: could not open session');
      return describeError(error);
    }
    const pipe = relay(transport, serverSide, this.#options.logger.child({ session: label }));
    const session: Session = { transport, relay: pipe, active: 0, idleTimer: undefined };
    this.#sessions.set(label, session);
    this.#track(session, res);
    void pipe.closed.then(() => {
      clearTimeout(session.idleTimer);
      this.#sessions.delete(label);
      this.#options.logger.debug({ session: label }, 'http: session closed');
    });
    await serverSide.start();
    await transport.start().catch(() => undefined);
    this.#options.logger.debug({ session: label }, 'http: session opened');
    return undefined;
  }

  /** Reads and parses a JSON body, answering the error itself when it cannot. */
  async #readJson(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const limit = this.#options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) {
        sendJsonRpcError(res, 413, JsonRpcErrorCode.InvalidRequest, `Request body exceeds ${limit} bytes`);
        req.destroy();
        return INVALID;
      }
      chunks.push(chunk);
    }
    try {
      return JSON.parse(Buffer.concat(chunks, size).toString('utf8')) as unknown;
    } catch {
      sendJsonRpcError(res, 400, JsonRpcErrorCode.ParseError, 'Parse error: Invalid JSON');
      return INVALID;
    }
  }
}

const INVALID = Symbol('invalid body');

function sendJsonRpcError(res: ServerResponse, status: number, code: number, message: string): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message } }));
}
