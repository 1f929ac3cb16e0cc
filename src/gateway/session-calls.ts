import type { GatewayConfig } from '../config/types.js';
import { GatewayError, describeError, isGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { type JsonRpcId, JsonRpcErrorCode } from '../mcp/jsonrpc.js';
import { PassThroughResponse, type PassOnTarget, passOn } from '../mcp/passthrough.js';
import { Cancellation, type RawMessage, type RawResponse, type RequestOptions, type UpstreamConnection, type UpstreamHandlers, upstreamErrorResponse } from '../mcp/upstream.js';
import type { Backend } from './backend.js';
import { type CallRecord, logCall } from './call-log.js';
import { type InputClient, callWithInput } from './era-backend.js';
import type { Metrics } from './metrics.js';
import { isPolicyRefusal } from './path-policy.js';
import type { ResponseHook } from './tasks.js';
import type { CallTrace, Tracing } from './tracing.js';

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
  /** Its spans, when tracing. */
  readonly trace: CallTrace | undefined;
}

/** A connection a reload retired, and the calls it still carries. */
interface Draining {
  calls: Set<InFlight>;
  close: () => void;
}

/** What the calls of one session need from the session and its gateway. */
export interface CallsPort {
  readonly sessionId: string;
  readonly config: GatewayConfig;
  readonly logger: Logger;
  readonly metrics: Metrics | undefined;
  readonly tracing: Tracing | undefined;
  /** The client, as a modern backend's calls ask it for input. */
  readonly inputClient: InputClient;
  /** Where an answer passed through unparsed is written. */
  readonly passOnTarget: PassOnTarget;
  /** Starts this session's own process of a backend (isolation: session). */
  open(backend: Backend, handlers: UpstreamHandlers): Promise<UpstreamConnection>;
  /** The one connection all sessions share (isolation: shared). */
  shared(backend: Backend): Promise<UpstreamConnection>;
  /** Marks the session as waiting on a shared backend; the function returned ends that. */
  claimShared(backend: Backend): () => void;
  /** Handlers for a connection of the session's own, which `connection` returns once open. */
  handlersFor(backend: Backend, connection: () => UpstreamConnection | undefined): UpstreamHandlers;
  /** A connection of the session's own opened: settles once it is ready for the first call. */
  opened(backend: Backend, connection: UpstreamConnection): Promise<void>;
  /** True for a client whose answers the session reshapes (they must be parsed). */
  reshapes(): boolean;
  /** The client's initialize parameters. */
  clientInit(): Record<string, unknown>;
  reply(id: JsonRpcId, response: RawResponse): void;
  send(message: Record<string, unknown>): void;
  /** One request of the client needs no more answer (it was answered, or cancelled). */
  answered(): void;
}

/**
 * The requests one session has at its backends, and the connections they travel on: session
 * backends started on first use, retired ones drained after a reload, answers and errors brought
 * back under the client's ids, each call logged. Callbacks, not promises, all the way: with the
 * backend's connection open, an answer leaves in the same turn of the event loop as it arrived.
 */
export class SessionCalls {
  readonly #port: CallsPort;
  readonly #inFlight = new Map<JsonRpcId, InFlight>();
  readonly #connections = new Map<string, Promise<UpstreamConnection>>();
  /** Connections already open, by backend id, so a call to one does not wait on a promise. */
  readonly #open = new Map<string, UpstreamConnection>();
  /** Connections of backends a reload retired, closed once their calls in flight are done. */
  readonly #draining: Draining[] = [];

  constructor(port: CallsPort) {
    this.#port = port;
  }

  /** Requests a backend is still working on. */
  get size(): number {
    return this.#inFlight.size;
  }

