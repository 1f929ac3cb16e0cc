// The measurements beyond sequential latency: concurrency, first tools/list, idle sessions.
import { spawnSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { z } from 'zod';
import { EVERYTHING_BIN, descendants, isAlive, startGateway } from '../test/helpers/cli.js';
const NATIVE_IO_ENV = 'MCP_GATEWAY_NATIVE_IO'; // TODO(bench cleanup): the addon is gone
import { EVERYTHING_COMMAND, connectDirect, connectTools, track, writeGatewayConfig, type BenchContext } from './paths.js';
import { LeanClient } from './lean-client.js';
import { echoOnce, median } from './stats.js';
import { benchFile, benchSource, cpuMicros, onCleanup, rssBytes, runAndForget, sessionDialer, sleep, socketClient, spawnTracked, withTimeout } from './support.js';

/** Calls/s of one concurrent run. */
export interface ThroughputResult {
  clients: number;
  callsPerClient: number;
  directCallsPerSecond: number;
  gatewayCallsPerSecond: number;
  /** The same gateway with the line-io addon off (Node's streams): what the addon is worth. */
  gatewayNodeStreamsCallsPerSecond: number;
  /** The same through `mcp-tools run` processes (one per client); absent in quick runs. */
  gatewayViaToolsCallsPerSecond?: number;
  /** The same clients through bench/fixtures/minimal-proxy.js mux: what any JS hop costs here. */
  minimalMuxCallsPerSecond: number;
  /** The same through bench/fixtures/native-mux.c: what a hop that is not JavaScript reaches. */
  nativeMuxCallsPerSecond?: number;
  /** Why the native multiplexer was not measured (no C compiler). */
  nativeMuxSkipped?: string;
  /** Direct again, asked by a {@link LeanClient} instead of the SDK's Client. */
  leanDirectCallsPerSecond: number;
  /** The gateway again, asked by 16 {@link LeanClient}s: how much of the gap is the SDK clients' work. */
  leanGatewayCallsPerSecond: number;
  /** CPU µs a call of each process, over the measured runs of each side (Linux /proc). */
  cpuPerCall: Record<'direct' | 'gateway' | 'gatewayNodeStreams' | 'mux' | 'leanDirect' | 'leanGateway', CpuShare> & { native?: CpuShare };
}

/** CPU µs a call: the hop in the middle (none for direct), the server, the benchmark's clients. */
export interface CpuShare {
  hop?: number;
  server: number;
  clients: number;
}

/** Accumulates the CPU of a side's processes over its measured runs. */
class CpuMeter {
  readonly #pids: { hop?: number; server: number };
  #hop = 0;
  #server = 0;
  #clients = 0;
  #calls = 0;

  constructor(pids: { hop?: number; server: number }) {
    this.#pids = pids;
  }

  async measure(calls: number, run: () => Promise<number>): Promise<number> {
    const hop = this.#pids.hop === undefined ? 0 : cpuMicros(this.#pids.hop);
    const server = cpuMicros(this.#pids.server);
    const clients = process.cpuUsage();
    const rate = await run();
    const used = process.cpuUsage(clients);
    if (this.#pids.hop !== undefined) this.#hop += cpuMicros(this.#pids.hop) - hop;
    this.#server += cpuMicros(this.#pids.server) - server;
    this.#clients += used.user + used.system;
    this.#calls += calls;
    return rate;
  }

  get share(): CpuShare {
    const per = (us: number): number => us / this.#calls;
    return { ...(this.#pids.hop === undefined ? {} : { hop: per(this.#hop) }), server: per(this.#server), clients: per(this.#clients) };
  }
}

/** One client's echo call, by whichever client it is. */
type EchoCall = () => Promise<void>;

/** SDK clients' echo calls of `tool`. */
function sdkCalls(clients: readonly Client[], tool: string): EchoCall[] {
  return clients.map((client) => () => echoOnce(client, tool));
}

/** Runs one concurrent sequence of `count` calls per client; returns calls/s. */
async function concurrentRate(calls: readonly EchoCall[], count: number): Promise<number> {
  const start = performance.now();
  await Promise.all(
    calls.map(async (call) => {
      for (let i = 0; i < count; i++) await call();
    }),
  );
  return ((calls.length * count) / (performance.now() - start)) * 1000;
}

/** Polls until the gateway has no child process left (its start-up discovery connections are closed). */
async function settleChildren(pid: number, timeoutMs = 15_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let alive = descendants(pid).filter(isAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(50);
    alive = descendants(pid).filter(isAlive);
  }
  return alive.length;
}

/**
 * 16 concurrent clients through one gateway to one `isolation: shared` backend, against the same
 * server answering 16 concurrent requests on one direct stdio connection. Runs interleave and the
 * median of each side is kept, so background load hits both alike.
 */
export async function measureThroughput(ctx: BenchContext, clientsCount = 16): Promise<ThroughputResult> {
  const callsPerClient = ctx.quick ? 20 : 300;
  // One repetition's ratio swings by tens of points on these machines (BENCHMARKS.md, 2026-12-02).
  const reps = ctx.quick ? 1 : 7;

  const direct = await connectDirect();
  const sameClient = sdkCalls(Array.from({ length: clientsCount }, () => direct.client), 'echo');
  const [command, ...args] = EVERYTHING_COMMAND as [string, ...string[]];
  const leanServer = spawnTracked(command, args, { stdio: ['pipe', 'pipe', 'ignore'], protocolStdout: true });
  const { stdin, stdout } = leanServer.proc;
  if (stdin === null || stdout === null) throw new Error('server-everything has no stdio');
  const leanDirectClient = await new LeanClient(stdout, stdin).initialize();
  const leanDirect = Array.from({ length: clientsCount }, () => () => leanDirectClient.echo('echo'));

  const sharedGateway = async (name: string, env: NodeJS.ProcessEnv) => {
    const config = await writeGatewayConfig(ctx.home, 1, { isolation: 'shared', name });
    const share = track(await startGateway(config, env));
    return { share, dialer: await sessionDialer(ctx.home, share.token) };
  };
  const { share: gateway, dialer } = await sharedGateway('throughput', ctx.env);
  const { share: streamsGateway, dialer: streamsDialer } = await sharedGateway('throughput-node-streams', { ...ctx.env, [NATIVE_IO_ENV]: '0' });
  const sessions: Client[] = [];
  const streamsSessions: Client[] = [];
  const muxClients: Client[] = [];
  const nativeClients: Client[] = [];
  const closeSessions = (): Promise<unknown> => Promise.allSettled([...sessions, ...streamsSessions, ...muxClients, ...nativeClients].map((client) => client.close()));
  const unregisterSessions = onCleanup(closeSessions);
  for (let i = 0; i < clientsCount; i++) sessions.push(await dialer.connect(`bench-concurrent-${i}`));
  for (let i = 0; i < clientsCount; i++) streamsSessions.push(await streamsDialer.connect(`bench-streams-${i}`));
  const leanStreams: Duplex[] = [];
  const leanGateway: EchoCall[] = [];
  for (let i = 0; i < clientsCount; i++) {
    const { socket, head } = await dialer.stream();
    leanStreams.push(socket);
    const client = await new LeanClient(socket, socket, head).initialize();
    leanGateway.push(() => client.echo('ev0_echo'));
  }

  const mux = await startMux(ctx.home, 'minimal-mux', process.execPath, [benchFile('fixtures/minimal-proxy.js'), 'mux']);
  for (let i = 0; i < clientsCount; i++) muxClients.push(await connectSocketClient(mux.socket, `bench-mux-${i}`));
  const nativeBuild = buildFixture(ctx.home, 'native-mux');
  const native = typeof nativeBuild === 'string' ? await startMux(ctx.home, 'native-mux', nativeBuild, []) : undefined;
  if (native !== undefined) for (let i = 0; i < clientsCount; i++) nativeClients.push(await connectSocketClient(native.socket, `bench-native-${i}`));

  // Every side warmed up alike (JIT, buffers) before anything is measured.
  const viaGateway = sdkCalls(sessions, 'ev0_echo');
  const viaStreams = sdkCalls(streamsSessions, 'ev0_echo');
  const viaMux = sdkCalls(muxClients, 'ev0_echo');
  const viaNative = sdkCalls(nativeClients, 'ev0_echo');
  for (const side of [sameClient, viaGateway, viaStreams, viaMux, viaNative, leanDirect, leanGateway]) await concurrentRate(side, ctx.quick ? 5 : 200);

  // Each side's processes: the shared backend and the mux's server are the hops' only children.
  const gatewayPid = gateway.proc.pid as number;
  const streamsPid = streamsGateway.proc.pid as number;
  const meters = {
    direct: new CpuMeter({ server: direct.pid }),
    gateway: new CpuMeter({ hop: gatewayPid, server: descendants(gatewayPid)[0] ?? Number.NaN }),
    gatewayNodeStreams: new CpuMeter({ hop: streamsPid, server: descendants(streamsPid)[0] ?? Number.NaN }),
    mux: new CpuMeter({ hop: mux.pid, server: descendants(mux.pid)[0] ?? Number.NaN }),
    native: native === undefined ? undefined : new CpuMeter({ hop: native.pid, server: descendants(native.pid)[0] ?? Number.NaN }),
    leanDirect: new CpuMeter({ server: leanServer.proc.pid ?? Number.NaN }),
    leanGateway: new CpuMeter({ hop: gatewayPid, server: descendants(gatewayPid)[0] ?? Number.NaN }),
  };
  const calls = clientsCount * callsPerClient;
  const directRates: number[] = [];
  const gatewayRates: number[] = [];
  const streamsRates: number[] = [];
  const muxRates: number[] = [];
  const nativeRates: number[] = [];
  const leanDirectRates: number[] = [];
  const leanGatewayRates: number[] = [];
  for (let r = 0; r < reps; r++) {
    directRates.push(await meters.direct.measure(calls, () => concurrentRate(sameClient, callsPerClient)));
    gatewayRates.push(await meters.gateway.measure(calls, () => concurrentRate(viaGateway, callsPerClient)));
    streamsRates.push(await meters.gatewayNodeStreams.measure(calls, () => concurrentRate(viaStreams, callsPerClient)));
    muxRates.push(await meters.mux.measure(calls, () => concurrentRate(viaMux, callsPerClient)));
    if (meters.native !== undefined) nativeRates.push(await meters.native.measure(calls, () => concurrentRate(viaNative, callsPerClient)));
    leanDirectRates.push(await meters.leanDirect.measure(calls, () => concurrentRate(leanDirect, callsPerClient)));
    leanGatewayRates.push(await meters.leanGateway.measure(calls, () => concurrentRate(leanGateway, callsPerClient)));
  }
  await runAndForget(unregisterSessions, closeSessions);
  for (const socket of leanStreams) socket.destroy();
  await leanServer.stop();
  await mux.stop();
  await native?.stop();

  let viaTools: number | undefined;
  if (!ctx.quick) {
    const tools = [];
    for (let i = 0; i < clientsCount; i++) tools.push(await connectTools(gateway.token, ctx.env));
    const clients = tools.map((t) => t.client);
    await concurrentRate(sdkCalls(clients, 'ev0_echo'), 200);
    viaTools = await concurrentRate(sdkCalls(clients, 'ev0_echo'), callsPerClient);
    await Promise.allSettled(tools.map((t) => t.close()));
  }
  await direct.close();
  await gateway.stop();
  await streamsGateway.stop();
  return {
    clients: clientsCount,
    callsPerClient,
    directCallsPerSecond: median(directRates),
    gatewayCallsPerSecond: median(gatewayRates),
    gatewayNodeStreamsCallsPerSecond: median(streamsRates),
    minimalMuxCallsPerSecond: median(muxRates),
    ...(typeof nativeBuild === 'string' ? { nativeMuxCallsPerSecond: median(nativeRates) } : { nativeMuxSkipped: nativeBuild.skipped }),
    leanDirectCallsPerSecond: median(leanDirectRates),
    leanGatewayCallsPerSecond: median(leanGatewayRates),
    cpuPerCall: {
      direct: meters.direct.share,
      gateway: meters.gateway.share,
      gatewayNodeStreams: meters.gatewayNodeStreams.share,
      mux: meters.mux.share,
      leanDirect: meters.leanDirect.share,
      leanGateway: meters.leanGateway.share,
      ...(meters.native === undefined ? {} : { native: meters.native.share }),
    },
    ...(viaTools === undefined ? {} : { gatewayViaToolsCallsPerSecond: viaTools }),
  };
}

/** A multiplexer (`<command> <args…> <socket> <server command…>`) in front of server-everything. */
async function startMux(dir: string, name: string, command: string, args: string[]): Promise<{ socket: string; pid: number; stop(): Promise<void> }> {
  const socket = join(dir, `${name}.sock`);
  const proxy = spawnTracked(command, [...args, socket, process.execPath, EVERYTHING_BIN, 'stdio']);
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      proxy.proc.stdout?.once('data', () => resolve());
      proxy.proc.once('exit', (code) => reject(new Error(`${name} exited with ${code}: ${proxy.output()}`)));
    }),
    30_000,
    `${name} start-up`,
  );
  return { socket, pid: proxy.proc.pid as number, stop: () => proxy.stop().then(() => undefined) };
}

/** Compiles bench/fixtures/<name>.c into `dir`: the executable's path, or why it could not be built. */
function buildFixture(dir: string, name: string): { skipped: string } | string {
  const output = join(dir, name);
  const compiler = process.env['CC'] ?? 'cc';
  const built = spawnSync(compiler, ['-O2', '-o', output, benchSource(`fixtures/${name}.c`)], { encoding: 'utf8', timeout: 60_000 });
  if (built.status === 0) return output;
  const reason = built.error?.message ?? (built.stderr.trim().split('\n')[0] || `exit ${built.status}`);
  return { skipped: `not built (${compiler}: ${reason})` };
}

/** What crossing between processes costs here (bench/fixtures/crossing.c), in µs. */
export interface CrossingResult {
  syscallMicros: number;
  roundTripMicros: number;
}

/** Runs bench/fixtures/crossing.c: its numbers, or why it could not run. */
export function measureCrossing(dir: string, quick: boolean): CrossingResult | { skipped: string } {
  const built = buildFixture(dir, 'crossing');
  if (typeof built !== 'string') return built;
  const run = spawnSync(built, [quick ? '2000' : '50000'], { encoding: 'utf8', timeout: 60_000 });
  if (run.status !== 0) return { skipped: `crossing exited with ${run.status ?? run.signal}: ${run.stderr.trim()}` };
  return JSON.parse(run.stdout) as CrossingResult;
}

/** An SDK client over a plain unix socket speaking newline-delimited JSON-RPC. */
async function connectSocketClient(path: string, name: string): Promise<Client> {
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = connect(path, () => resolve(s));
    s.once('error', reject);
  });
  return socketClient(socket, name);
}

