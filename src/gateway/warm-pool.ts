import type { Logger } from '../log.js';
import { stdioSpec } from '../mcp/upstream-transport.js';
import { StdioUpstream, describeExit } from '../mcp/stdio-upstream.js';
import type { Backend } from './backend.js';

/**
 * Processes of `warm` backends started ahead of the sessions that will take them, by backend id.
 * A process that exits while waiting is dropped, and only the next session that takes one starts
 * another: a server that cannot start is not restarted in a loop.
 */
export class WarmPool {
  readonly #pools = new Map<string, StdioUpstream[]>();
  readonly #logger: Logger;
  /** False once nothing more may be started (the gateway is stopping). */
  readonly #open: () => boolean;

  constructor(logger: Logger, open: () => boolean) {
    this.#logger = logger;
    this.#open = open;
  }

  /** A process started ahead for this backend, if one waits; the pool is topped up behind it. */
  take(backend: Backend): StdioUpstream | undefined {
    const pool = this.#pools.get(backend.id) ?? [];
    let taken = pool.shift();
    // One that has just exited may not have been dropped yet.
    while (taken !== undefined && (taken.child.exitCode !== null || taken.child.signalCode !== null)) taken = pool.shift();
    this.fill(backend);
    return taken;
  }

  /** Starts processes until `warm` of them wait (not while stopping, nor for a failed backend). */
  fill(backend: Backend): void {
    const { warm, transport } = backend.config;
    if (warm === 0 || transport.type !== 'stdio' || !this.#open() || backend.unavailable !== undefined) return;
    let pool = this.#pools.get(backend.id);
    if (pool === undefined) {
      pool = [];
      this.#pools.set(backend.id, pool);
    }
    const spec = stdioSpec(transport);
    while (pool.length < warm) {
      const upstream = new StdioUpstream(spec, { logger: this.#logger, label: backend.id });
      pool.push(upstream);
      const waiting = pool;
      void upstream.exited.then((exit) => {
        const at = waiting.indexOf(upstream);
        if (at === -1) return; // taken by a session, or stopped
        waiting.splice(at, 1);
        this.#logger.warn({ backend: backend.id, exit: describeExit(spec, exit) }, 'a warm backend process exited before a session took it');
      });
    }
  }

  /** Stops the processes waiting for `backendId` (all backends when undefined). */
  async stop(backendId?: string): Promise<void> {
    const pools = backendId === undefined ? [...this.#pools.values()] : [this.#pools.get(backendId) ?? []];
    if (backendId !== undefined) this.#pools.delete(backendId);
    const waiting = pools.flatMap((pool) => pool.splice(0));
    await Promise.allSettled(waiting.map((upstream) => upstream.stop()));
  }
}