  /**
   * Runs `use` on each connection of the session's own backends: at once on those open (so that
   * what it sends goes before the next call), on the others once they are.
   */
  each<T>(use: (connection: UpstreamConnection) => Promise<T>): Promise<T>[] {
    return [...this.#connections].map(([id, pending]) => {
      const open = this.#open.get(id);
      return open !== undefined && !open.closed ? use(open) : pending.then(use);
    });
  }

  /** True if a call in flight sent this progress token to its backend. */
  sentProgressToken(token: unknown): boolean {
    for (const call of this.#inFlight.values()) if (call.options.sentProgressToken === token) return true;
    return false;
  }

  /**
   * The newest call in flight on `connection`: what caused the backend's request. A backend asks
   * things while it starts too (roots after initialize), before its connection is known here:
   * then a call waiting for a backend to start is the cause.
   */
  causeOf(connection: UpstreamConnection): JsonRpcId | undefined {
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

  /** The client cancelled the request `id`: its backend stops working on it, and owes no answer. */
  cancel(id: JsonRpcId, reason: unknown): void {
    this.#inFlight.get(id)?.cancellation.abort(reason);
  }

  /** Files the call the client knows as `id` under `key` instead; false if it is over. */
  rekey(id: JsonRpcId, key: JsonRpcId): boolean {
    const call = this.#inFlight.get(id);
    if (call === undefined || call.settled) return false;
    this.#inFlight.delete(id);
    call.id = key;
    this.#inFlight.set(key, call);
    return true;
  }

  /** Sends a request on to a backend and its answer (through `hook`, if any) back to the client. */
  forward(id: JsonRpcId, backend: Backend, method: string, params: Record<string, unknown>, hook?: ResponseHook, name?: string): void {
    const port = this.#port;
    const limit = port.config.maxConcurrentCalls;
    if (this.#inFlight.size >= limit) {
      port.metrics?.refused('concurrency_limit');
      port.reply(id, { error: { code: JsonRpcErrorCode.ConnectionClosed, message: `too many concurrent requests in this session (max_concurrent_calls: ${limit})` } });
      return;
    }
    const cancellation = new Cancellation();
    const meta = params['_meta'] as { progressToken?: unknown } | undefined;
    const clientToken = meta?.progressToken;
    const target = name ?? (typeof params['uri'] === 'string' ? params['uri'] : undefined);
    const trace = port.tracing?.call({ method, target, session: port.sessionId, backend: backend.id, requestId: id, meta });
    // The backend continues the trace from our span, not the client's.
    if (trace !== undefined) params = { ...params, _meta: { ...meta, ...trace.carrier } };
    // A hook needs the answer parsed (a large one is not a not-found error: resources pass it through).
    // A modern client's answers are reshaped (src/gateway/era-client.ts): they must be parsed.
    const passThrough = !port.reshapes() && (hook === undefined || method === 'resources/read');
    const options: RequestOptions = { timeoutMs: port.config.aggregator.callTimeoutMs, cancellation, passThrough, client: port.clientInit() };
    if (clientToken !== undefined) {
      options.onProgress = (notification) => port.send({ ...notification, params: { ...notification.params, progressToken: clientToken } });
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
      release: backend.config.isolation === 'shared' ? port.claimShared(backend) : undefined,
      hook,
      retried: false,
      settled: false,
      trace,
    };
    this.#inFlight.set(id, call);
    const refusal = method === 'tools/call' ? backend.pathPolicy?.refusal(params) : undefined;
    if (refusal !== undefined) {
      port.metrics?.refused('policy');
      return this.#settle(call, refusal);
    }
    if (backend.unavailable !== undefined) {
      port.metrics?.refused('unavailable');
      const why = `backend '${backend.id}' is unavailable (${backend.unavailable}); it is being restarted in the background`;
      return this.#settle(call, new GatewayError('UPSTREAM_UNAVAILABLE', why));
    }
    this.#dispatch(call);
  }

  /**
   * Backends a reload removed or replaced: their next calls open new connections (to the new
   * backend of that id, if any); the old connections close once the calls they carry are done.
   */
  retire(ids: ReadonlySet<string>): void {
    for (const id of ids) {
      const pending = this.#connections.get(id);
      this.#connections.delete(id);
      this.#open.delete(id);
      if (pending === undefined) continue;
      const close = (): void => void pending.then((connection) => connection.close(), () => undefined);
      const calls = new Set([...this.#inFlight.values()].filter((call) => call.backend.id === id));
      if (calls.size === 0) close();
      else this.#draining.push({ calls, close });
    }
  }

  /** The gateway is stopping: every call in flight is answered with `reason`. */
  answerAll(reason: string): void {
    for (const call of [...this.#inFlight.values()]) this.#settle(call, new GatewayError('UPSTREAM_CLOSED', reason));
  }

  /**
   * The session is over: backends stop working on its calls (and, shared ones, send no answer to
   * a session gone), its connections close. Settles once they have.
   */
  async stop(): Promise<void> {
    for (const call of this.#inFlight.values()) call.cancellation.abort('client left');
    const connections = [...this.#connections.values()];
    this.#connections.clear();
    this.#open.clear();
    for (const entry of this.#draining.splice(0)) entry.close();
    await Promise.allSettled(connections.map(async (c) => (await c).close()));
  }

  /** The connection this session uses for a backend, starting a session backend on first use. */
  #connection(backend: Backend): Promise<UpstreamConnection> {
    if (backend.config.isolation === 'shared') return this.#port.shared(backend);
    const existing = this.#connections.get(backend.id);
    if (existing !== undefined) return existing;
    let opened: UpstreamConnection | undefined;
    const handlers = this.#port.handlersFor(backend, () => opened);
    const pending: Promise<UpstreamConnection> = this.#port
      .open(backend, {
        ...handlers,
        onClose: (unexpected) => {
          // A connection a reload retired is no longer the one this session uses for that id.
          if (this.#connections.get(backend.id) !== pending) return;
          this.#connections.delete(backend.id);
          handlers.onClose(unexpected);
        },
      })
      .then(async (connection) => {
        opened = connection;
        await this.#port.opened(backend, connection);
        return connection;
      });
    this.#connections.set(backend.id, pending);
    pending.catch(() => {
      if (this.#connections.get(backend.id) === pending) this.#connections.delete(backend.id);
    });
    return pending;
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
    callWithInput(connection, call.method, call.params, call.options, this.#port.inputClient, (outcome) => {
      if (!call.retried && isGatewayError(outcome, 'UPSTREAM_SESSION_LOST')) {
        // The server restarted and forgot us: initialize a new session and ask once more.
        this.#port.logger.info({ backend: call.backend.id }, 'backend lost the session; re-initializing');
        call.retried = true;
        connection.close().catch(() => undefined);
        this.#connections.delete(call.backend.id);
        this.#open.delete(call.backend.id);
        this.#dispatch(call);
        return;
      }
      const parsed = !(outcome instanceof Error) && !(outcome instanceof PassThroughResponse);
      const instead = call.hook !== undefined && parsed ? call.hook(outcome, connection) : undefined;
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
    const port = this.#port;
    // A client may reuse an id while the first request runs; each gets its answer.
    if (this.#inFlight.get(call.id) === call) this.#inFlight.delete(call.id);
    call.release?.();
    let result: string;
    if (call.cancellation.aborted) {
      result = 'cancelled'; // the client asked for it: no answer is due
      port.answered();
    } else if (outcome instanceof Error) {
      result = describeError(outcome);
      port.reply(call.id, upstreamErrorResponse(outcome));
    } else if (outcome instanceof PassThroughResponse) {
      result = passOn(outcome, call.id, port.passOnTarget);
      port.answered();
    } else {
      result = outcome.error !== undefined ? 'error' : isPolicyRefusal(outcome) ? 'refused' : outcome.result?.['isError'] === true ? 'tool_error' : 'ok';
      // The backend's own message, passed on with the client's id in place of ours.
      (outcome as RawMessage)['id'] = call.id;
      port.send(outcome as RawMessage);
      port.answered();
    }
    call.trace?.end(result);
    if (this.#draining.length > 0) this.#drained(call);
    if (call.name !== undefined || call.method === 'prompts/get' || call.method === 'resources/read') {
      const name = call.name ?? String(call.params['uri'] ?? call.params['name']);
      const record: CallRecord = { method: call.method, name, backend: call.backend.id, started: call.started, outcome: result, params: call.params };
      logCall(port.logger, port.config.logArguments, record);
      port.metrics?.call(record);
    }
  }

  /** A call is over: a retired connection it was the last call of closes. */
  #drained(call: InFlight): void {
    for (let i = this.#draining.length - 1; i >= 0; i--) {
      const entry = this.#draining[i] as Draining;
      if (!entry.calls.delete(call) || entry.calls.size > 0) continue;
      this.#draining.splice(i, 1);
      entry.close();
    }
  }
}
