// The sequential-latency paths: how each one is started, reached and stopped.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { EVERYTHING_BIN, binPath, connectThroughTools, startBridge, startGateway, type RunningShare } from '../test/helpers/cli.js';
import { connectV2ThroughTools } from '../test/helpers/era-fixtures.js';
import { timeSequential } from './stats.js';
import { benchFile, freePort, nodeModule, onCleanup, runAndForget, sessionDialer, spawnTracked, tempDir, waitForPort, type Tracked } from './support.js';

/** What every path gets: a home for local shares and the environment our CLIs run with. */
export interface BenchContext {
  home: string;
  env: NodeJS.ProcessEnv;
  quick: boolean;
  /**
   * Calls of the session a long-running hop (bridge, gateway, `mcp-tools http`, a peer's server)
   * has served before the measured session opens: a daemon runs for days, so its code is measured
   * as V8 has compiled it by then, while every session's server and client start fresh.
   */
  daemonWarmup: number;
}

/** A connected client ready for `tool` calls, and how to take the path down again. */
export interface OpenPath {
  client: Client;
  tool: string;
  close(): Promise<void>;
}

/** One way of reaching server-everything's `echo`. */
export interface PathSpec {
  key: string;
  label: string;
  /** `reference`: not a product, a yardstick (see bench/fixtures/minimal-proxy.ts). */
  kind: 'floor' | 'ours' | 'peer' | 'reference';
  chain: string;
  /** False for paths shown for context only, outside the issue's targets. */
  inTargets: boolean;
  /** For peers: our path with the same kind of client (stdio or HTTP), for a like-for-like ratio. */
  sameClientAs?: string;
  open(ctx: BenchContext): Promise<OpenPath>;
}

/** The server under test, as a command line. */
export const EVERYTHING_COMMAND = [process.execPath, EVERYTHING_BIN, 'stdio'];

/** A new environment for our CLIs: local share in a temp home. */
export async function benchContext(quick: boolean, daemonWarmup = quick ? 20 : 2000): Promise<BenchContext> {
  const home = await tempDir('mcpgw-bench-');
  return { home, env: { MCP_GATEWAY_HOME: home, MCP_SHARE_PROVIDER: 'local' }, quick, daemonWarmup };
}

/**
 * Runs one earlier session of `ctx.daemonWarmup` calls through a long-running hop, then closes it:
 * what the daemon has done before an agent connects. The measured session is opened afterwards,
 * with its own fresh server process wherever the hop starts one a session.
 */
async function warmDaemon(ctx: BenchContext, tool: string, connect: () => Promise<{ client: Client; close(): Promise<void> }>): Promise<void> {
  if (ctx.daemonWarmup === 0) return;
  const earlier = await connect();
  try {
    await timeSequential(earlier.client, tool, ctx.daemonWarmup);
  } finally {
    await earlier.close();
  }
}

/** Connects an SDK client and registers its close; returns the client and an idempotent close. */
export async function connectClient(transport: Transport, name = 'bench'): Promise<{ client: Client; close: () => Promise<void> }> {
  const client = new Client({ name, version: '1.0.0' });
  await client.connect(transport);
  const closeClient = (): Promise<void> => client.close();
  const unregister = onCleanup(closeClient);
  return { client, close: () => runAndForget(unregister, closeClient) };
}

/** A direct stdio client of server-everything (the floor), and the server's pid. */
export async function connectDirect(): Promise<{ client: Client; close: () => Promise<void>; pid: number }> {
  const [command, ...args] = EVERYTHING_COMMAND as [string, ...string[]];
  const transport = new StdioClientTransport({ command, args, stderr: 'ignore' });
  const connected = await connectClient(transport, 'bench-direct');
  return { ...connected, pid: transport.pid ?? Number.NaN };
}

/** Starts a bridge or gateway and registers its stop. */
export function track(share: RunningShare): RunningShare {
  const unregister = onCleanup(() => share.stop());
  return {
    ...share,
    stop: async () => {
      await runAndForget(unregister, () => share.stop());
      return share.exited;
    },
  };
}

/** Our chain's client: the SDK Client over `mcp-tools run <token>`, registered for cleanup. */
export async function connectTools(token: string, env: NodeJS.ProcessEnv, extraArgs: readonly string[] = []): Promise<{ client: Client; pid: number; close: () => Promise<void> }> {
  const { client, transport } = await connectThroughTools(token, env, {}, extraArgs);
  const closeClient = (): Promise<void> => client.close();
  const unregister = onCleanup(closeClient);
  return { client, pid: transport.pid ?? Number.NaN, close: () => runAndForget(unregister, closeClient) };
}

