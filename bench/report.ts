// Turns measurements into the printed tables: latency per path, the extras, and the targets.
import type { BigResult } from './big-result.js';
import type { ColdStartResult } from './cold-start.js';
import type { FirstCallResult, FirstListResult, IdleSessionsResult } from './extras.js';
import type { PathSpec } from './paths.js';
import { mb, ms, ratio, table, type LatencySummary } from './stats.js';

/** One sequential path's outcome: a summary, or why it could not run. */
export interface SequentialResult {
  key: string;
  label: string;
  kind: PathSpec['kind'];
  chain: string;
  inTargets: boolean;
  sameClientAs?: string;
  summary?: LatencySummary;
  skipped?: string;
}

/** Everything one run measured. */
export interface BenchResults {
  meta: {
    date: string;
    node: string;
    cpus: number;
    cpuModel: string;
    loadavg: number[];
    quick: boolean;
    calls: number;
    warmup: number;
    daemonWarmup: number;
    rounds: number;
  };
  sequential: SequentialResult[];
  firstList?: FirstListResult | undefined;
  firstCall?: FirstCallResult | undefined;
  idle?: IdleSessionsResult | undefined;
  big?: BigResult | undefined;
  coldStart?: ColdStartResult | undefined;
  errors: Record<string, string>;
}

function p50Of(results: BenchResults, key: string): number {
  return results.sequential.find((r) => r.key === key)?.summary?.p50 ?? Number.NaN;
}

/** The sequential latency table. */
export function latencyTable(results: BenchResults): string {
  const direct = p50Of(results, 'direct');
  const ours = p50Of(results, 'bridge');
  const rows = results.sequential.map((r) => {
    const s = r.summary;
    if (s === undefined) return [r.label, 'skipped', '', '', '', '', '', '', r.skipped ?? ''];
    const same = r.sameClientAs === undefined ? Number.NaN : p50Of(results, r.sameClientAs);
    return [
      r.label,
      ms(s.p50),
      ms(s.p90),
      ms(s.p99),
      ms(s.mean),
      s.callsPerSecond.toFixed(0),
      r.kind === 'floor' ? '1.00×' : ratio(s.p50 / direct),
      r.kind === 'peer' ? ratio(s.p50 / ours) : '',
      r.kind === 'peer' ? ratio(s.p50 / same) : '',
    ];
  });
  return table(['path', 'p50 ms', 'p90 ms', 'p99 ms', 'mean ms', 'calls/s', 'p50 / direct', 'peer / ours (bridge)', 'peer / ours, same client'], rows);
}

/** The extras as one table. */
export function extrasTable(results: BenchResults): string {
  const rows: string[][] = [];
  const f = results.firstList;
  if (f !== undefined) {
    rows.push([`first tools/list, ${f.backends} stdio backends, ours (lazy; median of ${f.reps})`, `${ms(f.lazyMs)} ms, ${f.tools} tools, ${f.lazyBackendsStarted} backends started`]);
    rows.push([`first tools/list, ${f.backends} stdio backends, eager (original's behaviour, simulated)`, `${ms(f.eagerMs)} ms, ${f.eagerBackendsStarted} backends started`]);
    if (f.lazyViaToolsMs !== undefined) rows.push(['first tools/list, lazy, via a fresh mcp-tools run (node start-up included)', `${ms(f.lazyViaToolsMs)} ms`]);
    rows.push(['  for reference: one SDK Client.listTools() on an open session (client-side schema compilation included)', `${ms(f.sdkListToolsMs)} ms`]);
  }
  const c = results.firstCall;
  if (c !== undefined) {
    rows.push([`first tools/call of a new session, stdio backend started for it (median of ${c.reps})`, `${ms(c.coldMs)} ms`]);
    rows.push(['  the same with `warm: 1` (a process started ahead, initialized for the session)', `${ms(c.warmMs)} ms`]);
  }
  const i = results.idle;
  if (i !== undefined) {
    rows.push([`gateway RSS, ${i.sessions} idle sessions`, `${mb(i.rssAfterBytes)} (${mb(i.rssBeforeBytes)} before; ${((i.rssAfterBytes - i.rssBeforeBytes) / i.sessions / 1024).toFixed(1)} KB per session; ${i.backendsStarted} backends started; opened in ${(i.openMs / 1000).toFixed(1)} s)`]);
  }
  const b = results.big;
  if (b !== undefined) {
    rows.push([`${mb(b.payloadBytes)} result, direct stdio (median of ${b.runs})`, `${ms(b.directMs)} ms; ${b.whole ? 'every chain whole and correct' : 'NOT whole/correct'}`]);
    for (const [name, chain] of [['bridge', b.bridge], ['gateway', b.gateway]] as const) {
      rows.push([`${mb(b.payloadBytes)} result, ${name} chain (median of ${b.runs})`, `${ms(chain.ms)} ms; ${chain.whole ? 'whole and correct' : 'NOT whole/correct'}`]);
      rows.push([`  ${name} RSS growth`, growth(chain.shareRssBeforeBytes, chain.shareRssPeakBytes, b.payloadBytes)]);
      rows.push(['  mcp-tools RSS growth', growth(chain.toolsRssBeforeBytes, chain.toolsRssPeakBytes, b.payloadBytes)]);
    }
  }
  for (const [what, error] of Object.entries(results.errors)) rows.push([`${what}: FAILED`, error.split('\n')[0] ?? error]);
  return table(['measurement', 'result'], rows);
}

