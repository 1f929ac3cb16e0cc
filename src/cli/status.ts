// `mcp-gateway status`: a running gateway's backends and sessions as a table, read from the
// /status endpoint of its admin listener.
import { request } from 'node:http';
import type { StatusReport } from '../gateway/admin.js';
import { GatewayError } from '../errors.js';

const WATCH_INTERVAL_MS = 2_000;
const REQUEST_TIMEOUT_MS = 5_000;

/** Prints the status once, or every 2 s with `watch` (in place on a terminal) until interrupted. */
export async function showStatus(bind: string, watch: boolean): Promise<number> {
  const tty = process.stdout.isTTY;
  for (;;) {
    const report = await fetchStatus(bind);
    // On a terminal: clear and redraw from the top left, so the table refreshes in place.
    const text = renderStatus(report);
    process.stdout.write(watch && tty ? `\x1b[H\x1b[2J${text}` : text);
    if (!watch) return 0;
    await new Promise((resolve) => setTimeout(resolve, WATCH_INTERVAL_MS));
    if (!tty) process.stdout.write('\n');
  }
}

/** GET /status from the admin listener at `bind`; a one-line error when nothing answers there. */
export function fetchStatus(bind: string): Promise<StatusReport> {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(bind);
  if (match === null) return Promise.reject(new GatewayError('CONFIG_INVALID', `--metrics-bind '${bind}' is not host:port`));
  const host = (match[1] as string).replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const req = request({ host, port: Number(match[2]), path: '/status', timeout: REQUEST_TIMEOUT_MS, headers: { host: 'localhost' } }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        if (response.statusCode !== 200) return reject(new Error(`the admin listener at ${bind} answered ${response.statusCode}: ${body.trim()}`));
        try {
          resolve(JSON.parse(body) as StatusReport);
        } catch {
          reject(new Error(`the admin listener at ${bind} did not answer a status report`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`the admin listener at ${bind} did not answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') reject(new Error(`nothing listens on ${bind} (start the gateway with --metrics-bind ${bind}, or metrics.bind in its config)`));
      else reject(error);
    });
    req.end();
  });
}

const ms = (value: number | undefined): string => (value === undefined ? '-' : value < 10 ? value.toFixed(2) : value.toFixed(0));

/** The report as two aligned tables. */
export function renderStatus(report: StatusReport): string {
  const lines = [`gateway '${report.name}', up ${formatUptime(report.uptimeSeconds)}, ${report.sessions.length} session(s)`, ''];
  lines.push(
    ...table(
      ['BACKEND', 'STATE', 'CONNECTIONS', 'CALLS', 'ERRORS', 'P50 MS', 'P99 MS'],
      report.backends.map((b) => [b.id, b.state, String(b.connections), String(b.calls), String(b.errors), ms(b.p50Ms), ms(b.p99Ms)]),
    ),
  );
  if (report.sessions.length > 0) {
    lines.push('', ...table(['SESSION', 'IN FLIGHT'], report.sessions.map((s) => [s.id, String(s.inFlight)])));
  }
  return `${lines.join('\n')}\n`;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

function formatUptime(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
  return `${Math.floor(seconds / 3600)}h${Math.floor((seconds % 3600) / 60)}m`;
}