/** A gateway config with `count` server-everything backends ev0…ev(count-1). */
export async function writeGatewayConfig(
  dir: string,
  count: number,
  options: { isolation?: 'session' | 'shared'; maxSessions?: number; name?: string; server?: readonly string[]; warm?: number } = {},
): Promise<string> {
  const [command, ...args] = options.server ?? EVERYTHING_COMMAND;
  const backends = Array.from({ length: count }, (_, i) =>
    [
      `  - id: ev${i}`,
      ...(options.isolation === undefined ? [] : [`    isolation: ${options.isolation}`]),
      ...(options.warm === undefined ? [] : [`    warm: ${options.warm}`]),
      '    transport:',
      '      type: stdio',
      `      command: ${JSON.stringify(command)}`,
      `      args: ${JSON.stringify(args)}`,
    ].join('\n'),
  );
  const yaml = [
    'aggregator:',
    '  name: bench-gateway',
    '  connection: { connect_timeout: 60s, call_timeout: 60s }',
    // As an operator running a gateway would: its log goes to a file, not to a pipe into the agent
    // (here the benchmark's client, which would wake for every call's log line).
    `log_file: ${JSON.stringify(join(dir, `${options.name ?? `gateway-${count}`}.log`))}`,
    ...(options.maxSessions === undefined ? [] : [`max_sessions: ${options.maxSessions}`]),
    'backends:',
    ...backends,
    '',
  ].join('\n');
  const path = join(dir, `${options.name ?? `gateway-${count}`}.yml`);
  await writeFile(path, yaml);
  return path;
}

function direct(): PathSpec {
  return {
    key: 'direct',
    label: 'direct stdio',
    kind: 'floor',
    inTargets: true,
    chain: 'SDK Client → StdioClientTransport → server',
    async open() {
      const { client, close } = await connectDirect();
      return { client, tool: 'echo', close };
    },
  };
}

/** `mcp-tools run` relaying every line itself instead of handing its stdio to the share. */
const RELAYED = ['--no-handover'];

function bridge(relayed = false): PathSpec {
  return {
    key: relayed ? 'bridge-relayed' : 'bridge',
    label: relayed ? 'ours: bridge, relayed (--no-handover)' : 'ours: bridge',
    kind: 'ours',
    inTargets: !relayed,
    chain: relayed
      ? 'SDK Client → mcp-tools run --no-handover (relays each line) → local share → mcp-bridge → server'
      : 'SDK Client → mcp-tools run → local share → mcp-bridge → server (stdio handed over: the client’s pipes are the server’s stdin/stdout)',
    async open(ctx) {
      const share = track(await startBridge([...EVERYTHING_COMMAND], ctx.env));
      await warmDaemon(ctx, 'echo', () => connectTools(share.token, ctx.env, relayed ? RELAYED : []));
      const tools = await connectTools(share.token, ctx.env, relayed ? RELAYED : []);
      return {
        client: tools.client,
        tool: 'echo',
        close: async () => {
          await tools.close();
          await share.stop();
        },
      };
    },
  };
}

function bridgeInProcess(): PathSpec {
  return {
    key: 'bridge-inproc',
    label: 'ours: bridge, in-process client',
    kind: 'ours',
    inTargets: false,
    chain: 'SDK Client → StreamTransport over a session stream opened in-process (no mcp-tools) → local share → mcp-bridge → server',
    async open(ctx) {
      const share = track(await startBridge([...EVERYTHING_COMMAND], ctx.env));
      const dialer = await sessionDialer(ctx.home, share.token);
      await warmDaemon(ctx, 'echo', async () => {
        const earlier = await dialer.connect('bench-inproc-earlier');
        return { client: earlier, close: () => earlier.close() };
      });
      const client = await dialer.connect('bench-inproc');
      const closeClient = (): Promise<void> => client.close();
      const unregister = onCleanup(closeClient);
      return {
        client,
        tool: 'echo',
        close: async () => {
          await runAndForget(unregister, closeClient);
          await share.stop();
        },
      };
    },
  };
}

/**
 * Our gateway chain; `relayed`: through `mcp-tools run --no-handover`; `fresh`: the gateway
 * process started for this session, with no earlier session through it.
 */