/** Time to the first tools/list answer, ours (lazy) against the original's eager start. */
export interface FirstListResult {
  backends: number;
  reps: number;
  lazyMs: number;
  lazyBackendsStarted: number;
  eagerMs: number;
  eagerBackendsStarted: number;
  /** Lazy, but through a fresh `mcp-tools run` process (its node start-up included); absent in quick runs. */
  lazyViaToolsMs?: number;
  /** One SDK `Client.listTools()` on an open session: the answer plus the SDK's client-side schema work. */
  sdkListToolsMs: number;
  tools: number;
}

/** tools/list answer as it arrives, only checked for its shape: the server's time, not the client's. */
const RawToolsList = z.object({ tools: z.array(z.object({ name: z.string() }).passthrough()) }).passthrough();

/** Asks tools/list and returns how many tools came back. */
async function rawListTools(client: Client): Promise<number> {
  return (await client.request({ method: 'tools/list', params: {} }, RawToolsList)).tools.length;
}

/**
 * With 10 stdio backends (`isolation: session`): from opening a session to the first tools/list
 * answer. Lazy is ours as it is. Eager simulates the original, which starts every backend for
 * each new client before serving it: right after initialize one `echo` goes to every backend (all
 * ten concurrently, which flatters the original), then tools/list. The answer is timed as it
 * arrives; the SDK's `listTools()` also compiles a validator for every tool's output schema in
 * the client (10–30 ms here, whatever the server), which is reported on its own.
 */
