// Summarises V8 .cpuprofile files (from `node --cpu-prof`): the top functions by self time, and
// self time grouped by where the code lives (node internals, a package, our src/).
//   node dist/bench/profile-summary.js [--top N] [--from-us T] [--to-us T] FILE.cpuprofile...
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { table } from './stats.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

/** The parts of a V8 CPU profile this summary reads. */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** One row of a summary: a function or a group, with its self time. */
export interface SelfTime {
  name: string;
  where: string;
  selfMs: number;
  share: number;
}

/** A profile's totals and its top entries. */
export interface ProfileSummary {
  totalMs: number;
  /** Self time outside `(idle)`: what the process actually spent on the CPU (incl. GC). */
  busyMs: number;
  functions: SelfTime[];
  groups: SelfTime[];
}

/** Shortens a script URL to what a reader needs: `node:internal/…`, `pkg/path`, `src/…`. */
export function shortLocation(url: string): string {
  if (url === '') return '';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = path.lastIndexOf('/node_modules/');
  if (nm !== -1) return path.slice(nm + '/node_modules/'.length);
  const dist = path.lastIndexOf('/dist/');
  if (dist !== -1) return path.slice(dist + '/dist/'.length);
  return path;
}

/** The group a frame's self time is counted under. */
export function groupOf(frame: CallFrame): string {
  const url = frame.url;
  if (url === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native / builtin)';
  if (url.startsWith('node:')) return 'node internals';
  const where = shortLocation(url);
  if (url.includes('/node_modules/')) {
    const parts = where.split('/');
    return parts[0]?.startsWith('@') === true ? `${parts[0]}/${parts[1] ?? ''}` : (parts[0] ?? where);
  }
  if (where.startsWith('src/')) return `ours: ${where.split('/').slice(0, 2).join('/')}`;
  return where;
}

/**
 * A time window in the profiler's clock (µs of CLOCK_MONOTONIC on Linux, the clock of
 * `process.hrtime`), to leave out start-up and shutdown.
 */
export interface Window {
  fromUs: number;
  toUs: number;
}

/** Self time per node id, from samples and time deltas (µs), optionally inside a window. */
function selfTimes(profile: CpuProfile, window?: Window): Map<number, number> {
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let at = profile.startTime;
  // A sample's delta is the time until the *next* sample: attribute delta[i+1] to sample i.
  for (let i = 0; i < samples.length; i++) {
    at += deltas[i] ?? 0;
    if (window !== undefined && (at < window.fromUs || at > window.toUs)) continue;
    const id = samples[i] as number;
    const delta = deltas[i + 1] ?? 0;
    self.set(id, (self.get(id) ?? 0) + Math.max(0, delta));
  }
  return self;
}

/** Summarises one profile (only the samples inside `window`, when given). */
export function summariseProfile(profile: CpuProfile, top = 15, window?: Window): ProfileSummary {
  const self = selfTimes(profile, window);
  const byFunction = new Map<string, SelfTime>();
  const byGroup = new Map<string, SelfTime>();
  let totalUs = 0;
  let idleUs = 0;
  for (const node of profile.nodes) {
    const us = self.get(node.id) ?? 0;
    if (us === 0) continue;
    totalUs += us;
    const frame = node.callFrame;
    if (frame.functionName === '(idle)') idleUs += us;
    const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
    const where = frame.url === '' ? '' : `${shortLocation(frame.url)}:${frame.lineNumber + 1}`;
    const key = `${name} ${where}`;
    const entry = byFunction.get(key) ?? { name, where, selfMs: 0, share: 0 };
    entry.selfMs += us / 1000;
    byFunction.set(key, entry);
    const group = groupOf(frame);
    const g = byGroup.get(group) ?? { name: group, where: '', selfMs: 0, share: 0 };
    g.selfMs += us / 1000;
    byGroup.set(group, g);
  }
  const busyMs = (totalUs - idleUs) / 1000;
  const rank = (entries: Iterable<SelfTime>): SelfTime[] =>
    [...entries]
      .filter((e) => e.name !== '(idle)')
      .map((e) => ({ ...e, share: busyMs > 0 ? e.selfMs / busyMs : 0 }))
      .sort((a, b) => b.selfMs - a.selfMs);
  return { totalMs: totalUs / 1000, busyMs, functions: rank(byFunction.values()).slice(0, top), groups: rank(byGroup.values()).slice(0, 12) };
}

/** Renders a summary as two Markdown tables. */
export function formatSummary(title: string, summary: ProfileSummary): string {
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
  return [
    `### ${title}`,
    `profiled ${summary.totalMs.toFixed(0)} ms, on CPU (not idle) ${summary.busyMs.toFixed(0)} ms; shares are of on-CPU time`,
    '',
    table(
      ['self ms', 'share', 'function', 'location'],
      summary.functions.map((f) => [f.selfMs.toFixed(1), pct(f.share), f.name, f.where]),
    ),
    '',
    table(
      ['self ms', 'share', 'where the code lives'],
      summary.groups.map((g) => [g.selfMs.toFixed(1), pct(g.share), g.name]),
    ),
    '',
  ].join('\n');
}

/** Reads and summarises a .cpuprofile file. */
export function summariseFile(path: string, top = 15, window?: Window): ProfileSummary {
  return summariseProfile(JSON.parse(readFileSync(path, 'utf8')) as CpuProfile, top, window);
}

function main(argv: string[]): void {
  let top = 15;
  let fromUs = Number.NEGATIVE_INFINITY;
  let toUs = Number.POSITIVE_INFINITY;
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--top') top = Number(argv[++i]);
    else if (argv[i] === '--from-us') fromUs = Number(argv[++i]);
    else if (argv[i] === '--to-us') toUs = Number(argv[++i]);
    else files.push(argv[i] as string);
  }
  if (files.length === 0 || !Number.isInteger(top) || top <= 0 || Number.isNaN(fromUs) || Number.isNaN(toUs)) {
    process.stderr.write('usage: profile-summary [--top N] [--from-us T] [--to-us T] FILE.cpuprofile...\n');
    process.exitCode = 1;
    return;
  }
  for (const file of files) process.stdout.write(`${formatSummary(basename(file), summariseFile(file, top, { fromUs, toUs }))}\n`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main(process.argv.slice(2));
