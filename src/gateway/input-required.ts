import { type JsonRpcId, JsonRpcErrorCode } from '../mcp/jsonrpc.js';
import { META, type Envelope, shapeForModern } from '../mcp/modern.js';
import type { RawMessage } from '../mcp/upstream.js';
import type { ModernSessionPort } from './era-client.js';
import { STATE_PREFIX, mintState, verifyState } from './request-state.js';

type Obj = Record<string, unknown>;

/** A modern client's call that a backend asked something of: what it was. */
export interface SuspendedCall {
  readonly clientId: JsonRpcId;
  readonly method: string;
  /** As the client sent it (envelope included). */
  readonly params: Obj;
}

/** A backend's request to the client, as an embedded input request. */
interface Asked {
  readonly method: string;
  readonly params: Obj;
}

/** A call whose backend waits on the client's input. */
interface Continuation {
  /** The session's id for the call while it is suspended. */
  readonly key: string;
  readonly method: string;
  readonly params: Obj;
  readonly target: string;
  readonly originalToken: unknown;
  round: number;
  /** The client request now owed an answer; undefined while we wait for a retry. */
  waiting: JsonRpcId | undefined;
  /** Whether `waiting` is a retry (the original is accounted for by the session). */
  waitingIsRetry: boolean;
  /** The progress token of `waiting`. */
  token: unknown;
  /** What the client declared with the request now waiting. */
  capabilities: Obj;
  /** Asked in an `input_required` and not answered yet, by relay id. */
  readonly asked: Map<string, Asked>;
  /** Arrived from the backend, not asked yet. */
  readonly queued: Map<string, Asked>;
  /** The call's answer, when it came while we waited for a retry. */
  held: Obj | undefined;
  /** Expires the wait for a retry (call_timeout). */
  timer: NodeJS.Timeout | undefined;
  flushing: boolean;
}

/** A call a backend refused with -32042 (URL elicitation required): it runs again on the retry. */
interface Redo {
  readonly key: string;
  readonly target: string;
  readonly timer: NodeJS.Timeout;
}

/** Runs a retried request anew, as the client's request `id`. */
export type Rerun = (id: JsonRpcId, method: string, params: Obj) => void;

/** The 2025 error that asks the client to open URLs first; 2026-07-28 asks with input_required instead. */
export const URL_ELICITATION_REQUIRED = -32042;

/** The client capability each server→client request needs. */
const CAPABILITY: Record<string, string> = { 'sampling/createMessage': 'sampling', 'elicitation/create': 'elicitation', 'roots/list': 'roots' };

/**
 * Translation for a modern client (MCP 2026-07-28) of a 2025 backend's sampling, elicitation
 * and roots requests: the backend's call stays pending while the client's request is answered
 * with `input_required` (the backend's requests embedded as `inputRequests`, keyed by our relay
 * ids, and a signed `requestState`); the client's retry delivers `inputResponses` as the
 * answers to those requests, and the call's own result (or the next `input_required`) answers
 * the retry. At most `max_concurrent_calls` calls wait per session, each for at most
 * `call_timeout`; then the call is abandoned (the backend is told) and its state refused.
 */
export class InputRequired {
  readonly #port: ModernSessionPort;
  readonly #calls = new Map<string, Continuation>();
  readonly #redos = new Map<string, Redo>();
  readonly #rerun: Rerun;
  /** Begins the keys of suspended calls: ids no client request may have (see era-client.ts). */
  readonly #keyPrefix: string;
  #next = 0;

  constructor(port: ModernSessionPort, keyPrefix: string, rerun: Rerun) {
    this.#port = port;
    this.#keyPrefix = keyPrefix;
    this.#rerun = rerun;
  }

