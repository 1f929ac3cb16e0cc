import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../log.js';
import { type JsonRpcId, JsonRpcErrorCode, checkEnvelope } from './jsonrpc.js';
import { LazyUpstream } from './lazy-upstream.js';
import { type ToolHeaders, decodeHeaderValue, keepUsableTools, paramHeaderMismatch } from './modern-headers.js';
import { META, ModernErrorCode, envelopeVersion, isModernVersion } from './modern.js';

type Obj = Record<string, unknown>;

/** One POSTed request waiting for its answer. */
interface Route {
  readonly res: ServerResponse;
  readonly clientId: JsonRpcId;
  readonly method: unknown;
  readonly progressToken: unknown;
  readonly listen: boolean;
  /** The client takes an SSE stream (else one JSON body, and notifications are dropped). */
  readonly sse: boolean;
  /** The SSE stream has begun (headers sent). */
  streaming: boolean;
}

/** Where `Mcp-Name` comes from, per method (2026-07-28 Streamable HTTP, standard headers). */
const NAME_SOURCE: Record<string, string> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' };

/** Errors that a modern server answers with 400 rather than in-band. */
const HTTP_400 = new Set<number>([ModernErrorCode.HeaderMismatch, ModernErrorCode.MissingRequiredClientCapability, ModernErrorCode.UnsupportedProtocolVersion]);

/** True when a POST body belongs to the 2026-07-28 era: a request with a modern envelope, or a notification under a modern version header. */
export function isModernPost(req: IncomingMessage, body: unknown): boolean {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return false;
  const message = body as Obj;
  const version = envelopeVersion(message['params']);
  if (version !== undefined) return isModernVersion(version);
  const header = req.headers['mcp-protocol-version'];
  return message['id'] === undefined && typeof header === 'string' && isModernVersion(header);
}

/**
 * MCP 2026-07-28 over streamable HTTP in front of a session-based server side: every POST is
 * one request (no session id, the `_meta` envelope in the body), all of them multiplexed onto
 * one server-side session opened on first use, with ids rewritten so that clients reusing ids
 * never collide. The answer is one JSON body, or an SSE stream when a request-related
 * notification (progress, log) comes first; `subscriptions/listen` keeps its SSE stream open.
 * Closing a response before its answer cancels the request. The `MCP-Protocol-Version`,
 * `Mcp-Method` and `Mcp-Name` headers must agree with the body (-32020 and 400 otherwise).
 */
export class ModernHttpFront {
  readonly #upstream: LazyUpstream;
  readonly #jsonOnly: boolean;
  readonly #routes = new Map<string, Route>();
  /** The `Mcp-Param-*` declarations of the tools this front has listed, to check calls against. */
  readonly #toolHeaders: ToolHeaders = new Map();
  readonly #logger: Logger;
  #nextId = 0;

  constructor(open: () => Promise<Transport>, logger: Logger, jsonOnly: boolean) {
    this.#logger = logger;
    this.#upstream = new LazyUpstream(open, { message: (upstream, message) => this.#fromServer(upstream, message), closed: () => this.#closed() }, logger);
    this.#jsonOnly = jsonOnly;
  }

  /** Serves one modern POST whose body has been read. */
  async handle(req: IncomingMessage, res: ServerResponse, message: Obj): Promise<void> {
    // What stdio refuses is refused here too (an id null or an object; no method: the client of a
    // stateless front is asked nothing, so it has nothing to answer).
    const problem = checkEnvelope(message) ?? (message['method'] === undefined ? { id: message['id'] as JsonRpcId, code: JsonRpcErrorCode.InvalidRequest, message: 'Invalid Request: no method' } : undefined);
    if (problem !== undefined) {
      writeJson(res, 400, { jsonrpc: '2.0', id: problem.id, error: { code: problem.code, message: problem.message } });
      return;
    }
    const id = message['id'] as JsonRpcId | undefined;
    const mismatch = id === undefined ? undefined : (headerMismatch(req, message) ?? this.#paramMismatch(req, message));
    if (mismatch !== undefined) {
      writeJson(res, 400, { jsonrpc: '2.0', id, error: { code: ModernErrorCode.HeaderMismatch, message: `Bad Request: header mismatch: ${mismatch}` } });
      return;
    }
    if (id === undefined) {
      res.writeHead(202).end();
      // Without sessions, a notifications/cancelled cannot say whose request it names: another
      // client's may have the same id. A modern client cancels by closing the response instead.
      if (message['method'] === 'notifications/cancelled') return;
      await (await this.#upstream.get()).send(message as JSONRPCMessage);
      return;
    }
    const upstream = await this.#upstream.get();
    const wireId = `m-${++this.#nextId}`;
    let params = (message['params'] as Obj | undefined) ?? {};
    const meta = params['_meta'] as Obj | undefined;
    const progressToken = meta?.['progressToken'];
    // Clients choose progress tokens as they choose ids: the wire carries ours, unique as the id.
    if (progressToken !== undefined) params = { ...params, _meta: { ...meta, progressToken: wireId } };
    const accept = req.headers.accept ?? '';
    const route: Route = {
      res,
      clientId: id,
      method: message['method'],
      progressToken,
      listen: message['method'] === 'subscriptions/listen',
      sse: !this.#jsonOnly && accept.includes('text/event-stream'),
      streaming: false,
    };
    this.#routes.set(wireId, route);
    // A response closed before its answer is the client cancelling (2026-07-28 has no other way over HTTP).
    res.once('close', () => {
      if (this.#routes.get(wireId) !== route) return;
      this.#routes.delete(wireId);
      void upstream.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: wireId, reason: 'the HTTP response was closed' } }).catch(() => undefined);
    });
    await upstream.send({ ...message, id: wireId, params } as JSONRPCMessage);
  }

