import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/** JSON-RPC 2.0 error codes used on the wire. */
export const JsonRpcErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** Implementation-defined: the share or backend that was to answer went away. */
  ConnectionClosed: -32000,
  RequestTimeout: -32001,
} as const;

/** A JSON-RPC id as it appears on the wire. */
export type JsonRpcId = string | number;

/** The fields this project routes on; everything else in a message passes through untouched. */
export interface RoutingView {
  id?: JsonRpcId | null;
  method?: string;
  params?: { _meta?: { progressToken?: JsonRpcId }; progressToken?: JsonRpcId; requestId?: JsonRpcId };
  result?: unknown;
  error?: unknown;
}

/** A request carries a method and an id. */
export function isRequest(message: RoutingView): boolean {
  return message.method !== undefined && message.id !== undefined && message.id !== null;
}

/** A response carries an id and a result or an error, but no method. */
export function isResponse(message: RoutingView): boolean {
  return message.method === undefined && (message.result !== undefined || message.error !== undefined);
}

/** A notification carries a method and no id. */
export function isNotification(message: RoutingView): boolean {
  return message.method !== undefined && message.id === undefined;
}

/** A JSON-RPC error response. */
export function errorResponse(id: JsonRpcId | null, code: number, message: string): JSONRPCMessage {
  return { jsonrpc: '2.0', id, error: { code, message } } as JSONRPCMessage;
}
