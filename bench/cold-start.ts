// Cold start: how long our CLIs take from spawn to their first useful output, against a bare
// `node -e 0` on the same machine in the same repetitions (agents spawn `mcp-tools run` on every
// launch). The share's server is bench/fixtures/instant-server.sh, which starts in about a
// millisecond, so what is timed is node, our code and the share, not the server's own start-up.
import type { Readable } from 'node:stream';
import { binPath, startBridge } from '../test/helpers/cli.js';
import { track, writeGatewayConfig, type BenchContext } from './paths.js';
import { median } from './stats.js';
import { benchSource, spawnTracked, withTimeout, type Tracked } from './support.js';

/** Medians of each side over the same interleaved repetitions, in ms. */
export interface ColdStartResult {
  reps: number;
  /** `node -e 0`, spawn to exit. */
  bareNodeMs: number;
  /** `mcp-tools run <token>` on a local-share bridge, spawn to its answer to `initialize`. */
  toolsRunMs: number;
  /** `mcp-tools --help`, spawn to exit. */
  toolsHelpMs: number;
  /** `mcp-bridge <instant server>`, spawn to its `{"share_token":…}` line. */
  bridgeTokenMs: number;
  /** `mcp-gateway run <config>` with one instant backend, spawn to its `{"share_token":…}` line. */
  gatewayTokenMs: number;
}

/** The server every cold-start share runs, as a command line. */
const INSTANT_SERVER = ['sh', benchSource('fixtures/instant-server.sh')];

const INITIALIZE = `${JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'bench-cold-start', version: '1.0.0' },
  },
})}\n`;

const TIMEOUT_MS = 30_000;

/** The first line `stream` yields (without its newline). */
function firstLine(stream: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      const end = text.indexOf('\n');
      if (end === -1) return;
      stream.off('data', onData);
      stream.off('end', onEnd);
      resolve(text.slice(0, end));
    };
    const onEnd = (): void => {
      reject(new Error(`output ended before a whole line: ${JSON.stringify(text.slice(0, 200))}`));
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
  });
}

/** Resolves when the process has exited (at once if it already has). */
function exited(tracked: Tracked): Promise<number | null> {
  const { proc } = tracked;
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
}

/** `node <args…>`, spawn to exit; it must exit 0. */
async function timeToExit(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now();
  const run = spawnTracked(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const code = await withTimeout(exited(run), TIMEOUT_MS, `node ${args.join(' ')}`);
  const ms = performance.now() - t0;
  await run.stop();
  if (code !== 0) throw new Error(`node ${args.join(' ')} exited with ${code}: ${run.output()}`);
  return ms;
}

/** `mcp-tools run <token>`, spawn to the answer to the `initialize` already waiting on its stdin. */
async function timeToolsRun(token: string, env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now();
  const tools = spawnTracked(process.execPath, [binPath('mcp-tools'), 'run', token], {
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
    protocolStdout: true,
  });
  const { stdin, stdout } = tools.proc;
  if (stdin === null || stdout === null) throw new Error('mcp-tools run has no stdio');
  stdin.write(INITIALIZE);
  const line = await withTimeout(firstLine(stdout), TIMEOUT_MS, 'mcp-tools run answering initialize').catch(
    (error: Error) => {
      throw new Error(`${error.message}\n${tools.output()}`);
    },
  );
  const ms = performance.now() - t0;
  const answer = JSON.parse(line) as { id?: unknown; result?: { protocolVersion?: unknown } };
  if (answer.id !== 1 || typeof answer.result?.protocolVersion !== 'string') {
    throw new Error(`not an initialize answer: ${line.slice(0, 200)}`);
  }
  // The client leaving ends the session; the next repetition starts on a quiet machine.
  stdin.end();
  await withTimeout(exited(tools), 10_000, 'mcp-tools run exiting on EOF').catch(() => undefined);
  await tools.stop();
  return ms;
}

/** `node <cli> <args…>`, spawn to its `{"share_token":…}` line; then stopped (not timed). */
async function timeToToken(
  cli: 'mcp-bridge' | 'mcp-gateway',
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const t0 = performance.now();
  const share = spawnTracked(process.execPath, [binPath(cli), ...args], { env, protocolStdout: true });
  if (share.proc.stdout === null) throw new Error(`${cli} has no stdout`);
  const line = await withTimeout(firstLine(share.proc.stdout), TIMEOUT_MS, `${cli} printing its token`).catch(
    (error: Error) => {
      throw new Error(`${error.message}\n${share.output()}`);
    },
  );
  const ms = performance.now() - t0;
  await share.stop();
  if (typeof (JSON.parse(line) as { share_token?: unknown }).share_token !== 'string') {
    throw new Error(`${cli}'s first line is not its token: ${line}`);
  }
  return ms;
}

/**
 * Each repetition times every side once, in a rotating order, so that load from elsewhere on the
 * machine lands on all of them alike; one unmeasured repetition first warms the file cache.
 * Ratios are of the sides' medians.
 */
export async function measureColdStart(ctx: BenchContext): Promise<ColdStartResult> {
  const reps = ctx.quick ? 3 : 15;
  const env = { ...process.env, ...ctx.env };
  const bridge = track(await startBridge([...INSTANT_SERVER], ctx.env));
  const config = await writeGatewayConfig(ctx.home, 1, { server: INSTANT_SERVER, name: 'cold-start' });
  const sides = {
    bareNode: () => timeToExit(['-e', '0'], env),
    toolsRun: () => timeToolsRun(bridge.token, env),
    toolsHelp: () => timeToExit([binPath('mcp-tools'), '--help'], env),
    bridgeToken: () => timeToToken('mcp-bridge', [...INSTANT_SERVER], env),
    gatewayToken: () => timeToToken('mcp-gateway', ['run', config], env),
  };
  const names = Object.keys(sides) as (keyof typeof sides)[];
  const samples: Record<keyof typeof sides, number[]> = {
    bareNode: [],
    toolsRun: [],
    toolsHelp: [],
    bridgeToken: [],
    gatewayToken: [],
  };
  for (let rep = -1; rep < reps; rep++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + Math.max(rep, 0)) % names.length] as keyof typeof sides;
      const ms = await sides[name]();
      if (rep >= 0) samples[name].push(ms);
    }
  }
  await bridge.stop();
  return {
    reps,
    bareNodeMs: median(samples.bareNode),
    toolsRunMs: median(samples.toolsRun),
    toolsHelpMs: median(samples.toolsHelp),
    bridgeTokenMs: median(samples.bridgeToken),
    gatewayTokenMs: median(samples.gatewayToken),
  };
}
