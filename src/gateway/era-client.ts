import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.js';
import { type JsonRpcId, JsonRpcErrorCode } from '../mcp/jsonrpc.js';
import {
  ALL_VERSIONS,
  MODERN_VERSIONS,
  META,
  MCP_LOG_LEVELS,
  MULTI_ROUND_METHODS,
  REMOVED_METHODS,
  type Envelope,
  shapeForModern,
  unsupportedVersion,
  withoutEnvelope,
} from '../mcp/modern.js';
import type { RawMessage, RawResponse } from '../mcp/upstream.js';
import { InputRequired, URL_ELICITATION_REQUIRED, type SuspendedCall } from './input-required.js';

type Obj = Record<string, unknown>;

/** What a modern client's adapter needs from its session. */
export interface ModernSessionPort {
  readonly id: string;
  readonly logger: Logger;
  readonly callTimeoutMs: number;
  /** Most suspended calls at once (max_concurrent_calls). */
  readonly maxSuspended: number;
  /** Most resources the client's listens may name at once. */
  readonly maxSubscriptions: number;
  /** Writes a message to the client as it is. */
  post(message: Obj): void;
  /** One client request needs no more answer (it was answered here). */
  answered(): void;
  /**
   * Runs a request (envelope removed) through the session's routing; its answer comes back
   * through `outbound`. `internal`: a request of ours, not the client's (no answer is owed).
   */
  route(id: JsonRpcId, method: string, params: Obj, internal?: boolean): void;
  /** The client, as backends started for this session are to see it (`initialize` params). */
  adopt(init: Obj): void;
  /** Sets the log level of the session's backends. */
  setLogLevel(level: string): void;
  /** The gateway's own `initialize` result: capabilities, serverInfo, instructions. */
  self(): Obj;
  /** Re-keys the in-flight call `clientId` as `key`; false when no such call is in flight. */
  suspend(clientId: JsonRpcId, key: string): boolean;
  /** Aborts a suspended call: its backend is told, its answer dropped. */
  abandon(key: string, reason: string): void;
  /** The client's answer to a server→client request the session relayed. */
  answerRelayed(relayId: string, response: RawResponse): void;
}

/** A client request of the modern era still owed an answer, for shaping it. */
interface Pending {
  readonly method: string;
  readonly params: Obj;
}

/** One open `subscriptions/listen`. */
interface Listen {
  readonly id: JsonRpcId;
  readonly filter: Obj;
  /** The resources it listens to (`filter.resourceSubscriptions`, without repeats). */
  readonly uris: ReadonlySet<string>;
}

const LIST_CHANGED_FILTER: Record<string, string> = {
  'notifications/tools/list_changed': 'toolsListChanged',
  'notifications/prompts/list_changed': 'promptsListChanged',
  'notifications/resources/list_changed': 'resourcesListChanged',
};

/** The 2025 `initialize` revision backends are started with on behalf of a modern client. */
const BACKEND_REVISION = '2025-11-25';

/**
 * The session's face towards a client of MCP 2026-07-28: answers `server/discover`, checks each
 * request's `_meta` envelope (its version, its capabilities) and strips it before routing,
 * takes the log level from it, serves `subscriptions/listen`, gives answers the shape the
 * revision requires (cache hints, renumbered errors), and turns a 2025 backend's sampling,
 * elicitation and roots requests into `input_required` results (src/gateway/input-required.ts).
 * Created by the session at the client's first modern request; a 2025 client never meets it.
 */
export class ModernClient {
  readonly #port: ModernSessionPort;
  readonly #pending = new Map<JsonRpcId, Pending>();
  readonly #listens = new Map<JsonRpcId, Listen>();
  /** Requests of our own (resources/subscribe for a listen) whose answers nobody awaits. */
  readonly #internal = new Set<string>();
  /** How many open listens name each resource: subscribed at the first, unsubscribed after the last. */
  readonly #listeners = new Map<string, number>();
  /**
   * Begins every id of the gateway's own in this session (its requests, suspended calls), so
   * that none can be an id of the client's: it is refused as one.
   */
  readonly #reserved = `gw~${randomBytes(6).toString('base64url')}~`;
  readonly #inputRequired: InputRequired;
  #adopted = false;
  #logLevel: string | undefined;
  #nextInternal = 0;

