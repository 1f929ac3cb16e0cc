import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { GatewayConfig } from '../config/types.js';
import { describeError, isGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { type JsonRpcId, JsonRpcErrorCode, type RoutingView, checkEnvelope, isRequest, isResponse } from '../mcp/jsonrpc.js';
import type { PassOnTarget } from '../mcp/passthrough.js';
import { type LineTransport, carriesLines } from '../mcp/stream-transport.js';
import type { RawMessage, RawResponse, UpstreamConnection, UpstreamHandlers } from '../mcp/upstream.js';
import { LIST_CHANGED_KINDS, copyCatalogue, relist, type Backend, type BackendCatalogue, type ListKind } from './backend.js';
import { RESOURCE_NOT_FOUND, isResourceNotFound, type Catalogue } from './catalogue.js';
import type { InputClient } from './era-backend.js';
import { ModernClient, type ModernSessionPort } from './era-client.js';
import { MCP_LOG_LEVELS, isModernVersion, readEnvelope } from '../mcp/modern.js';
import type { Metrics } from './metrics.js';
import type { Tracing } from './tracing.js';
import { type CallsPort, SessionCalls } from './session-calls.js';
import { RELATED_TASK, type ResponseHook, SessionTasks } from './tasks.js';

/** Resource URIs one session may be subscribed to at once (each costs the gateway and a backend something). */
export const MAX_SUBSCRIPTIONS = 1024;

/** What a session needs from the gateway that owns it. */
export interface SessionHost {
  readonly config: GatewayConfig;
  readonly logger: Logger;
  /** Counts what sessions do, when an admin listener was asked for. */
  readonly metrics: Metrics | undefined;
  /** Spans for forwarded requests, when OpenTelemetry export was asked for. */
  readonly tracing: Tracing | undefined;
  /** Settles once start-up discovery is done. */
  readonly ready: Promise<void>;
  catalogue(): Catalogue;
  /** True when a session other than `session` is subscribed to `uri`. */
  subscribedElsewhere(uri: string, session: GatewaySession): boolean;
  /** A merged view with what `view` says of each backend (a session's own). */
  buildCatalogue(view: (backend: Backend) => BackendCatalogue | undefined): Catalogue;
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

/** A request we sent the client (a backend's, passed on, or the gateway's own): where its answer goes. */
interface Relayed {
  /** The backend connection that asked, and its id there (none for a request of the gateway's own). */
  connection?: UpstreamConnection;
  upstreamId?: JsonRpcId;
  answer(response: RawResponse): void;
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
  readonly #calls: SessionCalls;
  readonly #relayed = new Map<string, Relayed>();
  /**
   * What this session's own backend processes offer, by backend id, where that was listed from
   * them (at their start, and on their list_changed); the discovery view stands in for the rest.
   */
  readonly #views = new Map<string, BackendCatalogue>();
  /** The merged view built from #views, until one of them (or the gateway's) changes. */
  #catalogue: Catalogue | undefined;
  /** Resource URIs this client subscribed to (a shared backend's updates go to subscribers only). */
  readonly #subscriptions = new Set<string>();
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
  #closeWhenIdle = false;
  readonly #passOnTarget: PassOnTarget;
  /** Set at the first request of an MCP 2026-07-28 client (one that sends no initialize). */
  #era: ModernClient | undefined;
  /** This client, as a modern backend's calls ask it for input (see era-backend.ts). */
  readonly #inputClient: InputClient = {
    // A 2026-07-28 client takes `input_required` as it is; a 2025 one is asked in its own terms.
    takesInputRequired: () => this.#era !== undefined,
    capabilities: () => (this.#clientInit['capabilities'] as Record<string, unknown> | undefined) ?? {},
    ask: (method, params, answer) => this.#askClient(method, params, answer),
  };
  /** `performance.now()` of the last message either way, for the idle timeout. */
  #lastActivity = performance.now();

  constructor(id: string, client: Transport, host: SessionHost) {
    this.id = id;
    this.#client = client;
    this.#stream = carriesLines(client) ? client : undefined;
    this.#host = host;
    this.#logger = host.logger.child({ session: id });
    const stream = this.#stream;
    const sendLine = (parts: Parameters<LineTransport['sendLine']>[0]): void => {
      this.#lastActivity = performance.now();
      if (!this.#closed) stream?.sendLine(parts);
    };
    this.#passOnTarget = { sendLine: stream === undefined ? undefined : sendLine, send: (message) => this.send(message) };
    this.#calls = new SessionCalls(this.#callsPort());
    const calls = this.#calls;
    const routes = { forward: calls.forward.bind(calls), reply: this.#reply.bind(this) };
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
    return this.#calls.size;
  }

  /** For the idle timeout: a request unanswered either way, and when the last message passed. */
  get activity(): { busy: boolean; last: number } {
    return { busy: this.#unanswered > 0 || this.#relayed.size > 0, last: this.#lastActivity };
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
    this.#lastActivity = performance.now();
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
    if (reason !== undefined) this.#calls.answerAll(reason);
    this.#closed = true;
    this.#era?.close();
    const stopping = this.#calls.stop();
    // The client hears the end at once; its backends stop meanwhile (a server that ignores the
    // end of its input takes the stop's grace periods, which are no business of the client's).
    await this.#client.close().catch(() => undefined);
    this.#host.sessionClosed(this);
    await stopping;
  }

  /** Passes a server→client request from a backend on to the client, remembering where to answer. */
  relayRequest(connection: UpstreamConnection, message: RawMessage & { id: JsonRpcId }): void {
    const relayId = `gw-${++this.#nextRelayId}`;
    this.#relayed.set(relayId, { connection, upstreamId: message.id, answer: (response) => connection.respond(message.id, response) });
    if (this.#era !== undefined && !this.#initialized) {
      this.#era.serverRequest(relayId, message, this.#calls.causeOf(connection));
      return;
    }
    this.send({ ...this.#tasks.outbound(connection, message), id: relayId });
  }

  /** Sends the client a request of the gateway's own; the function returned withdraws it. */
  #askClient(method: string, params: Record<string, unknown> | undefined, answer: (response: RawResponse) => void): () => void {
    const relayId = `gw-${++this.#nextRelayId}`;
    this.#relayed.set(relayId, { answer });
    this.send({ jsonrpc: '2.0', id: relayId, method, ...(params === undefined ? {} : { params }) });
    return () => {
      if (this.#relayed.delete(relayId)) this.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: relayId, reason: 'the call was cancelled or timed out' } });
    };
  }

  /**
   * True if a server→client request (or notification) names something of this session on
   * `connection`: one of its tasks (`_meta` related-task) or the progress token of one of its calls.
   */
  caused(connection: UpstreamConnection, message: RawMessage): boolean {
    const meta = (message['params'] as { _meta?: Record<string, unknown> } | undefined)?._meta;
    if (meta === undefined) return false;
    const taskId = (meta[RELATED_TASK] as { taskId?: unknown } | undefined)?.taskId;
    if (typeof taskId === 'string' && this.#tasks.owns(connection, taskId)) return true;
    const token = meta['progressToken'];
    return token !== undefined && this.#calls.sentProgressToken(token);
  }

  /** True if the client subscribed to updates of `uri`. */
  subscribed(uri: string): boolean {
    return this.#subscriptions.has(uri);
  }

  /**
   * A backend cancels a request it made of the client: passed on under the id the client knows,
   * if the request was this session's; true then.
   */
  cancelRelayed(connection: UpstreamConnection, message: RawMessage): boolean {
    const params = (message['params'] as Record<string, unknown> | undefined) ?? {};
    for (const [relayId, relayed] of this.#relayed) {
      if (relayed.connection !== connection || relayed.upstreamId !== params['requestId']) continue;
      this.#relayed.delete(relayId);
      this.send({ ...message, params: { ...params, requestId: relayId } });
      return true;
    }
    return false;
  }

  /** A task status from a shared backend: delivered if the task is this session's; true then. */
  deliverTaskStatus(backend: Backend, connection: UpstreamConnection, message: RawMessage): boolean {
    const mine = this.#tasks.status(backend, connection, message, false);
    if (mine) this.send(message);
    return mine;
  }

  /** Handlers for a connection owned by this session (the one it uses for that backend). */
  #handlersFor(backend: Backend, connection: () => UpstreamConnection | undefined): UpstreamHandlers {
    return {
      onRequest: (message) => {
        const c = connection();
        if (c !== undefined) this.relayRequest(c, message);
      },
      onNotification: (message) => {
        const kind = LIST_CHANGED_KINDS[message.method];
        const c = connection();
        if (kind !== undefined) {
          // This session's process changed what it offers: this session's view alone changes.
          if (c !== undefined) this.#refreshView(backend, c, [kind]);
          return;
        }
        if (message.method === 'notifications/tasks/status' && (c === undefined || !this.#tasks.status(backend, c, message, true))) return;
        if (message.method === 'notifications/cancelled') {
          if (c !== undefined) this.cancelRelayed(c, message);
          return;
        }
        this.send(message);
      },
      onClose: (unexpected) => {
        // Until a new process starts, the discovery view stands in again.
        if (this.#views.delete(backend.id)) this.#catalogue = undefined;
        if (unexpected && !this.#closed) this.#host.backendCrashed(backend);
      },
    };
  }

  #onClientMessage(message: RawMessage): void {
    this.#lastActivity = performance.now();
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
    relayed.answer(error === undefined ? { result: result ?? {} } : { error });
  }

  /** What the modern client's adapter may do with this session. */
  #modernPort(): ModernSessionPort {
    return {
      id: this.id,
      logger: this.#logger,
      callTimeoutMs: this.#host.config.aggregator.callTimeoutMs,
      maxSuspended: this.#host.config.maxConcurrentCalls,
      maxSubscriptions: MAX_SUBSCRIPTIONS,
      post: (message) => this.#post(message),
      answered: () => this.#answered(),
      route: (id, method, params, internal) => {
        if (internal === true) this.#unanswered++;
        this.#routeWhenReady(id, method, params);
      },
      adopt: (init) => (this.#clientInit = init),
      setLogLevel: (level) => void this.#setLevel(undefined, { level }),
      self: () => this.#host.initializeResult('2025-11-25'),
      suspend: (clientId, key) => this.#calls.rekey(clientId, key),
      abandon: (key, reason) => this.#calls.cancel(key, reason),
      answerRelayed: (relayId, response) => this.#answerRelayed(relayId, response),
    };
  }

  /** One request of the client needs no more answer (it was answered, or cancelled). */
  #answered(): void {
    this.#unanswered--;
    if (this.#closeWhenIdle && this.#unanswered === 0) void this.close();
  }

  #onNotification(method: string, params: Record<string, unknown>): void {
    if (method === 'notifications/cancelled') {
      this.#calls.cancel(params['requestId'] as JsonRpcId, params['reason'] ?? 'cancelled by client');
      return;
    }
    if (method === 'notifications/roots/list_changed') {
      for (const told of this.#calls.each((c) => Promise.resolve(c.notify(method, params)))) told.catch(() => undefined);
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
    const catalogue = this.#currentCatalogue();
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
        if (entry === undefined) {
          this.#host.metrics?.refused('unknown_name');
          return this.#fail(id, JsonRpcErrorCode.InvalidParams, `Unknown ${kind === 'tools' ? 'tool' : 'prompt'}: ${name}`);
        }
        if (kind === 'tools') this.#host.countToolCall();
        return this.#calls.forward(id, entry.backend, method, { ...params, name: entry.original }, this.#tasks.augmented(entry.backend, params), name);
      }
      case 'resources/read':
      case 'resources/subscribe':
      case 'resources/unsubscribe': {
        const uri = String(params['uri']);
        if (method === 'resources/subscribe' && !this.#subscriptions.has(uri) && this.#subscriptions.size >= MAX_SUBSCRIPTIONS) {
          this.#host.metrics?.refused('subscription_limit');
          return this.#fail(id, JsonRpcErrorCode.InvalidRequest, `too many resource subscriptions in this session (at most ${MAX_SUBSCRIPTIONS}); unsubscribe from some first`);
        }
        if (method === 'resources/subscribe') this.#subscriptions.add(uri);
        else if (method === 'resources/unsubscribe') this.#subscriptions.delete(uri);
        const backend = catalogue.resolveResource(uri);
        // A shared backend holds one subscription for every session: it stays while any wants it.
        if (method === 'resources/unsubscribe' && backend?.config.isolation === 'shared' && this.#host.subscribedElsewhere(uri, this)) {
          return this.#reply(id, { result: {} });
        }
        if (backend !== undefined) return this.#calls.forward(id, backend, method, params);
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
        if (!MCP_LOG_LEVELS.includes(params['level'] as string)) {
          return this.#fail(id, JsonRpcErrorCode.InvalidParams, `Invalid params: level must be one of ${MCP_LOG_LEVELS.join(', ')}`);
        }
        return void this.#setLevel(id, params);
      default:
        return this.#fail(id, JsonRpcErrorCode.MethodNotFound, `Method not found: ${method}`);
    }
  }

  /** Forwards to the first backend; a not-found answer (unless the last) goes on to the next. */
  #askInTurn(id: JsonRpcId, method: string, params: Record<string, unknown>, backends: readonly Backend[]): void {
    const [first, ...rest] = backends as [Backend, ...Backend[]];
    const next: ResponseHook = (response) => (isResourceNotFound(response) ? () => this.#askInTurn(id, method, params, rest) : undefined);
    this.#calls.forward(id, first, method, params, rest.length === 0 ? undefined : next);
  }

  #complete(id: JsonRpcId, params: Record<string, unknown>, catalogue: Catalogue): void {
    const ref = (params['ref'] as { type?: string; name?: string; uri?: string } | undefined) ?? {};
    if (ref.type === 'ref/prompt') {
      const entry = catalogue.prompts.get(String(ref.name));
      if (entry === undefined) return this.#fail(id, JsonRpcErrorCode.InvalidParams, `Unknown prompt: ${String(ref.name)}`);
      return this.#calls.forward(id, entry.backend, 'completion/complete', { ...params, ref: { ...ref, name: entry.original } });
    }
    const backend = catalogue.resolveTemplate(String(ref.uri));
    if (backend === undefined) return this.#reply(id, { result: { completion: { values: [], hasMore: false } } });
    return this.#calls.forward(id, backend, 'completion/complete', params);
  }

  /** `id` undefined: a modern client's level (from its request's envelope), owed no answer. */
  async #setLevel(id: JsonRpcId | undefined, params: Record<string, unknown>): Promise<void> {
    this.#logLevel = String(params['level']);
    const timeoutMs = this.#host.config.aggregator.callTimeoutMs;
    // Only backends already running hear it now (before a request routed next), the others when
    // they start.
    await Promise.allSettled(this.#calls.each((connection) => connection.request('logging/setLevel', params, { timeoutMs })));
    if (id !== undefined) this.#reply(id, { result: {} });
  }

  /**
   * Backends a reload removed or replaced: their next calls open new connections (to the new
   * backend of that id, if any); the old connections close once the calls they carry are done.
   */
  retireBackends(ids: ReadonlySet<string>): void {
    for (const id of ids) if (this.#views.delete(id)) this.#catalogue = undefined;
    this.#calls.retire(ids);
  }

  /** What this client sees: the gateway's view, with what its own backend processes offer. */
  #currentCatalogue(): Catalogue {
    if (this.#views.size === 0) return this.#host.catalogue();
    return (this.#catalogue ??= this.#host.buildCatalogue((backend) => this.#views.get(backend.id) ?? backend.catalogue));
  }

  /** The gateway's view changed: rebuilt on next use, and the client told. */
  catalogueChanged(kinds: readonly ListKind[]): void {
    this.#catalogue = undefined;
    for (const kind of kinds) this.send({ jsonrpc: '2.0', method: `notifications/${kind}/list_changed` });
  }

  /**
   * Lists `kinds` again from this session's own process of `backend`; when that differs from
   * what the session saw, the session's view takes it and its client is told.
   */
  #refreshView(backend: Backend, connection: UpstreamConnection, kinds: readonly ListKind[]): void {
    const base = this.#views.get(backend.id) ?? backend.catalogue;
    if (base === undefined) return;
    const view = copyCatalogue(base);
    void relist(backend.id, view, connection, kinds, this.#host.config.aggregator.callTimeoutMs, this.#logger).then((changed) => {
      if (this.#closed || changed.length === 0 || connection.closed) return;
      this.#views.set(backend.id, view);
      this.#catalogue = undefined;
      for (const kind of changed) this.send({ jsonrpc: '2.0', method: `notifications/${kind}/list_changed` });
    });
  }

  /** The client initialize parameters, for starting session backends as this client. */
  get clientInit(): Record<string, unknown> {
    return this.#clientInit;
  }

  /** What this session's calls may do with it. */
  #callsPort(): CallsPort {
    const host = this.#host;
    return {
      sessionId: this.id,
      config: host.config,
      logger: this.#logger,
      metrics: host.metrics,
      tracing: host.tracing,
      inputClient: this.#inputClient,
      passOnTarget: this.#passOnTarget,
      open: (backend, handlers) => host.openSessionConnection(backend, this, handlers),
      shared: (backend) => host.sharedConnection(backend),
      claimShared: (backend) => host.claimShared(backend, this),
      handlersFor: (backend, connection) => this.#handlersFor(backend, connection),
      opened: async (backend, connection) => {
        // A server may offer a client something else than discovery saw (by its capabilities, or
        // as it changes at run time): what this process lists replaces the discovery view.
        this.#refreshView(backend, connection, ['tools', 'prompts', 'resources']);
        if (this.#logLevel !== undefined && backend.catalogue?.capabilities['logging'] !== undefined) {
          const timeoutMs = host.config.aggregator.callTimeoutMs;
          await connection.request('logging/setLevel', { level: this.#logLevel }, { timeoutMs }).catch(() => undefined);
        }
      },
      reshapes: () => this.#era !== undefined,
      clientInit: () => this.#clientInit,
      reply: (id, response) => this.#reply(id, response),
      send: (message) => this.send(message),
      answered: () => this.#answered(),
    };
  }
}
