import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CallRecord } from './call-log.js';

/** Why the gateway refused a request or a session without asking a backend. */
export type RefusalReason = 'unknown_name' | 'policy' | 'concurrency_limit' | 'session_limit' | 'subscription_limit' | 'unavailable';

/** How many of a backend's latest call durations the status view's percentiles are taken from. */
const RECENT_CALLS = 1024;

/** What the status view shows of one backend. */
export interface BackendStats {
  calls: number;
  errors: number;
  connections: number;
  /** Milliseconds, of the latest calls; undefined before the first. */
  p50Ms: number | undefined;
  p99Ms: number | undefined;
}

/** A call outcome that counts as an error in the status view. */
const isError = (outcome: string): boolean => outcome !== 'ok' && outcome !== 'cancelled';

/**
 * The gateway's (or bridge's) metrics, in a registry of their own (Prometheus text from
 * {@link text}), and the little the status view needs beyond them (recent durations by backend).
 * Created only when an admin listener is asked for: prom-client loads with it.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly #calls: Counter<'method' | 'backend' | 'name' | 'outcome'>;
  readonly #duration: Histogram<'method' | 'backend'>;
  readonly #sessions: Gauge;
  readonly #sessionsTotal: Counter;
  readonly #connections: Gauge<'backend'>;
  readonly #starts: Counter<'backend'>;
  readonly #crashes: Counter<'backend'>;
  readonly #restarts: Counter<'backend'>;
  readonly #bytes: Counter<'direction'>;
  readonly #refused: Counter<'reason'>;
  readonly #recent = new Map<string, { durations: number[]; next: number; calls: number; errors: number; connections: number }>();
  /** Counts bytes read from and written to clients' session streams. */
  readonly meter: { read(bytes: number): void; wrote(bytes: number): void };

  constructor(prefix: 'mcp_gateway' | 'mcp_bridge') {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.#calls = new Counter({ name: `${prefix}_calls_total`, help: 'Requests forwarded to backends, by method, backend, name used by the client and outcome', labelNames: ['method', 'backend', 'name', 'outcome'], registers });
    this.#duration = new Histogram({
      name: `${prefix}_call_duration_seconds`,
      help: 'Time from a client request to its answer, by method and backend',
      labelNames: ['method', 'backend'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.#sessions = new Gauge({ name: `${prefix}_sessions_active`, help: 'Client sessions open now', registers });
    this.#sessionsTotal = new Counter({ name: `${prefix}_sessions_total`, help: 'Client sessions opened since start', registers });
    this.#connections = new Gauge({ name: `${prefix}_backend_connections`, help: 'Backend connections open now (for stdio backends: processes running)', labelNames: ['backend'], registers });
    this.#starts = new Counter({ name: `${prefix}_backend_starts_total`, help: 'Backend connections opened (stdio: processes started)', labelNames: ['backend'], registers });
    this.#crashes = new Counter({ name: `${prefix}_backend_crashes_total`, help: 'Backend connections lost without the gateway closing them (stdio: processes that exited on their own)', labelNames: ['backend'], registers });
    this.#restarts = new Counter({ name: `${prefix}_backend_restarts_total`, help: 'Backends marked failed that came back', labelNames: ['backend'], registers });
    this.#bytes = new Counter({ name: `${prefix}_client_bytes_total`, help: 'Bytes read from (in) and written to (out) client session streams', labelNames: ['direction'], registers });
    this.#refused = new Counter({ name: `${prefix}_refused_total`, help: 'Requests and sessions refused without asking a backend, by reason', labelNames: ['reason'], registers });
    const bytesIn = this.#bytes.labels('in');
    const bytesOut = this.#bytes.labels('out');
    this.meter = { read: (bytes) => bytesIn.inc(bytes), wrote: (bytes) => bytesOut.inc(bytes) };
  }

  /** A request a backend answered (or failed to). */
  call(call: CallRecord): void {
    const seconds = (performance.now() - call.started) / 1000;
    this.#calls.inc({ method: call.method, backend: call.backend, name: call.name, outcome: outcomeLabel(call.outcome) });
    this.#duration.observe({ method: call.method, backend: call.backend }, seconds);
    const recent = this.#backend(call.backend);
    recent.calls++;
    if (isError(call.outcome)) recent.errors++;
    recent.durations[recent.next] = seconds * 1000;
    recent.next = (recent.next + 1) % RECENT_CALLS;
  }

  sessionOpened(): void {
    this.#sessions.inc();
    this.#sessionsTotal.inc();
  }

  sessionClosed(): void {
    this.#sessions.dec();
  }

  connectionOpened(backend: string): void {
    this.#connections.inc({ backend });
    this.#starts.inc({ backend });
    this.#backend(backend).connections++;
  }

  connectionClosed(backend: string, unexpected: boolean): void {
    this.#connections.dec({ backend });
    this.#backend(backend).connections--;
    if (unexpected) this.#crashes.inc({ backend });
  }

  backendRestarted(backend: string): void {
    this.#restarts.inc({ backend });
  }

  refused(reason: RefusalReason): void {
    this.#refused.inc({ reason });
  }

  /** What the status view shows of a backend. */
  backendStats(backend: string): BackendStats {
    const recent = this.#backend(backend);
    const sorted = [...recent.durations].sort((a, b) => a - b);
    const at = (q: number): number | undefined => (sorted.length === 0 ? undefined : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]);
    return { calls: recent.calls, errors: recent.errors, connections: recent.connections, p50Ms: at(0.5), p99Ms: at(0.99) };
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  #backend(id: string) {
    let recent = this.#recent.get(id);
    if (recent === undefined) {
      recent = { durations: [], next: 0, calls: 0, errors: 0, connections: 0 };
      this.#recent.set(id, recent);
    }
    return recent;
  }
}

/**
 * The call log's outcome (`ok`, `error`, `tool_error`, `cancelled`, or the text of a gateway
 * error) as a label with few values: a gateway error's text would make a series per message.
 */
function outcomeLabel(outcome: string): string {
  return outcome === 'ok' || outcome === 'error' || outcome === 'tool_error' || outcome === 'cancelled' ? outcome : 'failed';
}
