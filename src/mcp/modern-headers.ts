import type { FetchLike, Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Logger } from '../log.js';
import { META } from './era.js';

/**
 * The headers a 2026-07-28 request carries over Streamable HTTP besides its body, as the gateway
 * sends them to an HTTP backend: `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`, and the
 * `Mcp-Param-*` of tools that declare them (SEP-2243). A tool may mark primitive properties of its
 * `inputSchema` with `x-mcp-header: Name`; a client calling it over HTTP then sends each such
 * argument again as the header `Mcp-Param-Name`, and a server rejects the call when one is
 * missing or disagrees with the body (-32020). A declaration that breaks the rules makes the tool
 * unusable: conforming clients leave it out of the list, and so does the gateway. The SDK keeps
 * its implementation internal, so these are the rules as the revision states them, nothing more.
 */

type Obj = Record<string, unknown>;

/** The header declarations of a backend's tools, by tool name (as the backend names it). */
export type ToolHeaders = Map<string, readonly HeaderDeclaration[]>;

/** One marked property: where it sits in `arguments`, and its header. */
export interface HeaderDeclaration {
  readonly path: readonly string[];
  readonly header: string;
}

/** What a tool's schema declares: its headers, or why the declaration is invalid. */
export type HeaderScan = { valid: true; declarations: HeaderDeclaration[] } | { valid: false; reason: string };

/** RFC 9110 token characters: what a header name may be made of. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const PRIMITIVES = new Set(['string', 'integer', 'boolean']);
/** Keywords under which a property is not statically reachable: a marker there is invalid. */
/** Of those, the ones whose value maps names to schemas. */
const SCHEMA_MAPS = new Set(['patternProperties', 'dependentSchemas', '$defs', 'definitions']);
const UNREACHABLE = ['items', 'prefixItems', 'contains', 'additionalProperties', 'unevaluatedProperties', 'unevaluatedItems', 'propertyNames', 'patternProperties', 'dependentSchemas', 'oneOf', 'anyOf', 'allOf', 'not', 'if', 'then', 'else', '$defs', 'definitions'];

/** Scans an `inputSchema` for `x-mcp-header` markers. */
export function scanHeaderDeclarations(schema: unknown): HeaderScan {
  const declarations: HeaderDeclaration[] = [];
  const seen = new Set<string>();
  const visit = (node: unknown, path: string[], reachable: boolean): string | undefined => {
    if (node === null || typeof node !== 'object') return undefined;
    const s = node as Obj;
    if ('x-mcp-header' in s) {
      const header = s['x-mcp-header'];
      const where = path.join('.') || '<root>';
      if (!reachable || path.length === 0) return `${where}: x-mcp-header only on properties reached through 'properties'`;
      if (typeof header !== 'string' || !TOKEN.test(header)) return `${where}: x-mcp-header must be a header name (an RFC 9110 token)`;
      if (typeof s['type'] !== 'string' || !PRIMITIVES.has(s['type'])) return `${where}: x-mcp-header only on string, integer or boolean properties`;
      if (seen.has(header.toLowerCase())) return `x-mcp-header '${header}' is declared twice`;
      seen.add(header.toLowerCase());
      declarations.push({ path, header });
    }
    const properties = s['properties'];
    if (properties !== null && typeof properties === 'object') {
      for (const [key, child] of Object.entries(properties)) {
        const fault = visit(child, [...path, key], reachable);
        if (fault !== undefined) return fault;
      }
    }
    for (const keyword of UNREACHABLE) {
      const sub = s[keyword];
      if (sub === undefined || sub === null || typeof sub !== 'object') continue;
      for (const branch of Array.isArray(sub) ? sub : SCHEMA_MAPS.has(keyword) ? Object.values(sub) : [sub]) {
        const fault = visit(branch, [...path, `<${keyword}>`], false);
        if (fault !== undefined) return fault;
      }
    }
    return undefined;
  };
  const fault = visit(schema, [], true);
  return fault === undefined ? { valid: true, declarations } : { valid: false, reason: fault };
}

/** The argument at `path` of a call's `arguments`, and its text as a header carries it (undefined when absent or not a primitive). */
function declaredArgument(args: unknown, path: readonly string[]): { value: unknown; text: string | undefined } {
  let value: unknown = args;
  for (const key of path) value = value !== null && typeof value === 'object' ? (value as Obj)[key] : undefined;
  const text = typeof value === 'string' ? value : typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value)) ? String(value) : undefined;
  return { value, text };
}