export async function measureFirstList(ctx: BenchContext, count = 10): Promise<FirstListResult> {
  const reps = ctx.quick ? 2 : 10;
  const config = await writeGatewayConfig(ctx.home, count, { isolation: 'session', name: 'first-list' });
  const gateway = track(await startGateway(config, ctx.env));
  const pid = gateway.proc.pid as number;
  const dialer = await sessionDialer(ctx.home, gateway.token);
  await settleChildren(pid);

  const lazy: number[] = [];
  const eager: number[] = [];
  const sdkList: number[] = [];
  let lazyStarted = 0;
  let eagerStarted = 0;
  let tools = 0;
  for (let r = 0; r < reps; r++) {
    let t0 = performance.now();
    let client = await dialer.connect('bench-first-list');
    tools = await rawListTools(client);
    lazy.push(performance.now() - t0);
    lazyStarted = Math.max(lazyStarted, descendants(pid).filter(isAlive).length);
    t0 = performance.now();
    await client.listTools();
    sdkList.push(performance.now() - t0);
    await client.close();
    await settleChildren(pid);

    t0 = performance.now();
    client = await dialer.connect('bench-first-list-eager');
    await Promise.all(Array.from({ length: count }, (_, i) => echoOnce(client, `ev${i}_echo`)));
    await rawListTools(client);
    eager.push(performance.now() - t0);
    eagerStarted = Math.max(eagerStarted, descendants(pid).filter(isAlive).length);
    await client.close();
    await settleChildren(pid);
  }

  let viaTools: number | undefined;
  if (!ctx.quick) {
    const samples: number[] = [];
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      const t = await connectTools(gateway.token, ctx.env);
      await rawListTools(t.client);
      samples.push(performance.now() - t0);
      await t.close();
    }
    viaTools = median(samples);
  }
  await gateway.stop();
  return {
    backends: count,
    reps,
    lazyMs: median(lazy),
    lazyBackendsStarted: lazyStarted,
    eagerMs: median(eager),
    eagerBackendsStarted: eagerStarted,
    ...(viaTools === undefined ? {} : { lazyViaToolsMs: viaTools }),
    sdkListToolsMs: median(sdkList),
    tools,
  };
}

