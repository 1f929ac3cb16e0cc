import type { FetchLike, Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { readFile } from 'node:fs/promises';
import type { HttpTransportConfig, StdioTransportConfig, TransportConfig } from '../config/types.js';
import { GatewayError, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ShareProvider } from '../share/index.js';
import { findOnPath } from './command-path.js';
import { type Era, discoveredAsInitialized, envelopeFor, refusedForModern } from './era.js';
import { type ToolHeaders, learningToolHeaders, withModernHeaders } from './modern-headers.js';
import { openShareTransport } from './share-transport.js';
import { PROBE_TIMEOUT_MS, StdioUpstream, describeExit, type StdioServerSpec } from './stdio-upstream.js';
import { UpstreamConnection, type UpstreamHandlers } from './upstream.js';

/** What a backend connection needs from its surroundings. */
export interface UpstreamContext {
  label: string;
  logger: Logger;
  /** Dials `type: zrok` backends (local tokens work too). */
  provider: ShareProvider;
  /** A stdio backend writing a longer line is stopped (`max_message_bytes`). */
  maxLineBytes?: number;
}

/** The opening exchange a connection is made with. */
export interface InitializeRequest {
  /** `initialize` params (2025 shape): a modern backend hears their capabilities and clientInfo with every request. */
  params: Record<string, unknown>;
  timeoutMs: number;
  /** The backend's era when already known: a legacy backend is not probed again. */
  era?: Era | undefined;
  /** How long `server/discover` may go unanswered (default PROBE_TIMEOUT_MS). */
  probeTimeoutMs?: number;
}

/** An opened connection and what the server said about itself (a discover result in initialize's shape). */
export interface OpenedUpstream {
  connection: UpstreamConnection;
  result: Record<string, unknown>;
  era: Era;
}

/** The cause of a connection closed by the backend while it was asked `server/discover`. */
const CLOSED_ON_PROBE = 'closed on server/discover';

/**
 * Opens, starts and initializes a connection to a backend. An HTTP backend speaks streamable
 * HTTP unless its `protocol` says `sse`, as the newest original does (no guessing between them).
 */
export async function openUpstream(
  config: TransportConfig,
  context: UpstreamContext,
  init: InitializeRequest,
  handlers: UpstreamHandlers,
  /** A stdio backend's process started ahead (`warm`), not yet initialized. */
  prestarted?: StdioUpstream,
): Promise<OpenedUpstream> {
  if (config.type === 'http' || config.type === 'https') {
    const [fetchImpl, clients] = await Promise.all([backendFetch(config), loadHttpClients()]);
    return handshake(httpTransport(config, config.protocol ?? 'streamable', fetchImpl, clients, context.logger), context, init, handlers);
  }
  if (config.type === 'stdio') {
    prestarted?.logTo(context.logger);
    try {
      return await openStdio(config, context, init, handlers, prestarted);
    } catch (error) {
      // Some 2025 servers exit on any request before initialize: a new process, without the probe.
      if (!(error instanceof GatewayError && error.cause === CLOSED_ON_PROBE)) throw error;
      context.logger.debug({ backend: context.label }, 'backend exited on server/discover; starting it again for initialize');
      return openStdio(config, context, { ...init, era: 'legacy' }, handlers);
    }
  }
  return handshake(await rawTransport(config, context), context, init, handlers);
}

async function openStdio(
  config: StdioTransportConfig,
  context: UpstreamContext,
  init: InitializeRequest,
  handlers: UpstreamHandlers,
  prestarted?: StdioUpstream,
): Promise<OpenedUpstream> {
  const spec = stdioSpec(config);
  const upstream = prestarted ?? new StdioUpstream(spec, { logger: context.logger, label: context.label });
  try {
    const limit = context.maxLineBytes === undefined ? {} : { maxLineBytes: context.maxLineBytes };
    return await handshake(upstream.transport(limit), context, init, handlers);
  } catch (error) {
    if (error instanceof GatewayError && error.cause === CLOSED_ON_PROBE) throw error;
    // A process that died says more about why than the closed pipe does.
    // (stdout may close a moment before the exit is reported)
    const exit = await Promise.race([upstream.exited, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 250))]);
    if (exit !== undefined) {
      const asked = init.era === 'legacy' ? 'initialize' : 'server/discover or initialize';
      throw new GatewayError('UPSTREAM_START_FAILED', `backend '${context.label}': ${describeExit(spec, exit)} before answering ${asked}`);
    }
    await upstream.stop();
    throw error;
  }
}