/** The `Mcp-Param-*` headers for a call with `args`, by the tool's declarations. */
export function paramHeaders(declarations: readonly HeaderDeclaration[], args: unknown): [string, string][] {
  const headers: [string, string][] = [];
  for (const { path, header } of declarations) {
    const { text } = declaredArgument(args, path);
    if (text !== undefined) headers.push([`Mcp-Param-${header}`, headerSafe(text)]);
  }
  return headers;
}

/**
 * As a server: what disagrees between a call's `Mcp-Param-*` headers (`header(name)`, lower-case
 * names) and its `arguments`, by the tool's declarations; undefined when they agree. An argument
 * the body carries needs its header, with the same value (numbers compared as numbers).
 */
export function paramHeaderMismatch(declarations: readonly HeaderDeclaration[], args: unknown, header: (name: string) => string | undefined): string | undefined {
  for (const { path, header: name } of declarations) {
    const { value, text } = declaredArgument(args, path);
    if (text === undefined) continue;
    const sent = header(`mcp-param-${name.toLowerCase()}`);
    if (sent === undefined) return `the body carries ${path.join('.')} but the Mcp-Param-${name} header is absent`;
    const decoded = decodeHeaderValue(sent.trim());
    const same = typeof value === 'number' && decoded !== undefined && /^-?\d+(\.\d+)?$/.test(decoded) ? Number(decoded) === value : decoded === text;
    if (!same) return `the Mcp-Param-${name} header disagrees with the body's ${path.join('.')}`;
  }
  return undefined;
}

/** A header value, with the `=?base64?…?=` sentinel decoded (undefined when malformed). */
export function decodeHeaderValue(value: string): string | undefined {
  const match = /^=\?base64\?([A-Za-z0-9+/]*={0,2})\?=$/.exec(value);
  if (match === null) return value;
  return Buffer.from(match[1] ?? '', 'base64').toString('utf8');
}

