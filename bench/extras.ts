// The measurements beyond sequential latency: first tools/list, first call, idle sessions.
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { z } from 'zod';
import { descendants, isAlive, startGateway } from '../test/helpers/cli.js';
import { connectTools, track, writeGatewayConfig, type BenchContext } from './paths.js';
import { echoOnce, median } from './stats.js';
import { onCleanup, rssBytes, runAndForget, sessionDialer, sleep } from './support.js';

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
