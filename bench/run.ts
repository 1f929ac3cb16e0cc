// `npm run bench`: sequential echo latency on server-everything through direct stdio, our bridge
// and gateway chains and the peers, then concurrency, first tools/list, idle sessions and an
// 8 MiB result, and the targets. Every process it starts is stopped, also on Ctrl-C.
//   node dist/bench/run.js [--quick] [--calls N] [--warmup N] [--daemon-warmup N] [--rounds N] [--only KEY,...] [--profile]
// --only keys: direct bridge gateway1 gateway1-v2 gateway1-modern gateway10 gateway1-fresh bridge-relayed gateway1-relayed minimal-proxy bridge-inproc bridge-http
//              mcp-remote supergateway mcp-proxy (sequential paths); first-list first-call idle big cold-start (extras)
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { intFlag } from './args.js';
import { measureBigResult } from './big-result.js';
import { measureFirstCall, measureFirstList, measureIdleSessions } from './extras.js';
import { allPaths, benchContext, type BenchContext, type OpenPath } from './paths.js';
import { profileChains } from './profile.js';
import { measureColdStart } from './cold-start.js';
import { COLD_START, coldStartTable, extrasTable, latencyTable, targetsTable, type BenchResults, type SequentialResult } from './report.js';
import { summarise, timeSequential } from './stats.js';
import { cleanupAll, installSignalHandlers, isStopping } from './support.js';

interface Options {
  quick: boolean;
  calls: number;
  warmup: number;
  /** Calls of an earlier session through each long-running hop (see BenchContext.daemonWarmup). */
  daemonWarmup: number;
  rounds: number;
  only: string[] | undefined;
  profile: boolean;
}

function parseArgs(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i === -1 ? undefined : argv[i + 1];
  };
  const int = (flag: string, fallback: number): number => intFlag(argv, flag, fallback);
  const only = value('--only')?.split(',');
  const daemonWarmup = value('--daemon-warmup') === '0' ? 0 : int('--daemon-warmup', quick ? 20 : 2000);
  return { quick, calls: int('--calls', quick ? 30 : 500), warmup: int('--warmup', quick ? 10 : 50), daemonWarmup, rounds: int('--rounds', quick ? 1 : 5), only, profile: argv.includes('--profile') };
}

const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);

/**
 * Opens every path, warms each up, then measures them in interleaved rounds (rotating the order)
 * so that load from elsewhere on the machine lands on all paths alike.
 */
async function measureSequential(ctx: BenchContext, options: Options): Promise<SequentialResult[]> {
  const specs = allPaths().filter((s) => options.only === undefined || options.only.includes(s.key));
  const results: SequentialResult[] = specs.map((s) => ({
    key: s.key,
    label: s.label,
    kind: s.kind,
    chain: s.chain,
    inTargets: s.inTargets,
    ...(s.sameClientAs === undefined ? {} : { sameClientAs: s.sameClientAs }),
  }));
  const open = new Map<string, OpenPath>();
  for (const spec of specs) {
    if (isStopping()) break;
    log(`starting ${spec.label}`);
    try {
      const path = await spec.open(ctx);
      open.set(spec.key, path);
      await timeSequential(path.client, path.tool, options.warmup);
    } catch (error) {
      const result = results.find((r) => r.key === spec.key) as SequentialResult;
      result.skipped = (error as Error).message.split('\n')[0] ?? String(error);
      log(`${spec.label} could not run: ${result.skipped}`);
    }
  }
  const samples = new Map<string, { all: number[]; wallMs: number }>();
  const perRound = Math.ceil(options.calls / options.rounds);
  const keys = [...open.keys()];
  for (let round = 0; round < options.rounds && !isStopping(); round++) {
    log(`round ${round + 1}/${options.rounds}: ${perRound} calls per path`);
    const order = keys.map((_, i) => keys[(i + round) % keys.length] as string);
    for (const key of order) {
      const path = open.get(key) as OpenPath;
      try {
        const run = await timeSequential(path.client, path.tool, perRound);
        const acc = samples.get(key) ?? { all: [], wallMs: 0 };
        acc.all.push(...run.samples);
        acc.wallMs += run.wallMs;
        samples.set(key, acc);
      } catch (error) {
        const result = results.find((r) => r.key === key) as SequentialResult;
        result.skipped = `failed during measurement: ${(error as Error).message}`;
        keys.splice(keys.indexOf(key), 1);
      }
    }
  }
  for (const result of results) {
    const acc = samples.get(result.key);
    if (acc !== undefined && result.skipped === undefined) result.summary = summarise(acc.all, acc.wallMs);
  }
  for (const path of open.values()) await path.close().catch(() => undefined);
  return results;
}