/** A header value as 2026-07-28 carries it: as is when plain printable ASCII, else base64 in `=?base64?…?=`. */
export function headerSafe(value: string): string {
  const plain = value !== '' && value === value.trim() && /^[\x20-\x7e\t]*$/.test(value) && !(value.startsWith('=?base64?') && value.endsWith('?='));
  return plain ? value : `=?base64?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

/** The request field each method's `Mcp-Name` header mirrors. */
const MCP_NAME_FIELD: Readonly<Record<string, string>> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' };

/**
 * A fetch (one per connection) that adds the 2026-07-28 headers to each request carrying the
 * envelope, and cancels such a request the way that revision's HTTP does: by closing its
 * exchange. The SDK v1 transport we post with knows nothing of either, nor lets one request be
 * aborted alone; so each enveloped request gets an AbortController of its own here, kept while
 * its response is read, and the `notifications/cancelled` the connection sends for it aborts it
 * (and is posted too). 2025 requests (no envelope) pass untouched, after one substring test.
 */
export function withModernHeaders(fetchImpl: FetchLike, tools: ToolHeaders): FetchLike {
  const exchanges = new Map<string, AbortController>();
  return (url, init) => {
    const body = init?.body;
    if (typeof body !== 'string') return fetchImpl(url, init);
    if (exchanges.size > 0 && body.includes('"notifications/cancelled"')) cancelExchange(body, exchanges);
    if (!body.includes(META.protocolVersion)) return fetchImpl(url, init);
    let message: { id?: unknown; method?: unknown; params?: Obj };
    try {
      message = JSON.parse(body) as typeof message;
    } catch {
      return fetchImpl(url, init);
    }
    const version = (message.params?.['_meta'] as Obj | undefined)?.[META.protocolVersion];
    if (typeof message.method !== 'string' || typeof version !== 'string') return fetchImpl(url, init);
    const headers = new Headers(init?.headers);
    headers.set('mcp-protocol-version', version);
    headers.set('mcp-method', message.method);
    const field = MCP_NAME_FIELD[message.method];
    const name = field === undefined ? undefined : message.params?.[field];
    if (typeof name === 'string') headers.set('mcp-name', headerSafe(name));
    const declared = message.method === 'tools/call' && typeof name === 'string' ? tools.get(name) : undefined;
    if (declared !== undefined) for (const [header, value] of paramHeaders(declared, message.params?.['arguments'])) headers.set(header, value);
    const id = typeof message.id === 'string' || typeof message.id === 'number' ? String(message.id) : undefined;
    if (id === undefined) return fetchImpl(url, { ...init, headers }).then(answerInBody);
    const exchange = new AbortController();
    exchanges.set(id, exchange);
    const signal = init?.signal === undefined || init.signal === null ? exchange.signal : AbortSignal.any([init.signal, exchange.signal]);
    const forget = (): void => {
      if (exchanges.get(id) === exchange) exchanges.delete(id);
    };
    return fetchImpl(url, { ...init, headers, signal }).then(answerInBody).then(
      (response) => whileRead(response, forget),
      (error: unknown) => {
        forget();
        throw error;
      },
    );
  };
}

/** Aborts the exchange of the request a `notifications/cancelled` names. */
function cancelExchange(body: string, exchanges: Map<string, AbortController>): void {
  try {
    const requestId = (JSON.parse(body) as { method?: unknown; params?: { requestId?: unknown } }).params?.requestId;
    if (typeof requestId !== 'string' && typeof requestId !== 'number') return;
    const exchange = exchanges.get(String(requestId));
    exchanges.delete(String(requestId));
    exchange?.abort();
  } catch {
    // not JSON: nothing to cancel
  }
}

/** `response`, with `done` called once its body has been read to the end, failed or been cancelled. */
function whileRead(response: Response, done: () => void): Response {
  if (response.body === null) {
    done();
    return response;
  }
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  response.body
    .pipeTo(writable)
    .catch(() => undefined)
    .finally(done);
  return new Response(readable, { status: response.status, statusText: response.statusText, headers: response.headers });
}

/**
 * A 2026-07-28 server refuses a request it cannot take (headers that disagree with the body,
 * -32020; an unsupported version…) with HTTP 400 and the JSON-RPC error as the body. That error
 * is the answer to the request, and the client is to hear it as such: the SDK v1 transport would
 * turn it into a failure to reach the server. So it is handed on as a 200 with the same body.
 */
async function answerInBody(response: Response): Promise<Response> {
  if (response.status !== 400 || !(response.headers.get('content-type') ?? '').includes('application/json')) return response;
  const body = await response.text();
  let parsed: { jsonrpc?: unknown; id?: unknown; error?: unknown } | undefined;
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    parsed = undefined;
  }
  const answer = parsed?.jsonrpc === '2.0' && parsed.error !== undefined && (typeof parsed.id === 'string' || typeof parsed.id === 'number');
  return new Response(body, { status: answer ? 200 : 400, statusText: answer ? 'OK' : response.statusText, headers: response.headers });
}

/**
 * `transport`, noting the header declarations of the tools in every tools/list answer it brings
 * (into `tools`) and taking out tools whose declaration is invalid, with a warning.
 */
export function learningToolHeaders(transport: Transport, tools: ToolHeaders, logger: Logger): Transport {
  const start = transport.start.bind(transport);
  transport.start = () => {
    const deliver = transport.onmessage;
    transport.onmessage = (message, extra) => {
      // A 2026-07-28 result says what it is (`resultType`); a 2025 server's tools are not its business.
      const result = (message as { result?: Obj }).result;
      if (result !== undefined && result['resultType'] !== undefined) keepUsableTools(result, tools, logger, 'warn');
      deliver?.(message, extra);
    };
    return start();
  };
  return transport;
}

/**
 * Takes out of a tools/list answer (`result`, changed in place) the tools whose x-mcp-header
 * declaration is invalid, as a conforming 2026-07-28 client would, logging each at `level`;
 * notes the others' declarations into `tools`.
 */
export function keepUsableTools(result: Obj, tools: ToolHeaders, logger: Logger, level: 'warn' | 'debug'): void {
  const listed = result['tools'];
  if (!Array.isArray(listed)) return;
  const usable = (listed as Obj[]).filter((tool) => {
    const name = tool['name'];
    if (typeof name !== 'string') return true;
    const scan = scanHeaderDeclarations(tool['inputSchema']);
    if (scan.valid && scan.declarations.length > 0) tools.set(name, scan.declarations);
    else tools.delete(name);
    if (!scan.valid) logger[level]({ tool: name, reason: scan.reason }, 'leaving out a tool whose x-mcp-header declaration is invalid');
    return scan.valid;
  });
  if (usable.length !== listed.length) result['tools'] = usable;
}
