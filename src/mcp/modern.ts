// The MCP 2026-07-28 revision ("modern" era) as the gateway meets it on the client side: no
// initialize, a `_meta` envelope on every request, renumbered errors, cache hints on lists.
// Pure helpers and constants, shared by the gateway session and the HTTP front.
import { SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { META } from './era.js';
import { JsonRpcErrorCode } from './jsonrpc.js';

// One definition of the keys, for both sides of the gateway (era.ts: toward backends).
export { META };

/** Modern revisions we serve. */
export const MODERN_VERSIONS: readonly string[] = ['2026-07-28'];

/** Everything we speak, newest first: what `server/discover` and -32022 list. */
export const ALL_VERSIONS: readonly string[] = [...MODERN_VERSIONS, ...SUPPORTED_PROTOCOL_VERSIONS];

/** Error codes the 2026-07-28 revision added. */
export const ModernErrorCode = {
  HeaderMismatch: -32020,
  MissingRequiredClientCapability: -32021,
  UnsupportedProtocolVersion: -32022,
} as const;

/** The 2025 resource-not-found code; 2026-07-28 answers -32602 with `data.uri` instead. */
const LEGACY_RESOURCE_NOT_FOUND = -32002;

type Obj = Record<string, unknown>;

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The protocol version a request's `_meta` envelope claims, if it carries one. */
export function envelopeVersion(params: unknown): string | undefined {
  if (!isObject(params)) return undefined;
  const meta = params['_meta'];
  if (!isObject(meta)) return undefined;
  const version = meta[META.protocolVersion];
  return typeof version === 'string' ? version : undefined;
}

/** True for revisions of the modern era (ISO dates order chronologically). */
export function isModernVersion(version: string): boolean {
  return version >= '2026-07-28';
}

/** The levels of MCP logging (`logging/setLevel`, the envelope's logLevel), least severe first. */
export const MCP_LOG_LEVELS: readonly string[] = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

/** The envelope of a modern request, read once. */
export interface Envelope {
  readonly version: string;
  readonly capabilities: Obj | undefined;
  readonly clientInfo: Obj | undefined;
  readonly logLevel: string | undefined;
}

/** Reads the envelope; `undefined` when the request carries none. */
export function readEnvelope(params: Obj): Envelope | undefined {
  const meta = params['_meta'];
  if (!isObject(meta)) return undefined;
  const version = meta[META.protocolVersion];
  if (typeof version !== 'string') return undefined;
  const capabilities = meta[META.clientCapabilities];
  const clientInfo = meta[META.clientInfo];
  const logLevel = meta[META.logLevel];
  return {
    version,
    capabilities: isObject(capabilities) ? capabilities : undefined,
    clientInfo: isObject(clientInfo) ? clientInfo : undefined,
    logLevel: typeof logLevel === 'string' ? logLevel : undefined,
  };
}

/**
 * The params without the envelope's keys: what a 2025 backend understands. Other `_meta` keys
 * (progressToken, traceparent…) stay.
 */
export function withoutEnvelope(params: Obj): Obj {
  const out: Obj = { ...params };
  const meta = params['_meta'];
  if (!isObject(meta)) return out;
  const rest: Obj = {};
  for (const [key, value] of Object.entries(meta)) {
    if (key !== META.protocolVersion && key !== META.clientInfo && key !== META.clientCapabilities && key !== META.logLevel) rest[key] = value;
  }
  if (Object.keys(rest).length === 0) delete out['_meta'];
  else out['_meta'] = rest;
  return out;
}

/** The spec's answer to a request in a revision we do not serve. */
export function unsupportedVersion(requested: string): { code: number; message: string; data: Obj } {
  return {
    code: ModernErrorCode.UnsupportedProtocolVersion,
    message: `Unsupported protocol version: ${requested} (supported: ${ALL_VERSIONS.join(', ')})`,
    data: { supported: [...ALL_VERSIONS], requested },
  };
}

/** Methods whose 2026-07-28 results must carry `ttlMs` and `cacheScope`. */
const CACHEABLE = new Set(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list', 'resources/read']);

/**
 * A 2025 answer made right for a modern client: `resultType` says it is complete, cacheable results get the required cache hints
 * (never cached: ttl 0, private — lists can change and differ per client), and the
 * resource-not-found error takes its 2026-07-28 form (-32602 with `data.uri`). Mutates and
 * returns the message.
 */
export function shapeForModern(message: Obj, method: string, params: Obj): Obj {
  const result = message['result'];
  if (isObject(result)) {
    // Required of 2026-07-28 servers; a 2025 backend's answer is complete when it comes.
    if (typeof result['resultType'] !== 'string') result['resultType'] = 'complete';
    if (CACHEABLE.has(method)) {
      if (typeof result['ttlMs'] !== 'number') result['ttlMs'] = 0;
      if (result['cacheScope'] !== 'public' && result['cacheScope'] !== 'private') result['cacheScope'] = 'private';
    }
    return message;
  }
  const error = message['error'];
  if (isObject(error) && error['code'] === LEGACY_RESOURCE_NOT_FOUND) {
    error['code'] = JsonRpcErrorCode.InvalidParams;
    const uri = params['uri'];
    if (!isObject(error['data']) && typeof uri === 'string') error['data'] = { uri };
  }
  return message;
}

/**
 * A 2026-07-28 answer made right for a 2025 client: without the fields of the new revision
 * (`resultType`, cache hints, the server's info in `_meta`), and a resource-not-found error in
 * its 2025 form (-32002). Mutates and returns the message.
 */
export function shapeForLegacy<T extends object>(message: T, method: string): T {
  const result = (message as Obj)['result'];
  if (isObject(result)) {
    delete result['resultType'];
    delete result['ttlMs'];
    delete result['cacheScope'];
    const meta = result['_meta'];
    if (isObject(meta) && META.serverInfo in meta) {
      delete meta[META.serverInfo];
      if (Object.keys(meta).length === 0) delete result['_meta'];
    }
    return message;
  }
  const error = (message as Obj)['error'];
  if (method === 'resources/read' && isObject(error) && error['code'] === JsonRpcErrorCode.InvalidParams && isObject(error['data']) && typeof error['data']['uri'] === 'string') {
    error['code'] = LEGACY_RESOURCE_NOT_FOUND;
  }
  return message;
}

/** Methods 2026-07-28 removed: a modern client asking for them gets "method not found". */
export const REMOVED_METHODS = new Set([
  'initialize',
  'ping',
  'logging/setLevel',
  'resources/subscribe',
  'resources/unsubscribe',
  'tasks/get',
  'tasks/result',
  'tasks/list',
  'tasks/cancel',
]);

/** Requests that may answer `input_required` (and be retried with `inputResponses`). */
export const MULTI_ROUND_METHODS = new Set(['tools/call', 'prompts/get', 'resources/read']);
