import { META } from './era.js';
import { JsonRpcErrorCode } from './jsonrpc.js';
import { Cancellation, type RawMessage, type RawResponse, type RequestOptions, type ResponseCallback } from './upstream.js';

/**
 * What the gateway hears from a 2026-07-28 backend outside its answers, in 2025's terms. Such a
 * server sends list changes and resource updates only on an open `subscriptions/listen` request,
 * and has no `resources/subscribe`. So on a modern connection:
 * - one listen for the list changes the server announces (`listChanged`) stays open as long as
 *   the connection, and its notifications reach the gateway as a 2025 server's would;
 * - each `resources/subscribe` becomes a listen for that URI, answered once the server
 *   acknowledges it; `resources/unsubscribe` cancels it.
 * The subscription id the server stamps on each notification is taken off before it goes on.
 */

type Obj = Record<string, unknown>;

/** How a listen reaches the backend: the connection's own request. */
export type ListenCall = (method: string, params: Obj, options: RequestOptions, done: ResponseCallback) => void;

/** One open listen: how to end it, and for a resource's, the subscribes still owed an answer. */
interface Listen {
  readonly uri: string | undefined;
  readonly cancellation: Cancellation;
  /** The subscribes' callers, until the acknowledgement (or a refusal) answers them all. */
  answers: ResponseCallback[];
  ended: boolean;
}

export class ModernListens {
  readonly #call: ListenCall;
  /** The resources' listens, by URI. */
  readonly #uris = new Map<string, Listen>();
  /** Every open listen, by its request id (the subscription id the server stamps). */
  readonly #byId = new Map<string, Listen>();

  constructor(call: ListenCall) {
    this.#call = call;
  }

  /** Opens the listen for the list changes `capabilities` (the server's) announce, if any. */
  listenForChanges(capabilities: Obj): void {
    const announces = (kind: string): boolean => (capabilities[kind] as Obj | undefined)?.['listChanged'] === true;
    const filter: Obj = {};
    if (announces('tools')) filter['toolsListChanged'] = true;
    if (announces('prompts')) filter['promptsListChanged'] = true;
    if (announces('resources')) filter['resourcesListChanged'] = true;
    if (Object.keys(filter).length > 0) this.#open(undefined, filter, []);
  }

  /** `resources/subscribe {uri}`: answered when the server has acknowledged the listen for it. */
  subscribe(uri: string, done: ResponseCallback): void {
    const open = this.#uris.get(uri);
    if (open === undefined) return this.#open(uri, { resourceSubscriptions: [uri] }, [done]);
    // Not acknowledged yet: this one hears what the first hears.
    if (open.answers.length > 0) open.answers.push(done);
    else done(answered());
  }

  /** `resources/unsubscribe {uri}`: the listen for it is cancelled (the server is told). */
  unsubscribe(uri: string, done: ResponseCallback): void {
    const open = this.#uris.get(uri);
    // Forgotten at once: a subscribe right after opens a listen of its own.
    this.#uris.delete(uri);
    open?.cancellation.abort('unsubscribed');
    done(answered());
  }

  /**
   * A notification from the backend: what to hand on, or undefined when it was about the
   * listens themselves (an acknowledgement).
   */
  inbound(message: RawMessage & { method: string }): (RawMessage & { method: string }) | undefined {
    const params = message['params'] as Obj | undefined;
    const meta = params?.['_meta'] as Obj | undefined;
    const subscription = meta?.[META.subscriptionId];
    if (meta === undefined || params === undefined || (typeof subscription !== 'string' && typeof subscription !== 'number')) return message;
    if (message.method === 'notifications/subscriptions/acknowledged') {
      this.#acknowledged(String(subscription), (params['notifications'] as Obj | undefined) ?? {});
      return undefined;
    }
    const rest = { ...meta };
    delete rest[META.subscriptionId];
    const others = { ...params };
    delete others['_meta'];
    return { ...message, params: Object.keys(rest).length === 0 ? others : { ...others, _meta: rest } };
  }

  /**
   * Sends a listen with no deadline: it stays open until it is cancelled, the server ends it or
   * the connection closes. Then it is forgotten, and the subscribes still unanswered hear why.
   */
  #open(uri: string | undefined, notifications: Obj, answers: ResponseCallback[]): void {
    const listen: Listen = { uri, cancellation: new Cancellation(), answers, ended: false };
    if (uri !== undefined) this.#uris.set(uri, listen);
    const options: RequestOptions = { timeoutMs: Infinity, cancellation: listen.cancellation };
    this.#call('subscriptions/listen', { notifications }, options, (outcome) => {
      listen.ended = true;
      if (uri !== undefined && this.#uris.get(uri) === listen) this.#uris.delete(uri);
      if (options.sentId !== undefined) this.#byId.delete(String(options.sentId));
      const why = outcome instanceof Error || (outcome as RawResponse).error !== undefined ? outcome : refused(uri ?? '');
      for (const owed of listen.answers.splice(0)) owed(why);
    });
    // (A connection already closed ends it before it is sent.)
    if (!listen.ended && options.sentId !== undefined) this.#byId.set(String(options.sentId), listen);
  }

  #acknowledged(id: string, honored: Obj): void {
    const listen = this.#byId.get(id);
    if (listen === undefined || listen.answers.length === 0) return;
    const owed = listen.answers.splice(0);
    const uris = honored['resourceSubscriptions'];
    if (Array.isArray(uris) && uris.includes(listen.uri)) {
      for (const answer of owed) answer(answered());
      return;
    }
    // The server does not deliver updates of this resource: no use keeping the listen open.
    listen.cancellation.abort('not honored');
    for (const answer of owed) answer(refused(listen.uri ?? ''));
  }
}

/** The answer to a subscribe or unsubscribe: a whole message, as a backend's own answer is. */
function answered(): RawResponse {
  return { jsonrpc: '2.0', result: {} } as RawResponse;
}

function refused(uri: string): RawResponse {
  return { jsonrpc: '2.0', error: { code: JsonRpcErrorCode.InvalidParams, message: `the backend does not deliver updates of ${uri}` } } as RawResponse;
}