/**
 * How a stdio backend's process is started. A closed environment may have no PATH: the command
 * is then found on the gateway's own PATH, as it would be with an inherited one.
 */
export function stdioSpec(config: StdioTransportConfig): StdioServerSpec {
  const closed = config.envPolicy === 'closed';
  return {
    command: closed ? findOnPath(config.command, process.env['PATH']) : config.command,
    args: config.args,
    env: config.env,
    ...(closed && { inheritEnv: false }),
    ...(config.workingDir === undefined ? {} : { cwd: config.workingDir }),
  };
}

async function rawTransport(config: TransportConfig, context: UpstreamContext): Promise<Transport> {
  switch (config.type) {
    case 'zrok': {
      const connector = await context.provider.dial(config.shareToken);
      return openShareTransport(connector);
    }
    default:
      throw new GatewayError('CONFIG_INVALID', `unsupported transport type '${config.type}'`);
  }
}

/** The SDK's HTTP client transports, loaded for HTTP backends only: most configurations have none. */
async function loadHttpClients(): Promise<HttpClients> {
  const [sse, streamable] = await Promise.all([import('@modelcontextprotocol/sdk/client/sse.js'), import('@modelcontextprotocol/sdk/client/streamableHttp.js')]);
  return { SSEClientTransport: sse.SSEClientTransport, StreamableHTTPClientTransport: streamable.StreamableHTTPClientTransport };
}

interface HttpClients {
  SSEClientTransport: typeof import('@modelcontextprotocol/sdk/client/sse.js').SSEClientTransport;
  StreamableHTTPClientTransport: typeof import('@modelcontextprotocol/sdk/client/streamableHttp.js').StreamableHTTPClientTransport;
}

function httpTransport(config: HttpTransportConfig, protocol: 'sse' | 'streamable', fetchImpl: FetchLike, clients: HttpClients, logger: Logger): Transport {
  const url = new URL(config.endpoint);
  const tools = toolHeadersOf(config);
  const options = { requestInit: { headers: { ...config.headers } }, fetch: withModernHeaders(fetchImpl, tools) };
  const transport = protocol === 'streamable' ? new clients.StreamableHTTPClientTransport(url, options) : new clients.SSEClientTransport(url, options);
  return learningToolHeaders(transport, tools, logger);
}

/** The `Mcp-Param-*` declarations of an HTTP backend's tools, learnt from any of its connections' tools/list. */
const toolHeaders = new WeakMap<HttpTransportConfig, ToolHeaders>();

function toolHeadersOf(config: HttpTransportConfig): ToolHeaders {
  let tools = toolHeaders.get(config);
  if (tools === undefined) {
    tools = new Map();
    toolHeaders.set(config, tools);
  }
  return tools;
}

/** One fetch per HTTP backend config, shared by its discovery and every session's connection. */
const fetches = new WeakMap<HttpTransportConfig, Promise<FetchLike>>();

/**
 * The fetch an HTTP backend is reached with: undici with a dispatcher of its own, so that it
 * goes to the declared endpoint only. Environment proxies (HTTP_PROXY, HTTPS_PROXY, NO_PROXY)
 * only with `allow_environment_proxy`, redirects only with `allow_redirects` (a redirect
 * otherwise fails the request, naming the key); `tls:` settings apply either way.
 */
function backendFetch(config: HttpTransportConfig): Promise<FetchLike> {
  let pending = fetches.get(config);
  if (pending === undefined) {
    pending = makeBackendFetch(config);
    fetches.set(config, pending);
    pending.catch(() => fetches.delete(config));
  }
  return pending;
}

async function makeBackendFetch(config: HttpTransportConfig): Promise<FetchLike> {
  const tls = await tlsOptions(config);
  // Loaded for HTTP backends only: most configurations have none.
  const { Agent, EnvHttpProxyAgent, fetch: undiciFetch } = await import('undici');
  const dispatcher = config.allowEnvironmentProxy ? new EnvHttpProxyAgent({ connect: tls, requestTls: tls }) : new Agent({ connect: tls });
  const redirect = config.allowRedirects ? ('follow' as const) : ('manual' as const);
  return async (url: string | URL, init?: RequestInit) => {
    const response = await undiciFetch(url, { ...(init as object), dispatcher, redirect });
    if (redirect === 'manual' && response.status >= 300 && response.status < 400) {
      await response.body?.cancel().catch(() => undefined);
      throw new GatewayError('PROTOCOL_ERROR', `the endpoint answered HTTP ${response.status} (a redirect), not followed without allow_redirects: true`);
    }
    return response;
  };
}