  /**
   * A 2025 backend refused a modern client's call with -32042 (URL elicitation required): the
   * client gets the URLs as `input_required` elicitations instead (2026-07-28 has no -32042), and
   * its retry runs the call again. Returns the answer to write, or undefined to pass the error on
   * (the client did not declare URL elicitation, or too many calls wait).
   */
  urlRequired(clientId: JsonRpcId, method: string, params: Obj, error: Obj): Obj | undefined {
    const elicitations = (error['data'] as Obj | undefined)?.['elicitations'];
    const meta = params['_meta'] as Obj | undefined;
    const elicitation = (meta?.[META.clientCapabilities] as Obj | undefined)?.['elicitation'] as Obj | undefined;
    if (!Array.isArray(elicitations) || elicitations.length === 0 || elicitation?.['url'] === undefined) return undefined;
    if (this.#calls.size + this.#redos.size >= this.#port.maxSuspended) return undefined;
    const key = `${this.#keyPrefix}redo-${++this.#next}`;
    const timer = setTimeout(() => this.#redos.delete(key), this.#port.callTimeoutMs);
    this.#redos.set(key, { key, target: target(method, params), timer });
    const inputRequests = Object.fromEntries(
      elicitations.map((e: Obj, i) => [`url-${i}`, { method: 'elicitation/create', params: { mode: 'url', message: e['message'], url: e['url'] } }]),
    );
    const requestState = mintState({ session: this.#port.id, call: key, round: 1, target: target(method, params) });
    return { jsonrpc: '2.0', id: clientId, result: { resultType: 'input_required', inputRequests, requestState } };
  }

  /** True when `id` is the session's id of a suspended call. */
  owns(id: unknown): boolean {
    return this.#calls.size > 0 && typeof id === 'string' && this.#calls.has(id);
  }

  /**
   * A backend asks the client something. `cause` is the id of the session's call that caused
   * it (a suspended call's key, or the client's id), `call` that call when it is a modern
   * client's, `adopted` is told when a call becomes suspended.
   */
  serverRequest(relayId: string, message: RawMessage, cause: JsonRpcId | undefined, call: SuspendedCall | undefined, adopted: (clientId: JsonRpcId) => void): void {
    const method = String(message['method']);
    let continuation = cause === undefined ? undefined : this.#calls.get(String(cause));
    if (continuation === undefined) {
      if (call === undefined) {
        this.#refuse(relayId, 'the client (MCP 2026-07-28) can answer a server request only during its tools/call, prompts/get or resources/read');
        return;
      }
      continuation = this.#suspend(call, relayId, adopted);
      if (continuation === undefined) return;
    }
    const needed = CAPABILITY[method];
    if (needed === undefined || continuation.capabilities[needed] === undefined) {
      this.#refuse(relayId, `the client did not declare the ${needed ?? method} capability with its request`);
      return;
    }
    const params = { ...((message['params'] as Obj | undefined) ?? {}) };
    // Embedded requests are not task-augmented in 2026-07-28.
    delete params['task'];
    continuation.queued.set(relayId, { method, params });
    this.#scheduleFlush(continuation);
  }

  /** A request carrying a `requestState`: true when it was ours to handle (answered or taken). */
  retry(id: JsonRpcId, method: string, params: Obj, envelope: Envelope): boolean {
    const state = params['requestState'] as string;
    const claims = verifyState(state);
    if (claims === undefined) {
      if (!state.startsWith(STATE_PREFIX)) return false; // a backend's own state: not ours to judge
      this.#fail(id, 'Invalid params: requestState failed verification');
      return true;
    }
    const redo = this.#redos.get(claims.call);
    if (redo !== undefined && claims.session === this.#port.id && claims.round === 1 && claims.target === target(method, params)) {
      clearTimeout(redo.timer);
      this.#redos.delete(redo.key);
      this.#rerun(id, method, params);
      return true;
    }
    const continuation = this.#calls.get(claims.call);
    if (
      continuation === undefined ||
      claims.session !== this.#port.id ||
      claims.round !== continuation.round ||
      claims.target !== target(method, params) ||
      continuation.waiting !== undefined
    ) {
      this.#fail(id, 'Invalid params: requestState does not continue a call awaiting input (expired, replayed or for another request)');
      return true;
    }
    clearTimeout(continuation.timer);
    continuation.timer = undefined;
    continuation.waiting = id;
    continuation.waitingIsRetry = true;
    continuation.token = progressToken(params);
    continuation.capabilities = envelope.capabilities ?? {};
    const responses = params['inputResponses'];
    if (responses !== null && typeof responses === 'object' && !Array.isArray(responses)) {
      for (const [key, value] of Object.entries(responses as Obj)) {
        if (!continuation.asked.delete(key)) continue;
        this.#port.answerRelayed(key, { result: (value ?? {}) as Obj });
      }
    }
    if (continuation.held !== undefined) {
      const message = this.#finish(continuation, continuation.held);
      this.#port.post(message);
      return true;
    }
    // Anything still unanswered, or asked meanwhile, is asked again now.
    if (continuation.asked.size > 0 || continuation.queued.size > 0) this.#scheduleFlush(continuation);
    return true;
  }

  /** The suspended call's answer (its id is our key): what to write to the client now, if anything. */
  final(message: Obj): Obj | undefined {
    const continuation = this.#calls.get(message['id'] as string) as Continuation;
    if (continuation.waiting === undefined) {
      continuation.held = message;
      return undefined;
    }
    return this.#finish(continuation, message);
  }

  /** Progress of a suspended call goes to the request now waiting, under its token. */
  progress(message: Obj): Obj | undefined {
    if (this.#calls.size === 0) return message;
    const params = (message['params'] as Obj | undefined) ?? {};
    for (const continuation of this.#calls.values()) {
      if (continuation.originalToken === undefined || continuation.originalToken !== params['progressToken']) continue;
      if (continuation.waiting === undefined || (continuation.waitingIsRetry && continuation.token === undefined)) return undefined;
      return continuation.waitingIsRetry ? { ...message, params: { ...params, progressToken: continuation.token } } : message;
    }
    return message;
  }

  /** The client cancelled `requestId`: the key of the suspended call it continues, if any. */
  cancelled(requestId: JsonRpcId): string | undefined {
    for (const continuation of this.#calls.values()) {
      if (continuation.waiting !== requestId) continue;
      this.#drop(continuation, 'the client cancelled the request');
      // The session answers nothing for a cancelled call; the retry is owed nothing either.
      if (continuation.waitingIsRetry) this.#port.answered();
      return continuation.key;
    }
    return undefined;
  }

  /** Calls waiting for a retry are given up (the client will send none). */
  abandonAll(reason: string): void {
    for (const continuation of [...this.#calls.values()]) if (continuation.waiting === undefined) this.#expire(continuation, reason);
  }

  /** Stops every timer (the session is gone). */
  dispose(): void {
    for (const continuation of this.#calls.values()) clearTimeout(continuation.timer);
    for (const redo of this.#redos.values()) clearTimeout(redo.timer);
    this.#calls.clear();
    this.#redos.clear();
  }

  #suspend(call: SuspendedCall, relayId: string, adopted: (clientId: JsonRpcId) => void): Continuation | undefined {
    const limit = this.#port.maxSuspended;
    if (this.#calls.size >= limit) {
      this.#refuse(relayId, `too many calls wait for input in this session (max_concurrent_calls: ${limit})`);
      return undefined;
    }
    const key = `${this.#keyPrefix}input-${++this.#next}`;
    if (!this.#port.suspend(call.clientId, key)) {
      this.#refuse(relayId, 'the call that caused this request is over');
      return undefined;
    }
    adopted(call.clientId);
    const meta = call.params['_meta'] as Obj | undefined;
    const capabilities = (meta?.[META.clientCapabilities] as Obj | undefined) ?? {};
    const continuation: Continuation = {
      key,
      method: call.method,
      params: call.params,
      target: target(call.method, call.params),
      originalToken: progressToken(call.params),
      round: 0,
      waiting: call.clientId,
      waitingIsRetry: false,
      token: progressToken(call.params),
      capabilities,
      asked: new Map(),
      queued: new Map(),
      held: undefined,
      timer: undefined,
      flushing: false,
    };
    this.#calls.set(key, continuation);
    return continuation;
  }

  /** Asks at the end of this turn, so that requests a backend sends together travel together. */
  #scheduleFlush(continuation: Continuation): void {
    if (continuation.flushing || continuation.waiting === undefined) return;
    continuation.flushing = true;
    queueMicrotask(() => {
      continuation.flushing = false;
      if (this.#calls.get(continuation.key) !== continuation || continuation.waiting === undefined) return;
      for (const [relayId, asked] of continuation.queued) continuation.asked.set(relayId, asked);
      continuation.queued.clear();
      if (continuation.asked.size === 0) return;
      continuation.round++;
      const requestState = mintState({ session: this.#port.id, call: continuation.key, round: continuation.round, target: continuation.target });
      const inputRequests = Object.fromEntries([...continuation.asked].map(([relayId, asked]) => [relayId, { method: asked.method, params: asked.params }]));
      this.#port.post({ jsonrpc: '2.0', id: continuation.waiting, result: { resultType: 'input_required', inputRequests, requestState } });
      if (continuation.waitingIsRetry) this.#port.answered();
      continuation.waiting = undefined;
      // Cleared when the session closes (dispose): it never outlives the session.
      continuation.timer = setTimeout(() => this.#expire(continuation, 'no retry within call_timeout'), this.#port.callTimeoutMs);
    });
  }

  /** The call's answer for the request now waiting; the continuation is over. */
  #finish(continuation: Continuation, message: Obj): Obj {
    this.#drop(continuation, 'the call is over');
    message['id'] = continuation.waiting;
    if (continuation.waitingIsRetry) this.#port.answered();
    return shapeForModern(message, continuation.method, continuation.params);
  }

  #expire(continuation: Continuation, reason: string): void {
    if (this.#calls.get(continuation.key) !== continuation) return;
    this.#port.logger.debug({ call: continuation.target, reason }, 'input_required: call abandoned');
    this.#drop(continuation, reason);
    if (continuation.held === undefined) this.#port.abandon(continuation.key, reason);
  }

  /** Forgets the continuation; the backend's unanswered requests get an error. */
  #drop(continuation: Continuation, reason: string): void {
    clearTimeout(continuation.timer);
    this.#calls.delete(continuation.key);
    for (const relayId of [...continuation.asked.keys(), ...continuation.queued.keys()]) this.#refuse(relayId, `the client gave no answer (${reason})`);
    continuation.asked.clear();
    continuation.queued.clear();
  }

  #refuse(relayId: string, message: string): void {
    this.#port.answerRelayed(relayId, { error: { code: JsonRpcErrorCode.InternalError, message } });
  }

  #fail(id: JsonRpcId, message: string): void {
    this.#port.post({ jsonrpc: '2.0', id, error: { code: JsonRpcErrorCode.InvalidParams, message } });
    this.#port.answered();
  }
}

/** What a state is bound to besides the call: the request it continues. */
function target(method: string, params: Obj): string {
  const name = params['name'] ?? params['uri'];
  return `${method} ${typeof name === 'string' ? name : ''}`;
}

function progressToken(params: Obj): unknown {
  return (params['_meta'] as Obj | undefined)?.['progressToken'];
}