function gateway(count: number, variant: 'relayed' | 'fresh' | undefined = undefined): PathSpec {
  const backends = `${count} stdio backend${count === 1 ? '' : 's'}, isolation: session`;
  const relayed = variant === 'relayed';
  const fresh = variant === 'fresh';
  return {
    key: `gateway${count}${variant === undefined ? '' : `-${variant}`}`,
    label: `ours: gateway (${count} backend${count === 1 ? '' : 's'})${relayed ? ', relayed (--no-handover)' : fresh ? ', gateway just started' : ''}`,
    kind: 'ours',
    inTargets: variant === undefined,
    chain: relayed
      ? `SDK Client → mcp-tools run --no-handover (relays each line) → local share → mcp-gateway (${backends}) → server; calls ev0_echo`
      : `SDK Client → mcp-tools run → local share → mcp-gateway (${backends}; the client’s stdio handed over to it${fresh ? '; no session before this one' : ''}) → server; calls ev0_echo`,
    async open(ctx) {
      const share = track(await startGateway(await writeGatewayConfig(ctx.home, count, { name: `gateway-${count}${variant === undefined ? '' : `-${variant}`}` }), ctx.env));
      if (!fresh) await warmDaemon(ctx, 'ev0_echo', () => connectTools(share.token, ctx.env, relayed ? RELAYED : []));
      const tools = await connectTools(share.token, ctx.env, relayed ? RELAYED : []);
      return {
        client: tools.client,
        tool: 'ev0_echo',
        close: async () => {
          await tools.close();
          await share.stop();
        },
      };
    },
  };
}

/**
 * The SDK v2 client on the gateway chain over the same 2025-11-25 backend, speaking 2026-07-28
 * (the gateway translates: per-request `_meta` in, an `initialize`d session out) or 2025-11-25:
 * the same client library both ways, so their ratio is what speaking the new era costs.
 */
function gatewayV2(era: 'modern' | 'legacy'): PathSpec {
  const modern = era === 'modern';
  return {
    key: modern ? 'gateway1-modern' : 'gateway1-v2',
    label: modern ? 'ours: gateway (1 backend), SDK v2 client, 2026-07-28' : 'ours: gateway (1 backend), SDK v2 client, 2025-11-25',
    kind: 'ours',
    inTargets: false,
    chain: `SDK v2 Client (${modern ? 'pinned to 2026-07-28' : 'legacy mode: initialize, 2025-11-25'}) → mcp-tools run → local share → mcp-gateway (1 stdio backend, 2025-11-25, isolation: session) → server; calls ev0_echo`,
    async open(ctx) {
      const share = track(await startGateway(await writeGatewayConfig(ctx.home, 1, { name: `gateway-v2-${era}` }), ctx.env));
      const connect = (): ReturnType<typeof connectV2ThroughTools> => connectV2ThroughTools(share.token, ctx.env, modern ? { pin: '2026-07-28' } : 'legacy');
      await warmDaemon(ctx, 'ev0_echo', async () => {
        const earlier = await connect();
        return { client: earlier as unknown as Client, close: () => earlier.close() };
      });
      const client = await connect();
      const closeClient = (): Promise<void> => client.close();
      const unregister = onCleanup(closeClient);
      return {
        // The calls the benchmark makes (callTool, close) have the same shape in both SDKs.
        client: client as unknown as Client,
        tool: 'ev0_echo',
        close: async () => {
          await runAndForget(unregister, closeClient);
          await share.stop();
        },
      };
    },
  };
}

/** The least one JavaScript hop can cost: a proxy that only parses, renames and re-serialises. */
function minimalProxy(): PathSpec {
  return {
    key: 'minimal-proxy',
    label: 'reference: minimal JS proxy (one hop, nothing but parse/rename/serialise)',
    kind: 'reference',
    inTargets: false,
    chain: 'SDK Client → StdioClientTransport → bench/fixtures/minimal-proxy.js → server; calls ev0_echo',
    async open() {
      const transport = new StdioClientTransport({ command: process.execPath, args: [benchFile('fixtures/minimal-proxy.js'), ...EVERYTHING_COMMAND], stderr: 'ignore' });
      const { client, close } = await connectClient(transport, 'bench-minimal-proxy');
      return { client, tool: 'ev0_echo', close };
    },
  };
}