async function extra<T>(results: BenchResults, what: string, run: () => Promise<T>): Promise<T | undefined> {
  if (isStopping()) return undefined;
  log(what);
  try {
    return await run();
  } catch (error) {
    results.errors[what] = (error as Error).message;
    log(`${what} failed: ${(error as Error).message}`);
    return undefined;
  }
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  installSignalHandlers();
  const cpuList = cpus();
  const ctx = await benchContext(options.quick, options.daemonWarmup);
  const cpuModel = cpuList[0]?.model.trim() ?? 'unknown';
  const header = `node ${process.version}, ${cpuList.length} CPUs (${cpuModel}), load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`;
  process.stdout.write(`# mcp-gateway benchmark${options.quick ? ' (quick)' : ''}\n${header}\n\n`);

  if (options.profile) {
    process.stdout.write(`${await profileChains(ctx, options.quick ? 200 : 3000, options.warmup)}\n`);
    return 0;
  }

  const results: BenchResults = {
    meta: { date: new Date().toISOString(), node: process.version, cpus: cpuList.length, cpuModel: cpuList[0]?.model.trim() ?? '', loadavg: loadavg(), quick: options.quick, calls: options.calls, warmup: options.warmup, daemonWarmup: options.daemonWarmup, rounds: options.rounds },
    sequential: await measureSequential(ctx, options),
    errors: {},
  };
  process.stdout.write(`## Sequential echo calls (long-running hops after an earlier session of ${options.daemonWarmup} calls; ${options.warmup} warm-up, then ${options.calls} per path in ${options.rounds} interleaved round(s))\n\n${latencyTable(results)}\n\n`);

  const wanted = (key: string): boolean => options.only === undefined || options.only.includes(key);
  if (wanted('first-list')) results.firstList = await extra(results, 'first tools/list with 10 backends', () => measureFirstList(ctx));
  if (wanted('first-call')) results.firstCall = await extra(results, 'first call of a new session, cold and warm', () => measureFirstCall(ctx));
  if (wanted('idle')) results.idle = await extra(results, 'gateway RSS with idle sessions', () => measureIdleSessions(ctx));
  if (wanted('big')) results.big = await extra(results, '8 MiB result through the bridge and gateway chains', () => measureBigResult(ctx));
  process.stdout.write(`## Extras\n\n${extrasTable(results)}\n\n`);
  if (wanted('cold-start')) {
    results.coldStart = await extra(results, COLD_START, () => measureColdStart(ctx));
    process.stdout.write(`## Cold start (interleaved repetitions, medians)\n\n${coldStartTable(results)}\n\n`);
  }
  results.meta.loadavg = loadavg();
  process.stdout.write(`## Targets\n\n${targetsTable(results)}\n\nload average at the end: ${results.meta.loadavg.map((x) => x.toFixed(2)).join(' ')}\n`);

  const out = fileURLToPath(new URL('../../.bench-out/', import.meta.url));
  await mkdir(out, { recursive: true });
  await writeFile(join(out, options.quick ? 'latest-quick.json' : 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);

  const oursFailed = results.sequential.some((r) => r.kind !== 'peer' && r.summary === undefined) || Object.keys(results.errors).length > 0;
  return oursFailed ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
} finally {
  const left = await cleanupAll();
  if (left.length > 0) process.stderr.write(`bench: had to kill ${left.length} leftover process(es): ${left.join(' ')}\n`);
}
process.exit(code);