/** The cold-start table: each side's median, and our CLIs against a bare node start. */
export function coldStartTable(results: BenchResults): string {
  const c = results.coldStart;
  if (c === undefined) {
    const error = results.errors[COLD_START];
    return error === undefined ? 'not measured' : `FAILED: ${error}`;
  }
  const sides: [string, number][] = [
    ['bare `node -e 0`, spawn to exit', c.bareNodeMs],
    ['`mcp-tools run <token>` (local-share bridge), spawn to its answer to `initialize`', c.toolsRunMs],
    ['`mcp-tools --help`, spawn to exit', c.toolsHelpMs],
    ['`mcp-bridge <server>`, spawn to its share_token line', c.bridgeTokenMs],
    ['`mcp-gateway run <config>` (1 backend), spawn to its share_token line', c.gatewayTokenMs],
  ];
  const rows = sides.map(([what, value]) => [what, ms(value), ratio(value / c.bareNodeMs)]);
  return table(['process (server: bench/fixtures/instant-server.sh)', `median ms of ${c.reps}`, '/ bare node'], rows);
}

/** The key of the cold-start measurement in `--only` and in `errors`. */
export const COLD_START = 'cold start of our CLIs against a bare node';

function growth(before: number, peak: number, payload: number): string {
  return `${mb(peak - before)} (${mb(before)} → peak ${mb(peak)}); ${ratio((peak - before) / payload)} payload`;
}

interface Target {
  target: string;
  goal: string;
  measured: string;
  pass: boolean | undefined;
}

/** Each of the targets, measured, with pass/fail (no assertion: a report). */
export function targets(results: BenchResults): Target[] {
  const direct = p50Of(results, 'direct');
  const bridge = p50Of(results, 'bridge');
  const gateway1 = p50Of(results, 'gateway1');
  const list: Target[] = [];
  const add = (target: string, goal: string, value: number, format: (v: number) => string, pass: (v: number) => boolean, note = ''): void => {
    list.push({ target, goal, measured: Number.isFinite(value) ? `${format(value)}${note}` : 'not measured', pass: Number.isFinite(value) ? pass(value) : undefined });
  };
  add('bridge chain p50 / direct p50', '≤ 2×', bridge / direct, ratio, (v) => v <= 2);
  add('gateway chain (1 backend) p50 / direct p50', '≤ 2×', gateway1 / direct, ratio, (v) => v <= 2);
  add('gateway chain, SDK v2 client: 2026-07-28 p50 / 2025-11-25 p50 (same backend)', '≤ 1.3×', p50Of(results, 'gateway1-modern') / p50Of(results, 'gateway1-v2'), ratio, (v) => v <= 1.3);
  const peers = results.sequential.filter((r) => r.kind === 'peer' && r.inTargets && r.summary !== undefined);
  const worst = peers.map((r) => ({ label: r.label, value: (r.summary as LatencySummary).p50 / bridge })).sort((a, b) => a.value - b.value)[0];
  add('peer chain p50 / our chain (bridge) p50, closest peer', '≥ 5×', worst?.value ?? Number.NaN, ratio, (v) => v >= 5, worst === undefined ? '' : ` (${worst.label.replace(/^peer: /, '')})`);
  const f = results.firstList;
  add('first tools/list, 10 stdio backends (no backend started)', '≤ 20 ms', f === undefined ? Number.NaN : f.lazyMs, (v) => `${ms(v)} ms`, (v) => v <= 20 && f?.lazyBackendsStarted === 0);
  const i = results.idle;
  const idleNote = i === undefined || i.sessions === 1000 ? '' : ` (${i.sessions} sessions, quick run)`;
  add('gateway RSS with 1,000 idle sessions', '≤ 150 MB', i === undefined ? Number.NaN : i.rssAfterBytes, mb, (v) => v <= 150e6 && i?.backendsStarted === 0, idleNote);
  const b = results.big;
  for (const [name, chain] of [['bridge', b?.bridge], ['gateway', b?.gateway]] as const) {
    const value = chain === undefined || b === undefined ? Number.NaN : (chain.shareRssPeakBytes - chain.shareRssBeforeBytes) / b.payloadBytes;
    add(`8 MB result: ${name} RSS growth / payload, whole and correct`, '≤ 4×', value, (v) => `${ratio(v)}${chain?.whole === true ? ', whole' : ', NOT whole'}`, (v) => v <= 4 && chain?.whole === true);
  }
  const c = results.coldStart;
  const cold = [
    ['mcp-tools run, first initialize answered', c?.toolsRunMs],
    ['mcp-tools --help', c?.toolsHelpMs],
  ] as const;
  for (const [name, value] of cold) {
    const measured = c === undefined || value === undefined ? Number.NaN : value / c.bareNodeMs;
    add(`cold start: ${name} / bare node start`, '≤ 2×', measured, ratio, (v) => v <= 2);
  }
  return list;
}

/** The final targets table. */
export function targetsTable(results: BenchResults): string {
  return table(
    ['target', 'goal', 'measured', 'result'],
    targets(results).map((t) => [t.target, t.goal, t.measured, t.pass === undefined ? 'n/a' : t.pass ? 'pass' : 'FAIL']),
  );
}
