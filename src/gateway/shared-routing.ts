import type { Logger } from '../log.js';
import { JsonRpcErrorCode } from '../mcp/jsonrpc.js';
import type { RawMessage, UpstreamConnection, UpstreamHandlers } from '../mcp/upstream.js';
import { LIST_CHANGED_KINDS, type Backend, type ListKind } from './backend.js';
import type { GatewaySession } from './session.js';

/** What routing a shared backend's messages needs from the gateway. */
export interface SharedRoutingHost {
  readonly logger: Logger;
  /** The sessions open now. */
  sessions(): Iterable<GatewaySession>;
  listChanged(backend: Backend, connection: UpstreamConnection, kind: ListKind): void;
}

/**
 * Where the requests and notifications of a shared backend go. Its one process serves every
 * session, so each message goes to the session it concerns (the one it names: a task, a call's
 * progress token, a relayed request; else the only session calling it now), a resource update to
 * the sessions subscribed to it, a list change to all; a message that concerns no single session
 * is never guessed at: a request is refused, a notification dropped and counted.
 */
export class SharedRouting {
  readonly #host: SharedRoutingHost;
  /** Sessions with a call in flight at each shared backend, by backend id (a session once a call). */
  readonly #claims = new Map<string, GatewaySession[]>();
  #dropped = 0;

  constructor(host: SharedRoutingHost) {
    this.#host = host;
  }

  /** Notifications of shared backends that concerned no single session, since start. */
  get droppedNotifications(): number {
    return this.#dropped;
  }

  /** Notes a call of `session` in flight at `backend`; the function returned ends it. */
  claim(backend: Backend, session: GatewaySession): () => void {
    const claims = this.#claims.get(backend.id) ?? [];
    this.#claims.set(backend.id, claims);
    claims.push(session);
    return () => {
      const index = claims.lastIndexOf(session);
      if (index !== -1) claims.splice(index, 1);
    };
  }

  /** The handlers of a shared backend's connection (`connection` once it is open), but for its close. */
  handlers(backend: Backend, connection: () => UpstreamConnection | undefined): Omit<UpstreamHandlers, 'onClose'> {
    return {
      onRequest: (message) => {
        const open = connection();
        if (open === undefined) return;
        const owner = this.#concerned(backend, open, message);
        if (owner === undefined) {
          // Never guessed: a request (sampling, elicitation…) can carry one client's private data.
          this.#host.logger.warn({ backend: backend.id, method: message.method }, 'a shared backend asked for a client, but which one is not known: answered with an error');
          open.respond(message.id, { error: { code: JsonRpcErrorCode.InternalError, message: 'the gateway cannot tell which client this request is for (no single client is calling this shared backend)' } });
          return;
        }
        owner.relayRequest(open, message);
      },
      onNotification: (message) => {
        const open = connection();
        if (open !== undefined) this.#notification(backend, open, message);
      },
    };
  }

  #notification(backend: Backend, connection: UpstreamConnection, message: RawMessage & { method: string }): void {
    const kind = LIST_CHANGED_KINDS[message.method];
    if (kind !== undefined) return this.#host.listChanged(backend, connection, kind);
    const sessions = [...this.#host.sessions()];
    // A task's status is its session's alone.
    if (message.method === 'notifications/tasks/status') {
      if (!sessions.some((session) => session.deliverTaskStatus(backend, connection, message))) this.#drop(backend, message);
      return;
    }
    if (message.method === 'notifications/resources/updated') {
      const uri = (message['params'] as { uri?: unknown } | undefined)?.uri;
      const subscribers = typeof uri === 'string' ? sessions.filter((session) => session.subscribed(uri)) : [];
      for (const session of subscribers) session.send(message);
      if (subscribers.length === 0) this.#drop(backend, message);
      return;
    }
    if (message.method === 'notifications/cancelled') {
      if (!sessions.some((session) => session.cancelRelayed(connection, message))) this.#drop(backend, message);
      return;
    }
    // Logging and the rest: to the one session they concern, or to nobody.
    const owner = this.#concerned(backend, connection, message);
    if (owner === undefined) this.#drop(backend, message);
    else owner.send(message);
  }

  /**
   * The session a message from a shared backend concerns: the one it names (a task, a call's
   * progress token), else the only session with a call in flight there; undefined when unknown.
   */
  #concerned(backend: Backend, connection: UpstreamConnection, message: RawMessage): GatewaySession | undefined {
    for (const session of this.#host.sessions()) if (session.caused(connection, message)) return session;
    const calling = new Set(this.#claims.get(backend.id));
    return calling.size === 1 ? calling.values().next().value : undefined;
  }

  /** A notification that concerns no single session: dropped, and counted. */
  #drop(backend: Backend, message: RawMessage): void {
    this.#dropped++;
    this.#host.logger.debug({ backend: backend.id, method: message.method, dropped: this.#dropped }, 'notification of a shared backend dropped: it concerns no single client');
  }
}
