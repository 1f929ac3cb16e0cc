import { GatewayError, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { redactToken } from '../wire/token.js';
import type { ShareListener } from './provider.js';

/** Options for {@link ShareWatchdog}: the `resilience:` keys, and what to do when rebuilding fails for good. */
export interface WatchdogOptions {
  /** How often the listener's health is checked; also the first wait between failed rebuilds. */
  pollIntervalMs: number;
  /** How long a listener may count zero established terminators before it counts as lost. */
  zeroEstablishedGraceMs: number;
  /** Consecutive failed rebuilds before escalating. */
  maxRebuildFailures: number;
  /**
   * true (standalone): on escalation `failed` settles, for the process to exit non-zero and a
   * supervisor to restart it. false (managed): keep retrying; the orchestrator is told instead.
   */
  failFast: boolean;
  logger: Logger;
  /** Escalation without failFast (managed mode reports status `failed`). */
  onUnrecoverable?: (error: Error) => void;
  /** Serving again after an escalation (managed mode reports `running`). */
  onRecovered?: () => void;
}

/** The original's resilience defaults (the gateway's config applies the same ones). */
export const WATCHDOG_DEFAULTS = Object.freeze({ pollIntervalMs: 10_000, zeroEstablishedGraceMs: 90_000, maxRebuildFailures: 5 });

/** Longest wait between two rebuild attempts, whatever the poll interval. */
const MAX_BACKOFF_MS = 5 * 60_000;

/**
 * The share listener watchdog of the original's resilience design: checks the listener every
 * `poll_interval` (and at once when it reports a loss); a lost listener, or one with no
 * established terminator for `zero_established_grace`, is rebuilt on the same token, the wait
 * doubling after each failure. A rebuild counts as good only once a later check finds it healthy.
 */
export class ShareWatchdog {
  /** Settles on escalation with failFast: the share cannot be served any more. */
  readonly failed: Promise<Error>;
  readonly #listener: ShareListener & Required<Pick<ShareListener, 'health' | 'rebuild'>>;
  readonly #options: WatchdogOptions;
  readonly #log: Logger;
  #resolveFailed!: (error: Error) => void;
  #poll: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #stopped = false;
  #rebuilding = false;
  #failures = 0;
  #escalated = false;
  /** A rebuild succeeded and no check has found it healthy yet: losing it now counts as a failure. */
  #unconfirmed = false;
  #zeroSince: number | undefined;
  #generation = 0;
  #rebuilds = 0;

  private constructor(listener: ShareListener & Required<Pick<ShareListener, 'health' | 'rebuild'>>, options: WatchdogOptions) {
    this.#listener = listener;
    this.#options = options;
    this.#log = options.logger.child({ share_token: redactToken(listener.token) });
    this.failed = new Promise((resolve) => (this.#resolveFailed = resolve));
    this.#poll = setInterval(() => this.#check(), options.pollIntervalMs);
    this.#poll.unref();
    listener.onLost?.((reason) => {
      this.#log.warn({ reason, generation: this.#generation }, 'share listener lost');
      this.#check();
    });
    if (listener.health().established === undefined) {
      this.#log.debug('established-terminator count unavailable from this provider: zero_established_grace does not apply');
    }
  }

  /** Watches `listener` when it can be rebuilt; undefined when its provider cannot lose a share (local). */
  static watch(listener: ShareListener, options: WatchdogOptions): ShareWatchdog | undefined {
    if (listener.health === undefined || listener.rebuild === undefined) return undefined;
    return new ShareWatchdog(listener as ShareListener & Required<Pick<ShareListener, 'health' | 'rebuild'>>, options);
  }

  /** What the heartbeat reports. */
  get state(): { generation: number; rebuilds: number; rebuild_failures: number; serving: boolean } {
    return { generation: this.#generation, rebuilds: this.#rebuilds, rebuild_failures: this.#failures, serving: this.#listener.health().serving };
  }

  /** Stops watching (before the listener is closed). */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#poll);
    clearTimeout(this.#retry);
  }

  #check(): void {
    if (this.#stopped || this.#rebuilding || this.#retry !== undefined) return;
    const health = this.#listener.health();
    if (health.serving && health.established !== 0) {
      this.#zeroSince = undefined;
      this.#healthy();
      return;
    }
    if (health.serving) {
      // Served but reachable through no terminator: lost only once that has lasted the grace.
      const now = performance.now();
      this.#zeroSince ??= now;
      if (now - this.#zeroSince < this.#options.zeroEstablishedGraceMs) return;
      void this.#rebuild('zero_established', `no established terminator for ${Math.round(now - this.#zeroSince)} ms`);
      return;
    }
    void this.#rebuild('closed', health.reason ?? 'the share is not served');
  }

  #healthy(): void {
    this.#unconfirmed = false;
    if (this.#failures === 0 && !this.#escalated) return;
    this.#failures = 0;
    if (this.#escalated) {
      this.#escalated = false;
      this.#log.info('share listener healthy again');
      this.#options.onRecovered?.();
    }
  }

  async #rebuild(kind: string, reason: string): Promise<void> {
    this.#zeroSince = undefined;
    // The last rebuild was lost before any check saw it healthy: that one failed too, and the
    // next attempt waits its turn (a share that boots and dies is not restarted in a loop).
    if (this.#unconfirmed) {
      this.#unconfirmed = false;
      this.#failed(new GatewayError('SHARE_CLOSED', `share listener generation ${this.#generation} was lost before it became healthy (${reason})`));
      return;
    }
    this.#rebuilding = true;
    this.#log.warn({ reason: kind, why: reason, generation: this.#generation, rebuild_failures: this.#failures }, 'share listener lost, rebuilding');
    try {
      await this.#listener.rebuild();
    } catch (error) {
      this.#rebuilding = false;
      if (this.#stopped) return;
      this.#log.warn({ generation: this.#generation, err: describeError(error) }, 'share listener rebuild failed');
      this.#failed(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    this.#rebuilding = false;
    if (this.#stopped) return;
    this.#generation++;
    this.#rebuilds++;
    this.#unconfirmed = true;
    this.#log.info({ generation: this.#generation, rebuild_failures: this.#failures }, 'share listener rebuilt');
  }

  /** Counts a failure and schedules the next attempt; true when that escalated to giving up. */
  #failed(error: Error): boolean {
    this.#failures++;
    if (this.#failures >= this.#options.maxRebuildFailures) {
      const escalation = new GatewayError('SHARE_CLOSED', `share listener recovery failed after ${this.#failures} attempts: ${describeError(error)}`, { cause: error });
      if (this.#options.failFast) {
        this.#log.error({ rebuild_failures: this.#failures, err: escalation.message }, 'share listener unrecoverable, shutting down for restart');
        this.stop();
        this.#resolveFailed(escalation);
        return true;
      }
      if (!this.#escalated) {
        this.#escalated = true;
        this.#log.error({ rebuild_failures: this.#failures, err: escalation.message }, 'share listener unrecoverable, awaiting orchestrator restart (still retrying)');
        this.#options.onUnrecoverable?.(escalation);
      }
    }
    const base = this.#options.pollIntervalMs;
    const delay = Math.min(base * 2 ** (this.#failures - 1), Math.max(base, MAX_BACKOFF_MS));
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#check();
    }, delay);
    this.#retry.unref();
    return false;
  }
}