/** A new session's first tools/call, its backend started on demand or taken warm. */
export interface FirstCallResult {
  reps: number;
  coldMs: number;
  warmMs: number;
}

/**
 * From opening a session to the answer of its first `echo` on a stdio backend with
 * `isolation: session`: `warm: 0` starts the server for that call; `warm: 1` hands the session
 * a process started ahead. Each session closes before the next; the two gateways alternate.
 */
export async function measureFirstCall(ctx: BenchContext): Promise<FirstCallResult> {
  const reps = ctx.quick ? 1 : 5;
  const sides = [];
  for (const warm of [0, 1]) {
    const gateway = track(await startGateway(await writeGatewayConfig(ctx.home, 1, { name: `first-call-warm${warm}`, warm }), ctx.env));
    sides.push({ warm, gateway, dialer: await sessionDialer(ctx.home, gateway.token), samples: [] as number[] });
  }
  for (let r = 0; r < reps; r++) {
    for (const side of sides) {
      // The pool tops itself up after each take; let it (and the last session's process) settle.
      await sleep(1_500);
      const t0 = performance.now();
      const client = await side.dialer.connect('bench-first-call');
      await echoOnce(client, 'ev0_echo');
      side.samples.push(performance.now() - t0);
      await client.close();
    }
  }
  for (const side of sides) await side.gateway.stop();
  const [cold, warm] = sides.map((side) => median(side.samples));
  return { reps, coldMs: cold ?? Number.NaN, warmMs: warm ?? Number.NaN };
}