/** What `tls:` asks of the connection: an internal CA, or no verification. */
async function tlsOptions(config: HttpTransportConfig): Promise<{ ca?: string; rejectUnauthorized: boolean }> {
  const tls = config.tls;
  if (tls === undefined) return { rejectUnauthorized: true };
  let ca: string | undefined;
  if (tls.caCertFile !== undefined) {
    try {
      ca = await readFile(tls.caCertFile, 'utf8');
    } catch (error) {
      throw new GatewayError('CONFIG_INVALID', `cannot read tls.ca_cert_file ${tls.caCertFile}: ${(error as NodeJS.ErrnoException).code ?? describeError(error)}`);
    }
  }
  return { ...(ca === undefined ? {} : { ca }), rejectUnauthorized: !tls.insecureSkipVerify };
}

/**
 * Opens a connection in the backend's own era, as the SDK v2 client's `auto` mode does: a
 * `server/discover` probe first (unless the backend is known to be a 2025 one), `initialize` when
 * the server does not offer 2026-07-28. The probe waits at most PROBE_TIMEOUT_MS, for 2025 servers
 * that ignore what they do not know (most answer -32601 at once); a modern server slower than that
 * still works: it refuses the `initialize` that follows, naming 2026-07-28, and is probed again.
 */
async function handshake(transport: Transport, context: UpstreamContext, init: InitializeRequest, handlers: UpstreamHandlers): Promise<OpenedUpstream> {
  const connection = new UpstreamConnection(transport, context.label, context.logger);
  const deadline = performance.now() + init.timeoutMs;
  const modern = (result: Record<string, unknown>): OpenedUpstream => {
    connection.speakModern(init.params, (result['capabilities'] as Record<string, unknown> | undefined) ?? {});
    return { connection, result, era: 'modern' };
  };
  try {
    await connection.start(handlers);
    if (init.era !== 'legacy') {
      const discovered = await probe(connection, init, Math.min(init.probeTimeoutMs ?? PROBE_TIMEOUT_MS, init.timeoutMs));
      if (discovered !== undefined) return modern(discovered);
      if (connection.closed) throw new GatewayError('UPSTREAM_CLOSED', `backend '${context.label}' closed the connection on server/discover`, { cause: CLOSED_ON_PROBE });
    }
    const timeoutMs = Math.max(1, Math.round(deadline - performance.now()));
    const response = await connection.request('initialize', init.params, { timeoutMs });
    if (response.error !== undefined && init.era !== 'legacy' && refusedForModern(response.error)) {
      // A modern server that was slow to start: its answer to the probe came too late.
      const discovered = await probe(connection, init, Math.max(1, Math.round(deadline - performance.now())));
      if (discovered !== undefined) return modern(discovered);
    }
    if (response.error !== undefined || response.result === undefined) {
      throw new GatewayError('UPSTREAM_START_FAILED', `backend '${context.label}' refused initialize: ${response.error?.message ?? 'no result'}`);
    }
    connection.notify('notifications/initialized');
    return { connection, result: response.result, era: 'legacy' };
  } catch (error) {
    await connection.close().catch(() => undefined);
    if (error instanceof GatewayError && error.code === 'UPSTREAM_TIMEOUT') {
      throw new GatewayError('UPSTREAM_TIMEOUT', `backend '${context.label}' did not answer initialize within ${init.timeoutMs} ms`);
    }
    if (error instanceof GatewayError) throw error;
    throw new GatewayError('UPSTREAM_START_FAILED', `backend '${context.label}' could not start: ${describeError(error)}`, { cause: error });
  }
}

/** Asks `server/discover`: the server's offer in initialize's shape, or undefined for a 2025 server (any error, no answer). */
async function probe(connection: UpstreamConnection, init: InitializeRequest, timeoutMs: number): Promise<Record<string, unknown> | undefined> {
  try {
    const response = await connection.request('server/discover', { _meta: envelopeFor(init.params) }, { timeoutMs });
    return discoveredAsInitialized(response.result);
  } catch {
    return undefined; // unanswered in time, or not sent (an HTTP 4xx from a 2025 server)
  }
}
