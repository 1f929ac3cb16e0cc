import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../log.js';
import { LazyUpstream } from './lazy-upstream.js';
import { type JsonRpcId, JsonRpcErrorCode, type RoutingView, errorResponse, isRequest, isResponse } from './jsonrpc.js';

interface Route {
  front: Transport;
  id: JsonRpcId;
}

/**
 * Stateless streamable HTTP in front of a stateful server: every POST is its own short-lived
 * front transport, all of them multiplexed onto one server-side session. Request ids are
 * rewritten so that clients reusing ids never collide; `initialize` reaches the server once and
 * later ones are answered from the first result. Server-initiated requests have no stream to
 * travel on in this mode and are refused.
 */
export class StatelessMultiplexer {
  readonly #upstream: LazyUpstream;
  #initialize: Promise<unknown> | undefined;
  #nextId = 0;
  readonly #routes = new Map<string, Route>();
  readonly #progress = new Map<JsonRpcId, Route>();

  constructor(open: () => Promise<Transport>, logger: Logger) {
    this.#upstream = new LazyUpstream(open, { message: (upstream, message) => this.#fromServer(upstream, message), closed: () => this.#closed() }, logger);
  }

  /** Serves one POST's transport until it closes. */
  attach(front: Transport): void {
    front.onmessage = (message) => {
      this.#fromClient(front, message).catch((error: unknown) => {
        const view = message as RoutingView;
        if (isRequest(view)) void front.send(errorResponse(view.id as JsonRpcId, JsonRpcErrorCode.InternalError, String((error as Error).message)));
      });
    };
  }

  /** Ends the shared server-side session. */
  close(): Promise<void> {
    return this.#upstream.close();
  }

  async #fromClient(front: Transport, message: JSONRPCMessage): Promise<void> {
    const view = message as RoutingView & { params?: Record<string, unknown> };
    if (view.method === 'notifications/initialized') return;
    if (view.method === 'initialize' && isRequest(view)) {
      const result = await this.#initialized(view.params ?? {});
      await front.send({ jsonrpc: '2.0', id: view.id as JsonRpcId, result } as JSONRPCMessage);
      return;
    }
    if (this.#initialize === undefined) {
      // A stateless client may skip initialize entirely; initialize on its behalf.
      await this.#initialized({ protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'stateless-client', version: '0' } });
    } else {
      await this.#initialize;
    }
    const upstream = await this.#upstream.get();
    if (isRequest(view)) {
      const wireId = `sl-${++this.#nextId}`;
      const route = { front, id: view.id as JsonRpcId };
      this.#routes.set(wireId, route);
      const token = (view.params?.['_meta'] as { progressToken?: JsonRpcId } | undefined)?.progressToken;
      if (token !== undefined) this.#progress.set(token, route);
      front.onclose = () => this.#routes.delete(wireId);
      await upstream.send({ ...message, id: wireId });
      return;
    }
    if (view.method === 'notifications/cancelled') {
      const requestId = view.params?.['requestId'];
      for (const [wireId, route] of this.#routes) {
        if (route.front === front && route.id === requestId) {
          await upstream.send({ ...message, params: { ...view.params, requestId: wireId } });
        }
      }
      return;
    }
    if (!isResponse(view)) await upstream.send(message);
  }

  #initialized(params: Record<string, unknown>): Promise<unknown> {
    this.#initialize ??= (async () => {
      const upstream = await this.#upstream.get();
      const answer = new Promise<unknown>((resolve, reject) => {
        this.#routes.set('sl-init', {
          id: 'sl-init',
          front: {
            start: () => Promise.resolve(),
            close: () => Promise.resolve(),
            send: (reply) => {
              const r = reply as { result?: unknown; error?: { message?: string } };
              if (r.result !== undefined) resolve(r.result);
              else reject(new Error(r.error?.message ?? 'initialize failed'));
              return Promise.resolve();
            },
          },
        });
      });
      await upstream.send({ jsonrpc: '2.0', id: 'sl-init', method: 'initialize', params });
      const result = await answer;
      await upstream.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      return result;
    })();
    this.#initialize.catch(() => (this.#initialize = undefined));
    return this.#initialize;
  }

  /** The server side closed: the next request opens (and initializes) a fresh session. */
  #closed(): void {
    this.#initialize = undefined;
    for (const [wireId, route] of this.#routes) {
      this.#routes.delete(wireId);
      void route.front.send(errorResponse(route.id, JsonRpcErrorCode.ConnectionClosed, 'server session closed')).catch(() => undefined);
    }
  }

  #fromServer(upstream: Transport, message: JSONRPCMessage): void {
    const view = message as RoutingView;
    if (isResponse(view)) {
      const wireId = String(view.id);
      const route = this.#routes.get(wireId);
      if (route === undefined) return;
      this.#routes.delete(wireId);
      for (const [token, owner] of this.#progress) if (owner === route) this.#progress.delete(token);
      void route.front.send({ ...message, id: route.id }).catch(() => undefined);
      return;
    }
    if (view.method === 'notifications/progress') {
      const token = view.params?.progressToken;
      const route = token === undefined ? undefined : this.#progress.get(token);
      if (route !== undefined) void route.front.send(message, { relatedRequestId: route.id }).catch(() => undefined);
      return;
    }
    if (isRequest(view)) {
      void upstream.send(errorResponse(view.id as JsonRpcId, JsonRpcErrorCode.MethodNotFound, 'the client is connected statelessly and cannot answer server requests'));
    }
    // Other notifications have no stream to travel on without a session.
  }
}
