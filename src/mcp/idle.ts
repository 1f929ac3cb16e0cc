import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { type JsonRpcId, type RoutingView, isRequest, isResponse } from './jsonrpc.js';

/** What an {@link IdleWatch} asks of the session it watches. */
export interface Activity {
  /** A request is in flight, either way (a call, or a server→client request awaiting its answer). */
  readonly busy: boolean;
  /** `performance.now()` of the last message, either way. */
  readonly last: number;
}

/**
 * Calls `onIdle` once a session has had nothing in flight and no message either way for
 * `timeoutMs`. One timer per session, re-armed only when it fires: messages cost nothing here.
 */
export class IdleWatch {
  readonly #timeoutMs: number;
  readonly #activity: () => Activity;
  readonly #onIdle: (idleMs: number) => void;
  #timer: NodeJS.Timeout | undefined;

  constructor(timeoutMs: number, activity: () => Activity, onIdle: (idleMs: number) => void) {
    this.#timeoutMs = timeoutMs;
    this.#activity = activity;
    this.#onIdle = onIdle;
    this.#arm(timeoutMs);
  }

  /** Stops watching (the session ended some other way). */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => this.#check(), Math.max(1, Math.ceil(ms)));
    // An idle watch alone never keeps a process alive.
    this.#timer.unref();
  }

  #check(): void {
    const { busy, last } = this.#activity();
    // A busy session is not idle however long its call takes; its idle time starts at the answer.
    if (busy) return this.#arm(this.#timeoutMs);
    const idleMs = performance.now() - last;
    if (idleMs < this.#timeoutMs) return this.#arm(this.#timeoutMs - idleMs);
    this.#timer = undefined;
    this.#onIdle(idleMs);
  }
}

/**
 * A server-facing transport that keeps track of the activity crossing it (requests each way
 * until answered, the time of the last message), for an {@link IdleWatch}. Messages pass unchanged.
 */
export class ActivityTrackingTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  readonly #inner: Transport;
  /** Requests sent to the server and not yet answered, and the server's requests not yet answered. */
  readonly #toServer = new Set<JsonRpcId>();
  readonly #fromServer = new Set<JsonRpcId>();
  #last = performance.now();

  constructor(inner: Transport) {
    this.#inner = inner;
    inner.onclose = () => this.onclose?.();
    inner.onerror = (error) => this.onerror?.(error);
    inner.onmessage = (message) => {
      this.#see(message, this.#fromServer, this.#toServer);
      this.onmessage?.(message);
    };
  }

  /** What an {@link IdleWatch} needs. */
  get activity(): Activity {
    return { busy: this.#toServer.size > 0 || this.#fromServer.size > 0, last: this.#last };
  }

  start(): Promise<void> {
    return this.#inner.start();
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    this.#see(message, this.#toServer, this.#fromServer);
    return this.#inner.send(message, options);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  /** A request opens an entry on its sender's side; a response closes the one it answers. */
  #see(message: JSONRPCMessage, asked: Set<JsonRpcId>, answered: Set<JsonRpcId>): void {
    this.#last = performance.now();
    const view = message as RoutingView;
    if (isRequest(view)) asked.add(view.id as JsonRpcId);
    else if (isResponse(view)) answered.delete(view.id as JsonRpcId);
  }
}