/** Starts supergateway --stateful (streamable HTTP) in front of server-everything on a loopback port. */
async function startSupergateway(): Promise<{ url: string; proc: Tracked }> {
  const port = await freePort();
  const preload = pathToFileURL(benchFile('fixtures/loopback-only.js')).href;
  const stdio = EVERYTHING_COMMAND.map((part) => `'${part}'`).join(' ');
  const proc = spawnTracked(
    process.execPath,
    [nodeModule('supergateway/dist/index.js'), '--stdio', stdio, '--outputTransport', 'streamableHttp', '--stateful', '--port', String(port), '--logLevel', 'none'],
    { env: { ...process.env, NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import ${preload}`.trim() } },
  );
  await waitForPort(port, 30_000, () => proc.proc.exitCode !== null).catch((error: Error) => {
    throw new Error(`${error.message}\n${proc.output()}`);
  });
  return { url: `http://127.0.0.1:${port}/mcp`, proc };
}

function bridgeHttp(): PathSpec {
  return {
    key: 'bridge-http',
    label: 'ours: bridge (HTTP client)',
    kind: 'ours',
    inTargets: false,
    chain: 'SDK Client → StreamableHTTPClientTransport → mcp-tools http → local share → mcp-bridge → server',
    async open(ctx) {
      const share = track(await startBridge([...EVERYTHING_COMMAND], ctx.env));
      const port = await freePort();
      const http = spawnTracked(process.execPath, [binPath('mcp-tools'), 'http', share.token, '--bind', `127.0.0.1:${port}`], { env: { ...process.env, ...ctx.env } });
      await waitForPort(port, 30_000, () => http.proc.exitCode !== null).catch((error: Error) => {
        throw new Error(`${error.message}\n${http.output()}`);
      });
      const url = new URL(`http://127.0.0.1:${port}/mcp`);
      await warmDaemon(ctx, 'echo', () => connectClient(new StreamableHTTPClientTransport(url), 'bench-earlier'));
      const { client, close } = await connectClient(new StreamableHTTPClientTransport(url));
      return {
        client,
        tool: 'echo',
        close: async () => {
          await close();
          await http.stop();
          await share.stop();
        },
      };
    },
  };
}

function mcpRemote(): PathSpec {
  return {
    key: 'mcp-remote',
    label: 'peer: mcp-remote → supergateway',
    kind: 'peer',
    inTargets: true,
    sameClientAs: 'bridge',
    chain: 'SDK Client → mcp-remote (stdio→HTTP) → supergateway --stateful (streamable HTTP→stdio) → server',
    async open(ctx) {
      const sg = await startSupergateway();
      await warmDaemon(ctx, 'echo', () => connectClient(new StreamableHTTPClientTransport(new URL(sg.url)), 'bench-earlier'));
      const configDir = await tempDir('mcpgw-bench-mcp-remote-');
      const { client, close } = await connectClient(
        new StdioClientTransport({
          command: process.execPath,
          args: [nodeModule('mcp-remote/dist/proxy.js'), sg.url, '--transport', 'http-only', '--silent'],
          env: { ...(process.env as Record<string, string>), MCP_REMOTE_CONFIG_DIR: configDir },
          stderr: 'ignore',
        }),
      );
      return {
        client,
        tool: 'echo',
        close: async () => {
          await close();
          await sg.proc.stop();
        },
      };
    },
  };
}

function supergatewayHttp(): PathSpec {
  return {
    key: 'supergateway',
    label: 'peer: supergateway (HTTP client)',
    kind: 'peer',
    inTargets: false,
    sameClientAs: 'bridge-http',
    chain: 'SDK Client → StreamableHTTPClientTransport → supergateway --stateful → server',
    async open(ctx) {
      const sg = await startSupergateway();
      await warmDaemon(ctx, 'echo', () => connectClient(new StreamableHTTPClientTransport(new URL(sg.url)), 'bench-earlier'));
      const { client, close } = await connectClient(new StreamableHTTPClientTransport(new URL(sg.url)));
      return {
        client,
        tool: 'echo',
        close: async () => {
          await close();
          await sg.proc.stop();
        },
      };
    },
  };
}

function mcpProxy(): PathSpec {
  return {
    key: 'mcp-proxy',
    label: 'peer: mcp-proxy (punkpeye)',
    kind: 'peer',
    inTargets: true,
    sameClientAs: 'bridge-http',
    chain: 'SDK Client → StreamableHTTPClientTransport → mcp-proxy --server stream → server',
    async open(ctx) {
      const port = await freePort();
      const proc = spawnTracked(process.execPath, [
        nodeModule('mcp-proxy/dist/bin/mcp-proxy.mjs'),
        '--host', '127.0.0.1', '--port', String(port), '--server', 'stream',
        '--', ...EVERYTHING_COMMAND,
      ]);
      await waitForPort(port, 30_000, () => proc.proc.exitCode !== null).catch((error: Error) => {
        throw new Error(`${error.message}\n${proc.output()}`);
      });
      const url = new URL(`http://127.0.0.1:${port}/mcp`);
      await warmDaemon(ctx, 'echo', () => connectClient(new StreamableHTTPClientTransport(url), 'bench-earlier'));
      const { client, close } = await connectClient(new StreamableHTTPClientTransport(url));
      return {
        client,
        tool: 'echo',
        close: async () => {
          await close();
          await proc.stop();
        },
      };
    },
  };
}

/** Every sequential path, floor first. */
export function allPaths(): PathSpec[] {
  return [direct(), bridge(), gateway(1), gatewayV2('legacy'), gatewayV2('modern'), gateway(10), gateway(1, 'fresh'), bridge(true), gateway(1, 'relayed'), minimalProxy(), bridgeInProcess(), bridgeHttp(), mcpRemote(), supergatewayHttp(), mcpProxy()];
}
