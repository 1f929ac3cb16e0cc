import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../log.js';
import { type JsonRpcId, type RoutingView, isRequest, isResponse } from './jsonrpc.js';

/** Notifications about the server as a whole, which belong on the standalone stream. */
const UNRELATED_NOTIFICATIONS = new Set([
  'notifications/tools/list_changed',
  'notifications/resources/list_changed',
  'notifications/prompts/list_changed',
  'notifications/resources/updated',
]);

/** A running relay between a client-facing and a server-facing transport. */
export interface Relay {
  /** Settles when either side has closed and the other has been closed in turn. */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

/**
 * Pumps every JSON-RPC message unchanged between two transports and closes each side when the
 * other goes. For HTTP client sides, server-initiated messages are tied to the client request
 * that most plausibly caused them (progress by its token, others by the newest request still in
 * flight), since streamable HTTP can only deliver them on that request's stream.
 */
export function relay(clientSide: Transport, serverSide: Transport, logger: Logger): Relay {
  const inFlight = new Set<JsonRpcId>();
  const progressOwners = new Map<JsonRpcId, JsonRpcId>();
  let closing = false;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));

  const closeBoth = (): void => {
    if (closing) return;
    closing = true;
    void Promise.allSettled([clientSide.close(), serverSide.close()]).then(() => resolveClosed());
  };

  const forward = (to: Transport, message: JSONRPCMessage, options?: TransportSendOptions): void => {
    to.send(message, options).catch((error: unknown) => {
      logger.debug({ err: error }, 'relay: message not delivered');
    });
  };

  clientSide.onmessage = (message) => {
    const view = message as RoutingView;
    if (isRequest(view)) {
      const id = view.id as JsonRpcId;
      inFlight.add(id);
      const token = view.params?._meta?.progressToken;
      if (token !== undefined) progressOwners.set(token, id);
    }
    forward(serverSide, message);
  };

  serverSide.onmessage = (message) => {
    const view = message as RoutingView;
    if (isResponse(view)) {
      const id = view.id as JsonRpcId;
      inFlight.delete(id);
      for (const [token, owner] of progressOwners) if (owner === id) progressOwners.delete(token);
      forward(clientSide, message);
      return;
    }
    forward(clientSide, message, relatedTo(view));
  };

  const relatedTo = (view: RoutingView): TransportSendOptions | undefined => {
    if (view.method === 'notifications/progress') {
      const token = view.params?.progressToken;
      const owner = token === undefined ? undefined : progressOwners.get(token);
      return owner === undefined ? undefined : { relatedRequestId: owner };
    }
    if (view.method !== undefined && UNRELATED_NOTIFICATIONS.has(view.method)) return undefined;
    let newest: JsonRpcId | undefined;
    for (const id of inFlight) newest = id;
    return newest === undefined ? undefined : { relatedRequestId: newest };
  };

  clientSide.onclose = closeBoth;
  serverSide.onclose = closeBoth;
  clientSide.onerror = (error) => logger.debug({ err: error }, 'relay: client side error');
  serverSide.onerror = (error) => logger.debug({ err: error }, 'relay: server side error');

  return { closed, close: () => (closeBoth(), closed) };
}
