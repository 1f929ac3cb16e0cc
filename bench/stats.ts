// Latency summaries and plain-text tables.
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';

/** Percentiles of one path's sequential calls, in milliseconds, and its call rate. */
export interface LatencySummary {
  calls: number;
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  callsPerSecond: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/** Summarises per-call latencies; `wallMs` is the time the calls took end to end. */
export function summarise(samples: readonly number[], wallMs: number): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  const total = sorted.reduce((sum, x) => sum + x, 0);
  return {
    calls: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    mean: total / sorted.length,
    callsPerSecond: (sorted.length / wallMs) * 1000,
  };
}

/** The median of a few numbers. */
export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** Arguments of the `echo` call every latency path makes. */
export const ECHO_ARGS = { message: 'hello from the benchmark' };

/** Calls `tool` once and checks the answer is the echo it should be. */
export async function echoOnce(client: Client, tool: string): Promise<void> {
  const result = await client.callTool({ name: tool, arguments: ECHO_ARGS });
  const first = (result.content as { type: string; text?: string }[] | undefined)?.[0];
  if (result.isError === true || first?.text === undefined || !first.text.includes(ECHO_ARGS.message)) {
    throw new Error(`unexpected echo result from ${tool}: ${JSON.stringify(result).slice(0, 200)}`);
  }
}

/** Times `count` sequential calls; returns each call's duration in ms and the wall time. */
export async function timeSequential(client: Client, tool: string, count: number): Promise<{ samples: number[]; wallMs: number }> {
  const samples: number[] = [];
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await echoOnce(client, tool);
    samples.push(performance.now() - t0);
  }
  return { samples, wallMs: performance.now() - start };
}

/** Formats a number of milliseconds for a table. */
export function ms(value: number): string {
  if (!Number.isFinite(value)) return '—';
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

/** Formats a ratio (`2.31×`). */
export function ratio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : '—';
}

/** Formats bytes as MB (10^6, as the targets are written). */
export function mb(bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / 1e6).toFixed(1)} MB` : '—';
}

/** Renders rows as a Markdown table (readable as plain text too). */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
