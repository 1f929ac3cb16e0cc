import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { McpHttpEndpoint } from '../mcp/http-endpoint.js';
import { HTTP_TIMEOUTS } from '../mcp/share-server.js';
import { openShareTransport } from '../mcp/share-transport.js';
import type { ShareConnector } from '../share/index.js';

/** Options for {@link serveHttp}. */
export interface ServeHttpOptions {
  connector: ShareConnector;
  host: string;
  port: number;
  /** Required to bind anything but loopback. */
  allowRemote?: boolean;
  jsonResponse?: boolean;
  /** Every POST stands alone; all of them share one session to the share. */
  stateless?: boolean;
  logger: Logger;
}

/** A running local HTTP endpoint for a share. */
export interface HttpService {
  /** The streamable HTTP URL, e.g. http://127.0.0.1:8080/mcp */
  readonly url: string;
  close(): Promise<void>;
}

/** True for names and addresses that only this machine can reach. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare === 'localhost' || bare === '::1' || /^127\.\d+\.\d+\.\d+$/.test(bare);
}

/** Refuses a non-loopback address unless the user said `--allow-remote`. */
export function assertBindAllowed(host: string, allowRemote: boolean): void {
  if (!isLoopback(host) && !allowRemote) {
    throw new GatewayError('USAGE', `refusing to bind ${host}: it is reachable from other machines; pass --allow-remote to do it anyway`);
  }
}

/** Parses `--bind HOST:PORT` (`[::1]:8080` for IPv6). */
export function parseBind(value: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(value);
  const port = match === null ? NaN : Number(match[2]);
  if (match === null || !(port >= 0 && port <= 65535)) {
    throw new GatewayError('USAGE', `invalid --bind '${value}': expected HOST:PORT, e.g. 127.0.0.1:8080`);
  }
  return { host: (match[1] as string).replace(/^\[|\]$/g, ''), port };
}

/**
 * `mcp-tools http`: the share as standard MCP over HTTP on this machine. Each HTTP client
 * session opens its own session stream to the share. Loopback only unless `allowRemote`, and
 * then Host/Origin are checked against the bound loopback names (DNS-rebinding protection).
 */
export async function serveHttp(options: ServeHttpOptions): Promise<HttpService> {
  const { host, logger, connector } = options;
  assertBindAllowed(host, options.allowRemote === true);
  // The endpoint needs the bound port for its Host check, so it is made once we listen.
  const holder: { endpoint?: McpHttpEndpoint } = {};
  const server = createServer({ noDelay: true, ...HTTP_TIMEOUTS }, (req, res) => {
    if (holder.endpoint !== undefined) holder.endpoint.handle(req, res);
    else res.writeHead(503).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(new GatewayError('BIND_FAILED', `cannot listen on ${host}:${options.port}: ${error.code ?? error.message}`, { cause: error }));
    });
    server.listen(options.port, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const allowedHosts = isLoopback(host)
    ? [...new Set([formatHost(host, port), `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`])]
    : undefined;
  const bound = new McpHttpEndpoint({
    logger,
    jsonResponse: options.jsonResponse ?? false,
    stateless: options.stateless ?? false,
    openSession: () => openShareTransport(connector),
    ...(allowedHosts === undefined ? {} : { allowedHosts }),
  });
  holder.endpoint = bound;
  const url = `http://${formatHost(host, port)}/mcp`;
  return { url, close: () => closeServer(server, bound) };
}

function formatHost(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

async function closeServer(server: Server, endpoint: McpHttpEndpoint): Promise<void> {
  await endpoint.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
