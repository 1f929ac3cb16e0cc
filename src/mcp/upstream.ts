import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { GatewayError, isGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { type ClientIdentity, type Era, META, envelopeFor } from './era.js';
import { type JsonRpcId, JsonRpcErrorCode, type RoutingView, isRequest, isResponse } from './jsonrpc.js';
import { ModernListens } from './listen.js';
import { PASS_THROUGH_MIN_BYTES, PassThroughResponse } from './passthrough.js';
import { type LineTransport, carriesLines } from './stream-transport.js';

/** A JSON-RPC message as a plain record: we route on a few fields and pass the rest through. */
export type RawMessage = Record<string, unknown> & { jsonrpc: '2.0' };

/** A response as the upstream sent it: exactly one of result or error. */
export interface RawResponse {
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
}

/** What the owner of a connection hears from the server besides responses. */
export interface UpstreamHandlers {
  /** Server→client requests (sampling, elicitation, roots/list, …); answer with respond(). */
  onRequest(message: RawMessage & { id: JsonRpcId; method: string }): void;
  onNotification(message: RawMessage & { method: string }): void;
  /** `unexpected`: the server went away (crash, exit, network), not closed by us. */
  onClose(unexpected: boolean): void;
}

/** Options of one request. */
export interface RequestOptions {
  timeoutMs: number;
  /** Receives each progress notification synchronously, token already restored by the caller. */
  onProgress?: (notification: RawMessage & { params: Record<string, unknown> }) => void;
  /** Fires as the client cancels. */
  cancellation?: Cancellation;
  /**
   * The caller takes a large result as a {@link PassThroughResponse} (bytes, id replaceable)
   * instead of a parsed message, where the transport carries lines.
   */
  passThrough?: boolean;
  /** Whom the request is made for: a modern backend hears it in the envelope (default: the client the connection was opened for). */
  client?: ClientIdentity;
  /**
   * Set by {@link UpstreamConnection.call} to the progress token the request carried (when the
   * caller asked for progress): a server→client request naming it belongs to this call.
   */
  sentProgressToken?: string;
  /** Set by {@link UpstreamConnection.call} to the id the request went out with. */
  sentId?: JsonRpcId;
}

/**
 * A request's cancellation: what an AbortSignal does here, without an EventTarget per call
 * (creating one was 3–4% of the gateway's CPU per forwarded call in the profile).
 */
export class Cancellation {
  #reason: unknown;
  #aborted = false;
  #onAbort: ((reason: unknown) => void) | undefined;

  /** True once {@link abort} was called. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** Cancels, once; the listener (if any) hears the reason. */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    const listener = this.#onAbort;
    this.#onAbort = undefined;
    listener?.(reason);
  }

  /** Sets the one listener; called at once if already cancelled. */
  onAbort(listener: ((reason: unknown) => void) | undefined): void {
    if (this.#aborted && listener !== undefined) listener(this.#reason);
    else this.#onAbort = listener;
  }
}

/**
 * Hears how one request ended: the backend's response message itself (an error response too;
 * with `passThrough`, a large result as its bytes), or an Error when there was none (timeout,
 * cancelled, connection gone).
 */
export type ResponseCallback = (outcome: RawResponse | PassThroughResponse | Error) => void;

interface Pending {
  done: ResponseCallback;
  method: string;
  timeoutMs: number;
  /** `performance.now()` by which the backend must have answered. */
  deadline: number;
  progressToken: string | undefined;
  passThrough: boolean;
}

/** setTimeout's largest delay; a later deadline is swept for more than once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A client-side JSON-RPC peer on an SDK Transport, without the SDK Client's schema validation:
 * results and errors pass through byte-for-byte equivalent, unknown fields included. Progress is
 * delivered synchronously from the transport callback, so the last notification can never lose
 * the race against its own response (SDK issue #2580). {@link call} is the gateway's hot path:
 * a callback and no promise, so an answer reaches its client in the same turn it was read.
 */
export class UpstreamConnection {
  readonly label: string;
  readonly #transport: Transport;
  /** The transport again when it carries lines: written to without a promise a message. */
  readonly #stream: LineTransport | undefined;
  readonly #logger: Logger;
  #handlers: UpstreamHandlers | undefined;
  readonly #pending = new Map<JsonRpcId, Pending>();
  readonly #progress = new Map<string, NonNullable<RequestOptions['onProgress']>>();
  #nextId = 0;
  #closed = false;
  #closing = false;
  /** Set on a modern (2026-07-28) connection: the envelope every request carries. */
  #envelope: Record<string, unknown> | undefined;
  /** The log level a modern backend hears with each request (it has no `logging/setLevel`). */
  #logLevel: string | undefined;
  /** A modern backend's `subscriptions/listen` requests, which stand for 2025's unsolicited notifications. */
  #listens: ModernListens | undefined;
  /**
   * One timer for the deadlines of all pending requests, not one a request: it is set for the
   * earliest deadline and moved only when a request with an earlier one comes (with one timeout
   * for all, never), so a call costs no timer to create and clear (≈0.5–0.8 µs a call in
   * bench/in-process.js).
   */
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;

  constructor(transport: Transport, label: string, logger: Logger) {
    this.#transport = transport;
    this.#stream = carriesLines(transport) ? transport : undefined;
    this.label = label;
    this.#logger = logger;
  }

  /** True once the transport has closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The era the backend speaks on this connection (learnt when it was opened). */
  get era(): Era {
    return this.#envelope === undefined ? 'legacy' : 'modern';
  }

  /**
   * From now on the backend is spoken to in 2026-07-28: every request carries the client's
   * envelope, and a listen stays open for the list changes its `capabilities` announce.
   */
  speakModern(client: ClientIdentity, capabilities: Record<string, unknown> = {}): void {
    this.#envelope = envelopeFor(client);
    this.#listens = new ModernListens((method, params, options, done) => this.call(method, params, options, done));
    this.#listens.listenForChanges(capabilities);
  }

  /** Starts the transport; messages flow to `handlers` from now on. */
  async start(handlers: UpstreamHandlers): Promise<void> {
    this.#handlers = handlers;
    this.#transport.onmessage = (message) => this.#onMessage(message);
    this.#transport.onclose = () => this.#onClose();
    this.#transport.onerror = (error) => {
      if (isGatewayError(error, 'LIMIT_EXCEEDED')) this.#logger.warn({ backend: this.label, err: error.message }, 'stopping the backend');
      else this.#logger.debug({ backend: this.label, err: error.message }, 'upstream transport error');
    };
    this.#stream?.interceptLines(PASS_THROUGH_MIN_BYTES, (parts, bytes) => this.#onLargeLine(parts, bytes));
    await this.#transport.start();
  }

  /** Sends a request and resolves with the raw response (an error response resolves too). */
  request(method: string, params: Record<string, unknown> | undefined, options: RequestOptions): Promise<RawResponse> {
    return new Promise<RawResponse>((resolve, reject) =>
      this.call(method, params, { ...options, passThrough: false }, (outcome) => (outcome instanceof Error ? reject(outcome) : resolve(outcome as RawResponse))),
    );
  }

  /**
   * Sends a request; `done` hears its outcome exactly once. The response handed over is the
   * backend's own message (`jsonrpc`, its `id`, `result` or `error`), the caller's to reuse.
   */
  call(method: string, params: Record<string, unknown> | undefined, options: RequestOptions, done: ResponseCallback): void {
    if (this.#closed) {
      done(new GatewayError('UPSTREAM_CLOSED', `backend '${this.label}' is not connected`));
      return;
    }
    let sendParams = params;
    if (this.#envelope !== undefined) {
      // 2026-07-28 has no logging/setLevel: the level travels with each request instead.
      if (method === 'logging/setLevel') {
        this.#logLevel = typeof params?.['level'] === 'string' ? params['level'] : undefined;
        done({ jsonrpc: '2.0', result: {} } as RawResponse);
        return;
      }
      // Nor resources/subscribe: a listen for the resource stands for it.
      if ((method === 'resources/subscribe' || method === 'resources/unsubscribe') && this.#listens !== undefined) {
        const uri = String(params?.['uri']);
        if (method === 'resources/subscribe') this.#listens.subscribe(uri, done);
        else this.#listens.unsubscribe(uri, done);
        return;
      }
      sendParams = this.#enveloped(params, options.client);
    }
    const id = ++this.#nextId;
    options.sentId = id;
    let progressToken: string | undefined;
    if (options.onProgress !== undefined) {
      progressToken = `${this.label}#${id}`;
      const meta = (sendParams?.['_meta'] as Record<string, unknown> | undefined) ?? {};
      sendParams = { ...sendParams, _meta: { ...meta, progressToken } };
      this.#progress.set(progressToken, options.onProgress);
      options.sentProgressToken = progressToken;
    }
    const deadline = performance.now() + options.timeoutMs;
    const pending: Pending = { done, method, timeoutMs: options.timeoutMs, deadline, progressToken, passThrough: options.passThrough === true };
    this.#pending.set(id, pending);
    if (deadline < this.#timerAt) this.#sweepAt(deadline);
    options.cancellation?.onAbort((reason) => this.#abandon(id, typeof reason === 'string' ? reason : 'cancelled', new GatewayError('UPSTREAM_CLOSED', 'cancelled')));
    const message = sendParams === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params: sendParams };
    if (this.#stream === undefined) {
      this.#transport.send(message as JSONRPCMessage).catch((error: unknown) => this.#notSent(id, error));
    } else if (!this.#stream.post(message as JSONRPCMessage)) {
      this.#notSent(id, new Error('transport closed'));
    }
  }

  /** A modern backend's params: the envelope, the log level, then whatever `_meta` the client sent itself. */
  #enveloped(params: Record<string, unknown> | undefined, client: ClientIdentity | undefined): Record<string, unknown> {
    const envelope = client === undefined ? this.#envelope : envelopeFor(client);
    const level = this.#logLevel === undefined ? undefined : { [META.logLevel]: this.#logLevel };
    const meta = params?.['_meta'] as Record<string, unknown> | undefined;
    return { ...params, _meta: { ...envelope, ...level, ...meta } };
  }

  /** The request could not be sent: its caller hears why. */
  #notSent(id: JsonRpcId, error: unknown): void {
    const pending = this.#settle(id);
    if (pending === undefined) return;
    // Streamable HTTP answers 404 once the server forgot our session (it restarted).
    if ((error as { code?: unknown }).code === 404) {
      pending.done(new GatewayError('UPSTREAM_SESSION_LOST', `backend '${this.label}' lost the session`, { cause: error }));
      return;
    }
    pending.done(new GatewayError('UPSTREAM_CLOSED', `backend '${this.label}' could not be reached: ${(error as Error).message}`, { cause: error }));
  }

  /** Sends a notification; a closed connection drops it. */
  notify(method: string, params?: Record<string, unknown>): void {
    if (this.#closed) return;
    // A modern server asks for roots with each request that needs them: nothing to announce.
    if (this.#envelope !== undefined && method === 'notifications/roots/list_changed') return;
    const message = { jsonrpc: '2.0', method, ...(params === undefined ? {} : { params }) };
    this.#transport.send(message as JSONRPCMessage).catch(() => undefined);
  }

  /** Answers a server→client request. */
  respond(id: JsonRpcId, response: RawResponse): void {
    if (this.#closed) return;
    this.#transport.send({ jsonrpc: '2.0', id, ...response } as JSONRPCMessage).catch(() => undefined);
  }

  /** Closes the transport (for a process: stdin, SIGTERM, SIGKILL). */
  async close(): Promise<void> {
    this.#closing = true;
    await this.#transport.close();
    this.#onClose();
  }

  #settle(id: JsonRpcId): Pending | undefined {
    const pending = this.#pending.get(id);
    if (pending === undefined) return undefined;
    this.#pending.delete(id);
    if (pending.progressToken !== undefined) this.#progress.delete(pending.progressToken);
    return pending;
  }

  /** Gives up on a request: the backend is told to stop working on it; its late answer is dropped. */
  #abandon(id: JsonRpcId, reason: string, error: Error): void {
    const pending = this.#settle(id);
    if (pending === undefined) return;
    this.notify('notifications/cancelled', { requestId: id, reason });
    pending.done(error);
  }

  /**
   * (Re)sets the one timer for `deadline`. It keeps the process alive while requests are pending,
   * as a timer per request did; left set after the last answer, it goes off once, finds nothing
   * and is not set again (closing the connection clears it).
   */
  #sweepAt(deadline: number): void {
    clearTimeout(this.#timer);
    this.#timerAt = deadline;
    this.#timer = setTimeout(this.#sweep, Math.min(MAX_TIMER_MS, Math.max(1, deadline - performance.now())));
  }

  /** Times out every request past its deadline, then sets the timer for the earliest one left. */
  readonly #sweep = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const [id, pending] of this.#pending) {
      if (pending.deadline <= now) {
        this.#abandon(id, 'timeout', new GatewayError('UPSTREAM_TIMEOUT', `backend '${this.label}' did not answer ${pending.method} within ${pending.timeoutMs} ms`));
      } else if (pending.deadline < next) next = pending.deadline;
    }
    // A request made by a callback above has set the timer itself if it needed to be earlier.
    if (next < this.#timerAt) this.#sweepAt(next);
  };

  /** A large line: a result to a pass-through request is handed on as bytes, unparsed. */
  #onLargeLine(parts: Buffer[], bytes: number): boolean {
    const response = PassThroughResponse.read(parts, bytes);
    if (response === undefined || this.#pending.get(response.id)?.passThrough !== true) return false;
    this.#settle(response.id)?.done(response);
    return true;
  }

  #onMessage(message: RawMessage): void {
    const view = message as RoutingView;
    if (isResponse(view)) {
      const pending = this.#settle(view.id as JsonRpcId);
      if (pending === undefined) return; // late answer to a cancelled or timed-out request
      // Handed over whole (the caller rewrites the id and passes it on), but well-formed: exactly
      // one of result and error, and a result that is an object.
      const response = message as RawResponse;
      if (response.error !== undefined) {
        if (response.result !== undefined) delete response.result;
      } else if (response.result === null) response.result = {};
      pending.done(response);
      return;
    }
    if (view.method === 'notifications/progress') {
      const token = view.params?.progressToken;
      const onProgress = token === undefined ? undefined : this.#progress.get(String(token));
      onProgress?.(message as RawMessage & { params: Record<string, unknown> });
      return;
    }
    if (isRequest(view)) {
      if (view.method === 'ping') {
        this.respond(view.id as JsonRpcId, { result: {} });
        return;
      }
      this.#handlers?.onRequest(message as RawMessage & { id: JsonRpcId; method: string });
      return;
    }
    if (view.method === undefined) return;
    const notification = this.#listens === undefined ? (message as RawMessage & { method: string }) : this.#listens.inbound(message as RawMessage & { method: string });
    if (notification !== undefined) this.#handlers?.onNotification(notification);
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
    for (const id of [...this.#pending.keys()]) {
      this.#settle(id)?.done(
        new GatewayError('UPSTREAM_CLOSED', this.#closing ? `backend '${this.label}' was stopped` : `backend '${this.label}' closed the connection (it crashed or exited)`),
      );
    }
    this.#handlers?.onClose(!this.#closing);
  }
}

/** A JSON-RPC error response for a GatewayError raised while forwarding. */
export function upstreamErrorResponse(error: unknown): RawResponse {
  if (error instanceof GatewayError && error.code === 'UPSTREAM_TIMEOUT') {
    return { error: { code: JsonRpcErrorCode.RequestTimeout, message: error.message } };
  }
  return { error: { code: JsonRpcErrorCode.ConnectionClosed, message: error instanceof Error ? error.message : String(error) } };
}
