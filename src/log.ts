import { pino, type Logger, type Level } from 'pino';
import { PinoPretty } from 'pino-pretty';

export type { Logger } from 'pino';

/** Log levels accepted by every CLI's `--log-level`. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  level?: Level | 'silent';
  name: string;
  /** Force human-readable output; defaults to whether stderr is a TTY. */
  pretty?: boolean;
  /** Write JSON lines to this file instead of stderr (the gateway's `log_file`). */
  file?: string;
}

/**
 * A pino logger that writes to stderr only: stdout belongs to the protocol.
 * Human-readable on a TTY, one JSON object a line otherwise.
 */
export function createLogger(options: LoggerOptions): Logger {
  const level = options.level ?? 'info';
  if (options.file !== undefined) {
    return pino({ name: options.name, level }, pino.destination({ dest: options.file, sync: true, mkdir: true }));
  }
  const pretty = options.pretty ?? process.stderr.isTTY;
  if (pretty) {
    return pino(
      { name: options.name, level },
      // In-thread pretty stream (not a transport worker) so nothing is lost on a fast exit.
      PinoPretty({ destination: 2, colorize: true, sync: true }),
    );
  }
  // A log line per call must not cost a write per call on the hot path: lines are buffered and
  // written in batches (at 8 KiB, or every 200 ms), and whatever is left is flushed on exit.
  const destination = pino.destination({ dest: 2, sync: false, minLength: 8192 });
  setInterval(() => {
    try {
      destination.flush();
    } catch {
      // closed: nothing left to write
    }
  }, 200).unref();
  process.once('exit', () => {
    try {
      destination.flushSync();
    } catch {
      // stderr already gone
    }
  });
  return pino({ name: options.name, level }, destination);
}

/** A logger that drops everything, for library use and tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