  /**
   * What disagrees between a tools/call's `Mcp-Param-*` headers and its arguments, for a tool this
   * front listed with declarations (a tool it has not listed is taken as it comes: the backend
   * checks the headers the gateway makes from the arguments).
   */
  #paramMismatch(req: IncomingMessage, message: Obj): string | undefined {
    if (message['method'] !== 'tools/call') return undefined;
    const params = (message['params'] as Obj | undefined) ?? {};
    const declared = typeof params['name'] === 'string' ? this.#toolHeaders.get(params['name']) : undefined;
    if (declared === undefined) return undefined;
    return paramHeaderMismatch(declared, params['arguments'], (name) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value.join(', ') : value;
    });
  }

  /** Ends the server-side session; open requests get an error. */
  close(): Promise<void> {
    return this.#upstream.close();
  }

  /** The server side closed: every request still open is answered with an error. */
  #closed(): void {
    for (const [wireId, route] of this.#routes) {
      this.#routes.delete(wireId);
      this.#write(route, { jsonrpc: '2.0', id: route.clientId, error: { code: JsonRpcErrorCode.ConnectionClosed, message: 'server session closed' } }, true);
    }
  }

  #fromServer(upstream: Transport, message: Obj): void {
    const id = message['id'] as JsonRpcId | undefined;
    if (message['method'] === undefined && id !== undefined) {
      const route = this.#routes.get(String(id));
      if (route === undefined) return;
      this.#routes.delete(String(id));
      // Tools a conforming client would leave out (warning its user) are left out here.
      const result = message['result'] as Obj | undefined;
      if (route.method === 'tools/list' && result !== undefined) keepUsableTools(result, this.#toolHeaders, this.#logger, 'debug');
      this.#write(route, this.#forClient(message, String(id), route), true);
      return;
    }
    if (message['method'] !== undefined && id !== undefined) {
      // The era adapter embeds server requests in results; one reaching us has nowhere to go.
      void upstream.send({ jsonrpc: '2.0', id, error: { code: JsonRpcErrorCode.MethodNotFound, message: 'the client is connected over stateless HTTP and cannot answer server requests' } }).catch(() => undefined);
      return;
    }
    const params = (message['params'] as Obj | undefined) ?? {};
    const subscription = (params['_meta'] as Obj | undefined)?.[META.subscriptionId];
    const wireId = typeof subscription === 'string' ? subscription : this.#relatedTo(params);
    const route = wireId === undefined ? undefined : this.#routes.get(wireId);
    if (wireId === undefined || route === undefined || !route.sse) return;
    this.#write(route, this.#forClient(message, wireId, route), false);
  }

  /**
   * The open request a request-related notification belongs to: by progress token (the wire id);
   * else (a log line, which names no request) the only one open. With several open, which one
   * caused it is not known, and the requests may be different clients': it is dropped rather
   * than guessed.
   */
  #relatedTo(params: Obj): string | undefined {
    const token = params['progressToken'];
    if (token !== undefined) return typeof token === 'string' && this.#routes.get(token)?.listen === false ? token : undefined;
    let only: string | undefined;
    let open = 0;
    for (const [wireId, route] of this.#routes) {
      if (route.listen) continue;
      only = wireId;
      open++;
    }
    return open === 1 ? only : undefined;
  }

  /** The message with the client's own id and progress token, also where it names the subscription. */
  #forClient(message: Obj, wireId: string, route: Route): Obj {
    const out: Obj = message['id'] === undefined ? { ...message } : { ...message, id: route.clientId };
    const params = out['params'] as Obj | undefined;
    if (params?.['progressToken'] === wireId) out['params'] = { ...params, progressToken: route.progressToken };
    for (const field of ['params', 'result'] as const) {
      const body = out[field] as Obj | undefined;
      const meta = body?.['_meta'] as Obj | undefined;
      if (meta?.[META.subscriptionId] === wireId) out[field] = { ...body, _meta: { ...meta, [META.subscriptionId]: route.clientId } };
    }
    return out;
  }

  #write(route: Route, message: Obj, last: boolean): void {
    const { res } = route;
    if (res.writableEnded) return;
    if (!route.streaming) {
      if (last) {
        const code = (message['error'] as { code?: number } | undefined)?.code;
        writeJson(res, code !== undefined && HTTP_400.has(code) ? 400 : 200, message);
        return;
      }
      route.streaming = true;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', 'x-accel-buffering': 'no' });
    }
    res.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
    if (last) res.end();
  }
}

/** What disagrees between the standard headers and the body, if anything. */
function headerMismatch(req: IncomingMessage, message: Obj): string | undefined {
  const version = req.headers['mcp-protocol-version'];
  const claimed = envelopeVersion(message['params']);
  if (typeof version !== 'string') return 'the MCP-Protocol-Version header is missing';
  if (claimed !== undefined && version !== claimed) return `MCP-Protocol-Version ${version} but the body's _meta names ${claimed}`;
  const method = req.headers['mcp-method'];
  if (typeof method !== 'string') return 'the Mcp-Method header is missing';
  if (method !== message['method']) return `Mcp-Method ${method} but the body's method is ${String(message['method'])}`;
  const source = NAME_SOURCE[method];
  const value = source === undefined ? undefined : ((message['params'] as Obj | undefined) ?? {})[source];
  if (typeof value !== 'string') return undefined;
  const name = req.headers['mcp-name'];
  if (typeof name !== 'string') return 'the Mcp-Name header is missing';
  const decoded = decodeHeaderValue(name.trim());
  if (decoded !== value) return `Mcp-Name ${name} but the body's params.${source} is ${value}`;
  return undefined;
}

function writeJson(res: ServerResponse, status: number, message: Obj): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(message));
}
