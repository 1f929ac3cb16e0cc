import type { ResilienceConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { ShareListener } from '../share/index.js';
import { ShareWatchdog } from '../share/watchdog.js';

/** What the gateway keeps of its share's health: the watchdog's verdict and a way to stop both timers. */
export interface ShareHealth {
  /** Settles when the share is lost for good (standalone); undefined without a watchdog. */
  readonly failed: Promise<Error> | undefined;
  stop(): void;
}

/** What {@link watchShare} needs from the gateway. */
export interface ShareHealthOptions {
  resilience: ResilienceConfig;
  logger: Logger;
  /** Managed mode: keep retrying and tell the orchestrator, instead of failing. */
  managed: { onUnrecoverable: (error: Error) => void; onRecovered: () => void } | undefined;
  /** For the heartbeat: sessions, tool calls since start, and when the share last brought a connection. */
  counters: () => { sessions: number; calls: number; lastConnectionAt: number | undefined };
}

/**
 * `resilience:`: the share listener watchdog (where the provider can lose a share: zrok) and the
 * `gateway alive` heartbeat, which tells a healthy idle gateway from a wedged one in the log.
 */
export function watchShare(listener: ShareListener, options: ShareHealthOptions): ShareHealth {
  const { resilience, logger, managed } = options;
  const watchdog = resilience.watchdogEnabled
    ? ShareWatchdog.watch(listener, {
        pollIntervalMs: resilience.pollIntervalMs,
        zeroEstablishedGraceMs: resilience.zeroEstablishedGraceMs,
        maxRebuildFailures: resilience.maxRebuildFailures,
        failFast: managed === undefined,
        logger,
        ...managed,
      })
    : undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  if (resilience.heartbeatIntervalMs > 0) {
    heartbeat = setInterval(() => {
      const { sessions, calls, lastConnectionAt } = options.counters();
      const sinceConnection = lastConnectionAt === undefined ? null : Math.round((performance.now() - lastConnectionAt) / 1000);
      logger.info({ sessions, calls, ...(watchdog === undefined ? {} : { share: watchdog.state }), seconds_since_last_connection: sinceConnection }, 'gateway alive');
    }, resilience.heartbeatIntervalMs);
    heartbeat.unref();
  }
  return {
    failed: watchdog?.failed,
    stop: () => {
      watchdog?.stop();
      clearInterval(heartbeat);
    },
  };
}