/** Gateway memory with many initialised, idle sessions. */
export interface IdleSessionsResult {
  sessions: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  backendsStarted: number;
  openMs: number;
}

/**
 * Opens `count` session streams to one gateway (1 server-everything backend, `isolation:
 * session`), each an SDK client that completes initialize and then stays idle. Sessions start no
 * backend until they use it, so the gateway's own memory is what is measured.
 */
export async function measureIdleSessions(ctx: BenchContext, count = ctx.quick ? 100 : 1000): Promise<IdleSessionsResult> {
  const config = await writeGatewayConfig(ctx.home, 1, { isolation: 'session', maxSessions: count + 10, name: 'idle' });
  const gateway = track(await startGateway(config, ctx.env));
  const pid = gateway.proc.pid as number;
  const dialer = await sessionDialer(ctx.home, gateway.token);
  await settleChildren(pid);
  await sleep(500);
  const rssBefore = rssBytes(pid);

  const clients: Client[] = [];
  const closeAll = (): Promise<unknown> => Promise.allSettled(clients.map((client) => client.close()));
  const unregister = onCleanup(closeAll);
  const t0 = performance.now();
  const batch = 50;
  for (let i = 0; i < count; i += batch) {
    const opened = await Promise.all(Array.from({ length: Math.min(batch, count - i) }, (_, j) => dialer.connect(`bench-idle-${i + j}`)));
    clients.push(...opened);
  }
  const openMs = performance.now() - t0;
  // Let the gateway finish any post-initialize work and settle before reading its RSS.
  await sleep(2_000);
  const rssAfter = rssBytes(pid);
  const started = descendants(pid).filter(isAlive).length;
  await runAndForget(unregister, closeAll);
  await gateway.stop();
  return { sessions: count, rssBeforeBytes: rssBefore, rssAfterBytes: rssAfter, backendsStarted: started, openMs };
}