  constructor(port: ModernSessionPort) {
    this.#port = port;
    this.#inputRequired = new InputRequired(port, this.#reserved, (id, method, params) => {
      this.#pending.set(id, { method, params });
      // The backend is asked afresh: the answers were the client's, for the URLs.
      const fresh = withoutEnvelope(params);
      delete fresh['inputResponses'];
      delete fresh['requestState'];
      port.route(id, method, fresh);
    });
  }

  /** A request carrying the envelope. */
  request(id: JsonRpcId, method: string, params: Obj, envelope: Envelope): void {
    const port = this.#port;
    if (typeof id === 'string' && id.startsWith(this.#reserved)) {
      return this.#fail(id, { code: JsonRpcErrorCode.InvalidRequest, message: 'Invalid Request: this id is one the gateway uses for its own requests' });
    }
    // Each answer is shaped for the request it answers, found by id: two at once could not be told apart.
    if (this.#pending.has(id) || this.#listens.has(id)) {
      return this.#fail(id, { code: JsonRpcErrorCode.InvalidRequest, message: 'Invalid Request: a request with this id is still in flight' });
    }
    if (!MODERN_VERSIONS.includes(envelope.version)) return this.#fail(id, unsupportedVersion(envelope.version));
    if (envelope.capabilities === undefined) {
      return this.#fail(id, { code: JsonRpcErrorCode.InvalidParams, message: `Invalid params: the _meta envelope lacks ${META.clientCapabilities}` });
    }
    if (!this.#adopted) {
      this.#adopted = true;
      port.adopt({ protocolVersion: BACKEND_REVISION, capabilities: envelope.capabilities, clientInfo: envelope.clientInfo ?? { name: 'modern-client', version: '0' } });
    }
    if (envelope.logLevel !== undefined && !MCP_LOG_LEVELS.includes(envelope.logLevel)) {
      return this.#fail(id, { code: JsonRpcErrorCode.InvalidParams, message: `Invalid params: the _meta envelope's logLevel must be one of ${MCP_LOG_LEVELS.join(', ')}` });
    }
    if (envelope.logLevel !== undefined && envelope.logLevel !== this.#logLevel) {
      this.#logLevel = envelope.logLevel;
      port.setLogLevel(envelope.logLevel);
    }
    if (method === 'server/discover') return this.#answer(id, { result: this.#discover() });
    if (method === 'subscriptions/listen') return this.#listen(id, params);
    if (REMOVED_METHODS.has(method)) return this.#fail(id, { code: JsonRpcErrorCode.MethodNotFound, message: `Method not found: ${method} (not part of protocol revision ${envelope.version})` });
    if (MULTI_ROUND_METHODS.has(method) && typeof params['requestState'] === 'string') {
      if (this.#inputRequired.retry(id, method, params, envelope)) return;
    }
    this.#pending.set(id, { method, params });
    // A requestState that is not ours (a 2026-07-28 backend's) goes on with its inputResponses.
    port.route(id, method, withoutEnvelope(params));
  }

  /** A notification from the client; returns its params as the session is to see them, or undefined when consumed. */
  notification(method: string, params: Obj): Obj | undefined {
    if (method !== 'notifications/cancelled') return params;
    const requestId = params['requestId'] as JsonRpcId;
    if (this.#listens.has(requestId)) {
      this.#endListen(requestId, false);
      return undefined;
    }
    // A cancelled request is owed no answer: none will come to shape.
    this.#pending.delete(requestId);
    const key = this.#inputRequired.cancelled(requestId);
    return key === undefined ? params : { ...params, requestId: key };
  }

  /** A backend's request to the client, relayed by the session as `relayId`, caused by the client's call `cause`. */
  serverRequest(relayId: string, message: RawMessage, cause: JsonRpcId | undefined): void {
    const pending = cause === undefined ? undefined : this.#pending.get(cause);
    const call: SuspendedCall | undefined = cause !== undefined && pending !== undefined && MULTI_ROUND_METHODS.has(pending.method) ? { clientId: cause, ...pending } : undefined;
    this.#inputRequired.serverRequest(relayId, message, cause, call, (clientId) => this.#pending.delete(clientId));
  }

  /** Every message the session writes to this client passes here; returns what to write, or undefined. */
  outbound(message: Obj): Obj | undefined {
    const method = message['method'];
    if (typeof method !== 'string') {
      const id = message['id'] as JsonRpcId;
      if (typeof id === 'string' && this.#internal.delete(id)) return undefined;
      if (this.#inputRequired.owns(id)) return this.#inputRequired.final(message);
      const pending = this.#pending.get(id);
      if (pending === undefined) return message;
      this.#pending.delete(id);
      const error = message['error'] as Obj | undefined;
      if (error?.['code'] === URL_ELICITATION_REQUIRED && MULTI_ROUND_METHODS.has(pending.method)) {
        const instead = this.#inputRequired.urlRequired(id, pending.method, pending.params, error);
        if (instead !== undefined) return instead;
      }
      return shapeForModern(message, pending.method, pending.params);
    }
    if (method === 'notifications/progress') return this.#inputRequired.progress(message);
    if (method === 'notifications/message') return this.#logLevel === undefined ? undefined : message;
    if (method === 'notifications/resources/updated' || LIST_CHANGED_FILTER[method] !== undefined) {
      this.#toListens(method, (message['params'] as Obj | undefined) ?? {});
      return undefined;
    }
    // Nothing else exists for a modern client outside a request (task status, URL elicitation completion…).
    return undefined;
  }

  /** The session is gone: no timer of ours may outlive it. */
  close(): void {
    this.#inputRequired.dispose();
  }

  /** The client will send nothing more: end what waits on it (listens, calls awaiting a retry). */
  clientEnded(): void {
    for (const id of [...this.#listens.keys()]) this.#endListen(id, true);
    this.#inputRequired.abandonAll('the client ended its input');
  }

  #discover(): Obj {
    const self = this.#port.self();
    const capabilities = { ...(self['capabilities'] as Obj | undefined) };
    // Tasks are an extension in 2026-07-28, which the gateway does not offer a modern client.
    delete capabilities['tasks'];
    return {
      supportedVersions: [...ALL_VERSIONS],
      capabilities,
      ...(typeof self['instructions'] === 'string' ? { instructions: self['instructions'] } : {}),
      resultType: 'complete',
      ttlMs: 0,
      cacheScope: 'private',
      _meta: { [META.serverInfo]: self['serverInfo'] },
    };
  }

  #listen(id: JsonRpcId, params: Obj): void {
    const requested = params['notifications'];
    if (requested === null || typeof requested !== 'object' || Array.isArray(requested)) {
      return this.#fail(id, { code: JsonRpcErrorCode.InvalidParams, message: "Invalid params: 'notifications' is required and must be a SubscriptionFilter" });
    }
    const capabilities = (this.#port.self()['capabilities'] as Obj | undefined) ?? {};
    const filter = honored(requested as Obj, capabilities);
    const uris = new Set((filter['resourceSubscriptions'] as string[] | undefined) ?? []);
    let added = 0;
    for (const uri of uris) if (!this.#listeners.has(uri)) added++;
    const max = this.#port.maxSubscriptions;
    if (this.#listeners.size + added > max) {
      return this.#fail(id, { code: JsonRpcErrorCode.InvalidParams, message: `Invalid params: too many resource subscriptions in this session (at most ${max}); end other listens first` });
    }
    if (uris.size > 0) filter['resourceSubscriptions'] = [...uris];
    this.#port.post({ jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { notifications: filter, _meta: { [META.subscriptionId]: id } } });
    if (Object.keys(filter).length === 0) return this.#answer(id, { result: this.#listenEnd(id) });
    for (const uri of uris) {
      const listening = this.#listeners.get(uri) ?? 0;
      this.#listeners.set(uri, listening + 1);
      if (listening === 0) this.#internalRequest('resources/subscribe', { uri });
    }
    this.#listens.set(id, { id, filter, uris });
  }

  /** Ends a listen: gracefully (an empty result says so) or because the client cancelled it (no answer). */
  #endListen(id: JsonRpcId, graceful: boolean): void {
    const listen = this.#listens.get(id);
    if (listen === undefined) return;
    this.#listens.delete(id);
    for (const uri of listen.uris) {
      const listening = this.#listeners.get(uri) ?? 1;
      if (listening > 1) {
        this.#listeners.set(uri, listening - 1);
        continue;
      }
      this.#listeners.delete(uri);
      this.#internalRequest('resources/unsubscribe', { uri });
    }
    if (graceful) this.#answer(id, { result: this.#listenEnd(id) });
    else this.#port.answered();
  }

  #listenEnd(id: JsonRpcId): Obj {
    return { resultType: 'complete', _meta: { [META.subscriptionId]: id, [META.serverInfo]: this.#port.self()['serverInfo'] } };
  }

  #toListens(method: string, params: Obj): void {
    const bit = LIST_CHANGED_FILTER[method];
    for (const listen of this.#listens.values()) {
      const wanted = bit !== undefined ? listen.filter[bit] === true : listen.uris.has(String(params['uri']));
      if (!wanted) continue;
      const meta = { ...(params['_meta'] as Obj | undefined), [META.subscriptionId]: listen.id };
      this.#port.post({ jsonrpc: '2.0', method, params: { ...params, _meta: meta } });
    }
  }

  #internalRequest(method: string, params: Obj): void {
    const id = `${this.#reserved}request-${++this.#nextInternal}`;
    this.#internal.add(id);
    this.#port.route(id, method, params, true);
  }

  #answer(id: JsonRpcId, response: RawResponse): void {
    this.#port.post({ jsonrpc: '2.0', id, ...response });
    this.#port.answered();
  }

  #fail(id: JsonRpcId, error: { code: number; message: string; data?: Obj }): void {
    this.#answer(id, { error });
  }
}

/**
 * The part of a listen filter the gateway can deliver (as the SDK's servers narrow it): list
 * changes it announces, resource updates only where a backend supports subscribing.
 */
function honored(requested: Obj, capabilities: Obj): Obj {
  const cap = (name: string): Obj | undefined => capabilities[name] as Obj | undefined;
  const out: Obj = {};
  if (requested['toolsListChanged'] === true && cap('tools')?.['listChanged'] === true) out['toolsListChanged'] = true;
  if (requested['promptsListChanged'] === true && cap('prompts')?.['listChanged'] === true) out['promptsListChanged'] = true;
  if (requested['resourcesListChanged'] === true && cap('resources')?.['listChanged'] === true) out['resourcesListChanged'] = true;
  const uris = requested['resourceSubscriptions'];
  if (Array.isArray(uris) && uris.length > 0 && cap('resources')?.['subscribe'] === true) out['resourceSubscriptions'] = uris.filter((u) => typeof u === 'string');
  return out;
}
