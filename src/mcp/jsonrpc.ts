import type { OversizedLine } from '../wire/lines.js';
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

/** A JSON-RPC error response. */
export function errorResponse(id: JsonRpcId | null, code: number, message: string): JSONRPCMessage {
  return { jsonrpc: '2.0', id, error: { code, message } } as JSONRPCMessage;
}

/** Why a parsed message is not a valid single JSON-RPC 2.0 message, as the error to answer with. */
export interface EnvelopeProblem {
  id: JsonRpcId | null;
  code: number;
  message: string;
}

/**
 * Checks the JSON-RPC 2.0 envelope of a message from a client (not its MCP meaning):
 * an object with `jsonrpc: "2.0"`, a string/number id when present, a string method, object
 * params. Batches are refused: MCP 2025-06-18 removed them and no hop of ours splits them.
 */
export function checkEnvelope(message: unknown): EnvelopeProblem | undefined {
  if (Array.isArray(message)) return { id: null, code: JsonRpcErrorCode.InvalidRequest, message: 'Invalid Request: batches are not supported' };
  if (message === null || typeof message !== 'object') return { id: null, code: JsonRpcErrorCode.InvalidRequest, message: 'Invalid Request: not an object' };
  const m = message as Record<string, unknown>;
  const rawId = m['id'];
  const idOk = rawId === undefined || typeof rawId === 'string' || (typeof rawId === 'number' && Number.isFinite(rawId));
  const id = idOk && rawId !== undefined ? (rawId) : null;
  if (m['jsonrpc'] !== '2.0') return { id, code: JsonRpcErrorCode.InvalidRequest, message: 'Invalid Request: jsonrpc must be "2.0"' };
  if (!idOk) return { id: null, code: JsonRpcErrorCode.InvalidRequest, message: 'Invalid Request: id must be a string or a number' };
  if (m['method'] === undefined) {
    if (rawId === undefined || (m['result'] === undefined && m['error'] === undefined)) return { id, code: JsonRpcErrorCode.InvalidRequest, message: 'Invalid Request: no method' };
    return undefined;
  }
  if (typeof m['method'] !== 'string') return { id, code: JsonRpcErrorCode.InvalidRequest, message: 'Invalid Request: method must be a string' };
  const params = m['params'];
  if (params !== undefined && (params === null || typeof params !== 'object' || Array.isArray(params))) {
    return { id, code: JsonRpcErrorCode.InvalidParams, message: 'Invalid params: params must be an object' };
  }
  return undefined;
}

const ID_PATTERN = /"id"\s*:\s*("(?:[^"\\]|\\.){0,200}"|-?\d{1,20})\s*[,}]/;

/** The JSON-RPC id of an oversized message when one of its ends shows it, so its sender gets an answer. */
export function oversizedId(line: OversizedLine): string | number | null {
  for (const edge of [line.tail, line.head]) {
    const match = ID_PATTERN.exec(edge.toString('utf8'));
    if (match?.[1] !== undefined) {
      try {
        return JSON.parse(match[1]) as string | number;
      } catch {
        // not a JSON value after all
      }
    }
  }
  return null;
}
