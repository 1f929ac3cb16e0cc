import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { GatewayConfig } from '../config/types.js';
import { GatewayError, describeError, isGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { type JsonRpcId, JsonRpcErrorCode, type RoutingView, checkEnvelope, isRequest, isResponse } from '../mcp/jsonrpc.js';
import { PassThroughResponse, type PassOnTarget, passOn } from '../mcp/passthrough.js';
import { type LineTransport, carriesLines } from '../mcp/stream-transport.js';
import { Cancellation, type RawMessage, type RawResponse, type RequestOptions, type UpstreamConnection, type UpstreamHandlers, upstreamErrorResponse } from '../mcp/upstream.js';
import { LIST_CHANGED_KINDS, type Backend, type ListKind } from './backend.js';
import { RESOURCE_NOT_FOUND, isResourceNotFound, type Catalogue } from './catalogue.js';
import { logCall } from './call-log.js';
import { ModernClient, type ModernSessionPort } from './era-client.js';
import { isModernVersion, readEnvelope } from '../mcp/modern.js';
import { type ResponseHook, SessionTasks } from './tasks.js';

/** What a session needs from the gateway that owns it. */
export interface SessionHost {
  readonly config: GatewayConfig;
  readonly logger: Logger;
  /** Settles once start-up discovery is done. */
  readonly ready: Promise<void>;
  catalogue(): Catalogue;
  /** The gateway's own answer to `initialize`. */
  initializeResult(protocolVersion: string): Record<string, unknown>;
  /** Opens a backend connection for this session (isolation: session). */
  openSessionConnection(backend: Backend, session: GatewaySession, handlers: UpstreamHandlers): Promise<UpstreamConnection>;
  /** The one connection all sessions share (isolation: shared). */
  sharedConnection(backend: Backend): Promise<UpstreamConnection>;
  /** A backend told us one of its lists changed. */
  listChanged(backend: Backend, connection: UpstreamConnection, kind: ListKind): void;
  /** Marks this session as waiting on a shared backend (for routing its server→client requests). */
  claimShared(backend: Backend, session: GatewaySession): () => void;
  sessionClosed(session: GatewaySession): void;
  /** Counts a tools/call forwarded to a backend (managed mode heartbeats report it). */
  countToolCall(): void;
  /** A connection to the backend went away without us closing it. */
  backendCrashed(backend: Backend): void;
}

/** A request the client made and a backend is working on. */
interface InFlight {
  /** The client's id for it (ours while a modern client's call waits for its input: era-client.ts). */
  id: JsonRpcId;
  readonly backend: Backend;
  readonly method: string;
  /** As sent to the backend (names already mapped back to the backend's own). */
  readonly params: Record<string, unknown>;
  /** The name the client used (tools/call), for the call log. */
  readonly name: string | undefined;
  readonly started: number;
  readonly cancellation: Cancellation;
  readonly options: RequestOptions;
  /** Ends the claim on a shared backend. */
  readonly release: (() => void) | undefined;
  /** Sees the parsed answer before the client does (task ids mapped, next backend tried). */
  readonly hook: ResponseHook | undefined;
  /** Set once the request was sent again on a new backend session. */
  retried: boolean;
  /** Set once the client got its answer (or needs none). */
  settled: boolean;
}

/** A server→client request we passed on, to route the client's answer back. */
interface Relayed {
  connection: UpstreamConnection;
  upstreamId: JsonRpcId;
}


/**
 * One client of the gateway. Answers what the gateway knows itself (initialize, lists, ping),
 * routes everything else to the backend that owns the name, starting session backends on first
 * use, and carries server→client requests, progress and cancellation back and forth with ids
 * and tokens rewritten so that sessions never see each other's traffic.
 */
export class GatewaySession {
  readonly id: string;
  readonly #client: Transport;
  /** The client's transport again when it carries lines (all but the HTTP front's). */
  readonly #stream: LineTransport | undefined;
  readonly #host: SessionHost;
  readonly #logger: Logger;
  readonly #connections = new Map<string, Promise<UpstreamConnection>>();
  readonly #inFlight = new Map<JsonRpcId, InFlight>();
  readonly #relayed = new Map<string, Relayed>();
  readonly #tasks: SessionTasks;
  #nextRelayId = 0;
  #clientInit: Record<string, unknown> = {};
  #logLevel: string | undefined;
  #initialized = false;
  #closed = false;
  #closing = false;
  /** Requests received and not yet answered, whether a backend has them or not. */
  #unanswered = 0;
  /** Set once the host's start-up discovery has settled: later requests need not wait for it. */
  #hostReady = false;
  /** Connections already open, by backend id, so a call to one does not wait on a promise. */
  readonly #open = new Map<string, UpstreamConnection>();
  #closeWhenIdle = false;
  readonly #passOnTarget: PassOnTarget;
  /** Set at the first request of an MCP 2026-07-28 client (one that sends no initialize). */
  #era: ModernClient | undefined;

  constructor(id: string, client: Transport, host: SessionHost) {
    this.id = id;
    this.#client = client;
    this.#stream = carriesLines(client) ? client : undefined;
    this.#host = host;
    this.#logger = host.logger.child({ session: id });
    const stream = this.#stream;
    this.#passOnTarget = { sendLine: stream === undefined ? undefined : (parts) => void (this.#closed || stream.sendLine(parts)), send: (message) => this.send(message) };
    const routes = { forward: this.#forward.bind(this), reply: this.#reply.bind(this) };
    this.#tasks = new SessionTasks(routes, host.config.aggregator.callTimeoutMs);
  }

  /** Starts serving the client. */
  async start(): Promise<void> {
    this.#client.onmessage = (message) => this.#onClientMessage(message);
    this.#client.onclose = () => void this.close();
    this.#client.onerror = (error) => {
      // A bound reached (the client leaves too much unread) closes the session: say why.
      if (isGatewayError(error, 'LIMIT_EXCEEDED')) this.#logger.warn({ err: error.message }, 'closing the session');
      else this.#logger.debug({ err: error.message }, 'client transport error');
    };
    await this.#client.start();
  }

  /** Requests of this client a backend is still working on. */
  get busy(): number {
    return this.#inFlight.size;
  }

  /** Sends a message to the client. */
  send(message: Record<string, unknown>): void {
    if (this.#closed) return;
    if (this.#era !== undefined) {
      const shaped = this.#era.outbound(message);
      if (shaped === undefined) return;
      this.#post(shaped);
      return;
    }
    this.#post(message);
  }

  /** Writes to the client as it is. */
  #post(message: Record<string, unknown>): void {
    if (this.#closed) return;
    if (this.#stream !== undefined) this.#stream.post(message as unknown as JSONRPCMessage);
    else this.#client.send(message as unknown as JSONRPCMessage).catch(() => undefined);
  }

  /** The client sends no more (its stdin ended): close once every request it made is answered. */
  closeWhenIdle(): void {
    this.#closeWhenIdle = true;
    this.#era?.clientEnded();
    if (this.#unanswered === 0) void this.close();
  }

  /**
   * Ends the session and every backend connection it started. With a `reason` (the gateway is
   * stopping, not the client leaving), requests still in flight are answered with it first.
   */
  async close(reason?: string): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const calls = [...this.#inFlight.values()];
    if (reason !== undefined) for (const call of calls) this.#settle(call, new GatewayError('UPSTREAM_CLOSED', reason));
    this.#closed = true;
    this.#era?.close();
    // The backends stop working on them (and, shared ones, send no answer to a session gone).
    for (const call of calls) call.cancellation.abort('client left');
    const connections = [...this.#connections.values()];
    this.#connections.clear();
    this.#open.clear();
    await Promise.allSettled(connections.map(async (c) => (await c).close()));
    await this.#client.close().catch(() => undefined);
    this.#host.sessionClosed(this);
  }

  /** Passes a server→client request from a backend on to the client, remembering where to answer. */
  relayRequest(connection: UpstreamConnection, message: RawMessage & { id: JsonRpcId }): void {
    const relayId = `gw-${++this.#nextRelayId}`;
    this.#relayed.set(relayId, { connection, upstreamId: message.id });
    if (this.#era !== undefined && !this.#initialized) {
      this.#era.serverRequest(relayId, message, this.#causeOf(connection));
      return;
    }
    this.send({ ...this.#tasks.outbound(connection, message), id: relayId });
  }

  /** A task status from a shared backend: delivered if the task is this session's; true then. */
  deliverTaskStatus(backend: Backend, connection: UpstreamConnection, message: RawMessage): boolean {
    const mine = this.#tasks.status(backend, connection, message, false);
    if (mine) this.send(message);
    return mine;
  }

  /** Handlers for a connection owned by this session. */
  handlersFor(backend: Backend, connection: () => UpstreamConnection | undefined): UpstreamHandlers {
    return {
      onRequest: (message) => {
        const c = connection();
        if (c !== undefined) this.relayRequest(c, message);
      },
      onNotification: (message) => {
        const kind = LIST_CHANGED_KINDS[message.method];
        const c = connection();
        if (kind !== undefined) {
          if (c !== undefined) this.#host.listChanged(backend, c, kind);
          return;
        }
        if (message.method === 'notifications/tasks/status' && (c === undefined || !this.#tasks.status(backend, c, message, true))) return;
        this.send(message);
      },
      onClose: (unexpected) => {
        this.#connections.delete(backend.id);
        if (unexpected && !this.#closed) this.#host.backendCrashed(backend);
      },
    };
  }

  #onClientMessage(message: RawMessage): void {
    const problem = checkEnvelope(message);
    if (problem !== undefined) {
      this.send({ jsonrpc: '2.0', id: problem.id, error: { code: problem.code, message: problem.message } });
      return;
    }
    const view = message as RoutingView;
    const params = (message['params'] as Record<string, unknown> | undefined) ?? {};
    if (isRequest(view)) {
      this.#unanswered++;
      // A request with the 2026-07-28 envelope, from a client that did not initialize, is the modern era's.
      const envelope = this.#initialized ? undefined : readEnvelope(params);
      if (envelope !== undefined && isModernVersion(envelope.version)) {
        const era = (this.#era ??= new ModernClient(this.#modernPort()));
        this.#guarded((id, method) => era.request(id, method, params, envelope), view.id as JsonRpcId, String(view.method), params);
        return;
      }
      this.#guarded(this.#onRequest, view.id as JsonRpcId, String(view.method), params);
      return;
    }
    if (isResponse(view)) {
      this.#answerRelayed(String(view.id), message as RawResponse);
      return;
    }
    const notified = this.#era === undefined ? params : this.#era.notification(String(view.method), params);
    if (notified !== undefined) this.#onNotification(String(view.method), notified);
  }

  /** The client's answer to a server→client request we relayed goes to the backend that asked. */
  #answerRelayed(relayId: string, { result, error }: RawResponse): void {
    const relayed = this.#relayed.get(relayId);
    if (relayed === undefined) return;
    this.#relayed.delete(relayId);
    this.#tasks.inbound(result);
    relayed.connection.respond(relayed.upstreamId, error === undefined ? { result: result ?? {} } : { error });
  }

  /** What the modern client's adapter may do with this session. */
  #modernPort(): ModernSessionPort {
    return {
      id: this.id,
      logger: this.#logger,
      callTimeoutMs: this.#host.config.aggregator.callTimeoutMs,
      maxSuspended: this.#host.config.maxConcurrentCalls,
      post: (message) => this.#post(message),
      answered: () => this.#answered(),
      route: (id, method, params, internal) => {
        if (internal === true) this.#unanswered++;
        this.#routeWhenReady(id, method, params);
      },
      adopt: (init) => (this.#clientInit = init),
      setLogLevel: (level) => void this.#setLevel(undefined, { level }),
      self: () => this.#host.initializeResult('2025-11-25'),
      suspend: (clientId, key) => {
        const call = this.#inFlight.get(clientId);
        if (call === undefined || call.settled) return false;
        this.#inFlight.delete(clientId);
        call.id = key;
        this.#inFlight.set(key, call);
        return true;
      },
      abandon: (key, reason) => this.#inFlight.get(key)?.cancellation.abort(reason),
      answerRelayed: (relayId, response) => this.#answerRelayed(relayId, response),
    };
  }

  /**
   * The newest call of this session in flight on `connection`: what caused the backend's request.
   * A backend asks things while it starts too (roots after initialize), before its connection is
   * known here: then a call waiting for a backend to start is the cause.
   */
  #causeOf(connection: UpstreamConnection): JsonRpcId | undefined {
    let cause: JsonRpcId | undefined;
    let starting: JsonRpcId | undefined;
    for (const call of this.#inFlight.values()) {
      if (call.settled) continue;
      const open = this.#open.get(call.backend.id);
      if (open === connection) cause = call.id;
      else if (open === undefined) starting = call.id;
    }
    return cause ?? starting;
  }

  /** One request of the client needs no more answer (it was answered, or cancelled). */
  #answered(): void {
    this.#unanswered--;
    if (this.#closeWhenIdle && this.#unanswered === 0) void this.close();
  }

  #onNotification(method: string, params: Record<string, unknown>): void {
    if (method === 'notifications/cancelled') {
      this.#inFlight.get(params['requestId'] as JsonRpcId)?.cancellation.abort(params['reason'] ?? 'cancelled by client');
      return;
    }
    if (method === 'notifications/roots/list_changed') {
      for (const connection of this.#connections.values()) void connection.then((c) => c.notify(method, params), () => undefined);
    }
  }

  /** The answer to a request of the client. */
  #reply(id: JsonRpcId, response: RawResponse): void {
    this.send({ jsonrpc: '2.0', id, ...response });
    this.#answered();
  }

  #fail(id: JsonRpcId, code: number, message: string): void {
    this.#reply(id, { error: { code, message } });
  }

  #onRequest(id: JsonRpcId, method: string, params: Record<string, unknown>): void {
    if (method === 'initialize') {
      this.#initialized = true;
      this.#clientInit = params;
      const requested = typeof params['protocolVersion'] === 'string' ? params['protocolVersion'] : '2025-06-18';
      this.#reply(id, { result: this.#host.initializeResult(requested) });
      return;
    }
    if (method === 'ping') {
      this.#reply(id, { result: {} });
      return;
    }
    if (!this.#initialized) {
      this.#fail(id, JsonRpcErrorCode.InvalidRequest, 'Invalid Request: the session is not initialized (send initialize first)');
      return;
    }
    this.#routeWhenReady(id, method, params);
  }

  #routeWhenReady(id: JsonRpcId, method: string, params: Record<string, unknown>): void {
    if (this.#hostReady) {
      this.#route(id, method, params);
      return;
    }
    void this.#host.ready.then(() => {
      this.#hostReady = true;
      this.#guarded(this.#route, id, method, params);
    });
  }

  /** Runs a request handler; should it throw (a bug of ours), the client still gets an answer. */
  #guarded(handler: (id: JsonRpcId, method: string, params: Record<string, unknown>) => void, id: JsonRpcId, method: string, params: Record<string, unknown>): void {
    try {
      handler.call(this, id, method, params);
    } catch (error) {
      this.#logger.error({ method, err: describeError(error) }, 'request failed');
      this.#fail(id, JsonRpcErrorCode.InternalError, `Internal error: ${describeError(error)}`);
    }
  }

  /** Answers or forwards a request once start-up discovery is done. */
  #route(id: JsonRpcId, method: string, params: Record<string, unknown>): void {
    const catalogue = this.#host.catalogue();
    switch (method) {
      case 'tools/list':
        return this.#reply(id, { result: { tools: catalogue.list('tools') } });
      case 'prompts/list':
        return this.#reply(id, { result: { prompts: catalogue.list('prompts') } });
      case 'resources/list':
        return this.#reply(id, { result: { resources: catalogue.list('resources') } });
      case 'resources/templates/list':
        return this.#reply(id, { result: { resourceTemplates: catalogue.list('resourceTemplates') } });
      case 'tools/call':
      case 'prompts/get': {
        const kind = method === 'tools/call' ? 'tools' : 'prompts';
        const name = String(params['name']);
        const entry = catalogue[kind].get(name);
        if (entry === undefined) return this.#fail(id, JsonRpcErrorCode.InvalidParams, `Unknown ${kind === 'tools' ? 'tool' : 'prompt'}: ${name}`);
        if (kind === 'tools') this.#host.countToolCall();
        return this.#forward(id, entry.backend, method, { ...params, name: entry.original }, this.#tasks.augmented(entry.backend, params), name);
      }
      case 'resources/read':
      case 'resources/subscribe':
      case 'resources/unsubscribe': {
        const uri = String(params['uri']);
        const backend = catalogue.resolveResource(uri);
        if (backend !== undefined) return this.#forward(id, backend, method, params);
        // Listed by nobody: the backends that offer resources (and whose filter lets it by) are asked in turn.
        const candidates = catalogue.resourceBackends.filter((b) => b.filters.resources(uri));
        if (candidates.length === 0) return this.#fail(id, RESOURCE_NOT_FOUND, `Resource not found: ${uri}`);
        return this.#askInTurn(id, method, params, candidates);
      }
      case 'completion/complete':
        return this.#complete(id, params, catalogue);
      case 'tasks/get':
      case 'tasks/result':
      case 'tasks/cancel':
      case 'tasks/list':
        // Without a backend that does tasks, the gateway does not either.
        if (!catalogue.tasks) return this.#fail(id, JsonRpcErrorCode.MethodNotFound, `Method not found: ${method}`);
        return this.#tasks.route(id, method, params);
      case 'logging/setLevel':
        return void this.#setLevel(id, params);
      default:
        return this.#fail(id, JsonRpcErrorCode.MethodNotFound, `Method not found: ${method}`);
    }
  }

  /** Forwards to the first backend; a not-found answer (unless the last) goes on to the next. */
  #askInTurn(id: JsonRpcId, method: string, params: Record<string, unknown>, backends: readonly Backend[]): void {
    const [first, ...rest] = backends as [Backend, ...Backend[]];
    const next: ResponseHook = (response) => (isResourceNotFound(response) ? () => this.#askInTurn(id, method, params, rest) : undefined);
    this.#forward(id, first, method, params, rest.length === 0 ? undefined : next);
  }

  #complete(id: JsonRpcId, params: Record<string, unknown>, catalogue: Catalogue): void {
    const ref = (params['ref'] as { type?: string; name?: string; uri?: string } | undefined) ?? {};
    if (ref.type === 'ref/prompt') {
      const entry = catalogue.prompts.get(String(ref.name));
      if (entry === undefined) return this.#fail(id, JsonRpcErrorCode.InvalidParams, `Unknown prompt: ${String(ref.name)}`);
      return this.#forward(id, entry.backend, 'completion/complete', { ...params, ref: { ...ref, name: entry.original } });
    }
    const backend = catalogue.resolveTemplate(String(ref.uri));
    if (backend === undefined) return this.#reply(id, { result: { completion: { values: [], hasMore: false } } });
    return this.#forward(id, backend, 'completion/complete', params);
  }

  /** `id` undefined: a modern client's level (from its request's envelope), owed no answer. */
  async #setLevel(id: JsonRpcId | undefined, params: Record<string, unknown>): Promise<void> {
    this.#logLevel = String(params['level']);
    const timeoutMs = this.#host.config.aggregator.callTimeoutMs;
    // Only backends already running hear it now; the others get it when they start.
    const connections = [...this.#connections.values()];
    await Promise.allSettled(
      connections.map(async (pending) => {
        const connection = await pending;
        await connection.request('logging/setLevel', params, { timeoutMs });
      }),
    );
    if (id !== undefined) this.#reply(id, { result: {} });
  }

  /** The connection this session uses for a backend, starting a session backend on first use. */
  #connection(backend: Backend): Promise<UpstreamConnection> {
    if (backend.config.isolation === 'shared') return this.#host.sharedConnection(backend);
    let pending = this.#connections.get(backend.id);
    if (pending === undefined) {
      let opened: UpstreamConnection | undefined;
      const handlers = this.handlersFor(backend, () => opened);
      pending = this.#host.openSessionConnection(backend, this, handlers).then(async (connection) => {
        opened = connection;
        if (this.#logLevel !== undefined && backend.catalogue?.capabilities['logging'] !== undefined) {
          await connection.request('logging/setLevel', { level: this.#logLevel }, { timeoutMs: this.#host.config.aggregator.callTimeoutMs }).catch(() => undefined);
        }
        return connection;
      });
      this.#connections.set(backend.id, pending);
      pending.catch(() => this.#connections.delete(backend.id));
    }
    return pending;
  }

  /** The client initialize parameters, for starting session backends as this client. */
  get clientInit(): Record<string, unknown> {
    return this.#clientInit;
  }

  /**
   * Sends a request on to a backend and its answer back to the client. Callbacks, not promises,
   * all the way: with the backend's connection open, the answer leaves in the same turn of the
   * event loop as it arrived.
   */
  #forward(id: JsonRpcId, backend: Backend, method: string, params: Record<string, unknown>, hook?: ResponseHook, name?: string): void {
    const limit = this.#host.config.maxConcurrentCalls;
    if (this.#inFlight.size >= limit) {
      this.#fail(id, JsonRpcErrorCode.ConnectionClosed, `too many concurrent requests in this session (max_concurrent_calls: ${limit})`);
      return;
    }
    const cancellation = new Cancellation();
    const clientToken = (params['_meta'] as { progressToken?: unknown } | undefined)?.progressToken;
    // A hook needs the answer parsed (a large one is not a not-found error: resources pass it through).
    // A modern client's answers are reshaped (src/gateway/era-client.ts): they must be parsed.
    const passThrough = this.#era === undefined && (hook === undefined || method === 'resources/read');
    const options: RequestOptions = { timeoutMs: this.#host.config.aggregator.callTimeoutMs, cancellation, passThrough };
    if (clientToken !== undefined) {
      options.onProgress = (notification) => this.send({ ...notification, params: { ...notification.params, progressToken: clientToken } });
    }
    const call: InFlight = {
      id,
      backend,
      method,
      params,
      name,
      started: performance.now(),
      cancellation,
      options,
      release: backend.config.isolation === 'shared' ? this.#host.claimShared(backend, this) : undefined,
      hook,
      retried: false,
      settled: false,
    };
    this.#inFlight.set(id, call);
    if (backend.unavailable !== undefined) {
      this.#settle(call, new GatewayError('UPSTREAM_UNAVAILABLE', `backend '${backend.id}' is unavailable (${backend.unavailable}); it is being restarted in the background`));
      return;
    }
    this.#dispatch(call);
  }

  /** Sends the call on the backend's open connection, opening one first if needed. */
  #dispatch(call: InFlight): void {
    const open = this.#open.get(call.backend.id);
    if (open !== undefined && !open.closed) {
      this.#send(call, open);
      return;
    }
    this.#connection(call.backend).then(
      (connection) => {
        this.#open.set(call.backend.id, connection);
        this.#send(call, connection);
      },
      (error: unknown) => this.#settle(call, error instanceof Error ? error : new Error(String(error))),
    );
  }

  #send(call: InFlight, connection: UpstreamConnection): void {
    if (call.cancellation.aborted) {
      this.#settle(call, new GatewayError('UPSTREAM_CLOSED', 'cancelled'));
      return;
    }
    connection.call(call.method, call.params, call.options, (outcome) => {
      if (!call.retried && isGatewayError(outcome, 'UPSTREAM_SESSION_LOST')) {
        // The server restarted and forgot us: initialize a new session and ask once more.
        this.#logger.info({ backend: call.backend.id }, 'backend lost the session; re-initializing');
        call.retried = true;
        connection.close().catch(() => undefined);
        this.#connections.delete(call.backend.id);
        this.#open.delete(call.backend.id);
        this.#dispatch(call);
        return;
      }
      const instead = call.hook !== undefined && !(outcome instanceof Error) && !(outcome instanceof PassThroughResponse) ? call.hook(outcome, connection) : undefined;
      if (instead === undefined) return this.#settle(call, outcome);
      // Dropped unanswered: the continuation answers the client.
      call.settled = true;
      if (this.#inFlight.get(call.id) === call) this.#inFlight.delete(call.id);
      call.release?.();
      instead();
    });
  }

  /** The call is over: answer the client (unless it cancelled) and log it. */
  #settle(call: InFlight, outcome: RawResponse | PassThroughResponse | Error): void {
    // Already over: the gateway is stopping and told the client so.
    if (call.settled) return;
    call.settled = true;
    // A client may reuse an id while the first request runs; each gets its answer.
    if (this.#inFlight.get(call.id) === call) this.#inFlight.delete(call.id);
    call.release?.();
    let result: string;
    if (call.cancellation.aborted) {
      result = 'cancelled'; // the client asked for it: no answer is due
      this.#answered();
    } else if (outcome instanceof Error) {
      result = describeError(outcome);
      this.#reply(call.id, upstreamErrorResponse(outcome));
    } else if (outcome instanceof PassThroughResponse) {
      result = passOn(outcome, call.id, this.#passOnTarget);
      this.#answered();
    } else {
      result = outcome.error !== undefined ? 'error' : outcome.result?.['isError'] === true ? 'tool_error' : 'ok';
      // The backend's own message, passed on with the client's id in place of ours.
      (outcome as RawMessage)['id'] = call.id;
      this.send(outcome as RawMessage);
      this.#answered();
    }
    if (call.name !== undefined || call.method === 'prompts/get' || call.method === 'resources/read') {
      const name = call.name ?? String(call.params['uri'] ?? call.params['name']);
      logCall(this.#logger, this.#host.config.logArguments, { ...call, name, backend: call.backend.id, outcome: result });
    }
  }
}
