import type { FetchLike, Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { readFile } from 'node:fs/promises';
import type { HttpTransportConfig, StdioTransportConfig, TransportConfig } from '../config/types.js';
import { GatewayError, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ShareProvider } from '../share/index.js';
import { openShareTransport } from './share-transport.js';
import { StdioUpstream, describeExit, type StdioServerSpec } from './stdio-upstream.js';
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

/** The initialize exchange a connection is opened with. */
export interface InitializeRequest {
  params: Record<string, unknown>;
  timeoutMs: number;
}

/** An initialized connection and what the server said about itself. */
export interface OpenedUpstream {
  connection: UpstreamConnection;
  result: Record<string, unknown>;
}

/**
 * Opens, starts and initializes a connection to a backend. HTTP backends without a `protocol`
 * try streamable HTTP first and fall back to legacy SSE, as most servers speak one of the two.
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
    const protocols = config.protocol === undefined ? (['streamable', 'sse'] as const) : [config.protocol];
    const fetchImpl = await tlsFetch(config);
    const clients = await loadHttpClients();
    let lastError: unknown;
    for (const protocol of protocols) {
      try {
        return await initialize(httpTransport(config, protocol, fetchImpl, clients), context, init, handlers);
      } catch (error) {
        lastError = error;
        context.logger.debug({ backend: context.label, protocol, err: describeError(error) }, 'http backend: protocol failed');
      }
    }
    throw lastError;
  }
  if (config.type === 'stdio') {
    const spec = stdioSpec(config);
    prestarted?.logTo(context.logger);
    const upstream = prestarted ?? new StdioUpstream(spec, { logger: context.logger, label: context.label });
    try {
      const limit = context.maxLineBytes === undefined ? {} : { maxLineBytes: context.maxLineBytes };
      return await initialize(upstream.transport(limit), context, init, handlers);
    } catch (error) {
      // A process that died says more about why than the closed pipe does.
      // (stdout may close a moment before the exit is reported)
      const exit = await Promise.race([upstream.exited, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 250))]);
      if (exit !== undefined) {
        throw new GatewayError('UPSTREAM_START_FAILED', `backend '${context.label}': ${describeExit(spec, exit)} before answering initialize`);
      }
      await upstream.stop();
      throw error;
    }
  }
  return initialize(await rawTransport(config, context), context, init, handlers);
}

/** How a stdio backend's process is started. */
export function stdioSpec(config: StdioTransportConfig): StdioServerSpec {
  return { command: config.command, args: config.args, env: config.env, ...(config.workingDir === undefined ? {} : { cwd: config.workingDir }) };
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

function httpTransport(config: HttpTransportConfig, protocol: 'sse' | 'streamable', fetchImpl: FetchLike | undefined, clients: HttpClients): Transport {
  const url = new URL(config.endpoint);
  const options = { requestInit: { headers: { ...config.headers } }, ...(fetchImpl === undefined ? {} : { fetch: fetchImpl }) };
  return protocol === 'streamable' ? new clients.StreamableHTTPClientTransport(url, options) : new clients.SSEClientTransport(url, options);
}

/** A fetch that trusts an internal CA or skips verification, when `tls:` asks for it. */
async function tlsFetch(config: HttpTransportConfig): Promise<FetchLike | undefined> {
  const tls = config.tls;
  if (tls === undefined || (tls.caCertFile === undefined && !tls.insecureSkipVerify)) return undefined;
  let ca: string | undefined;
  if (tls.caCertFile !== undefined) {
    try {
      ca = await readFile(tls.caCertFile, 'utf8');
    } catch (error) {
      throw new GatewayError('CONFIG_INVALID', `cannot read tls.ca_cert_file ${tls.caCertFile}: ${(error as NodeJS.ErrnoException).code ?? describeError(error)}`);
    }
  }
  // undici only for a backend with its own TLS settings: Node's fetch serves all the others.
  const { Agent, fetch: undiciFetch } = await import('undici');
  const dispatcher = new Agent({ connect: { ...(ca === undefined ? {} : { ca }), rejectUnauthorized: !tls.insecureSkipVerify } });
  return (url: string | URL, init?: RequestInit) => undiciFetch(url, { ...(init as object), dispatcher });
}

async function initialize(transport: Transport, context: UpstreamContext, init: InitializeRequest, handlers: UpstreamHandlers): Promise<OpenedUpstream> {
  const connection = new UpstreamConnection(transport, context.label, context.logger);
  try {
    await connection.start(handlers);
    const response = await connection.request('initialize', init.params, { timeoutMs: init.timeoutMs });
    if (response.error !== undefined || response.result === undefined) {
      throw new GatewayError('UPSTREAM_START_FAILED', `backend '${context.label}' refused initialize: ${response.error?.message ?? 'no result'}`);
    }
    connection.notify('notifications/initialized');
    return { connection, result: response.result };
  } catch (error) {
    await connection.close().catch(() => undefined);
    if (error instanceof GatewayError && error.code === 'UPSTREAM_TIMEOUT') {
      throw new GatewayError('UPSTREAM_TIMEOUT', `backend '${context.label}' did not answer initialize within ${init.timeoutMs} ms`);
    }
    if (error instanceof GatewayError) throw error;
    throw new GatewayError('UPSTREAM_START_FAILED', `backend '${context.label}' could not start: ${describeError(error)}`, { cause: error });
  }
}
