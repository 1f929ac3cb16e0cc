import { mkdirSync, openSync, write as writeAsync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { createRequire } from 'node:module';
import type { DestinationStream, Logger, Level } from 'pino';

export type { Logger } from 'pino';

// Loaded on first use, not at import: every CLI's start-up pays for what it imports, --help
// needs neither, and off a TTY nothing needs pino-pretty.
const require = createRequire(import.meta.url);
const loadPino = (): typeof import('pino').pino => (require('pino') as typeof import('pino')).pino;
const loadPretty = (): typeof import('pino-pretty').PinoPretty => (require('pino-pretty') as typeof import('pino-pretty')).PinoPretty;

/** Log levels accepted by every CLI's `--log-level`. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  level?: Level | 'silent';
  name: string;
  /** Force human-readable output; defaults to whether stderr is a TTY. */
  pretty?: boolean;
  /** Write JSON lines to this file instead of stderr (the gateway's `log_file`), created 0600. */
  file?: string;
}

/**
 * A pino logger that writes to stderr only: stdout belongs to the protocol.
 * Human-readable on a TTY, one JSON object a line otherwise.
 */
export function createLogger(options: LoggerOptions): Logger {
  const level = options.level ?? 'info';
  const pino = loadPino();
  if (options.file !== undefined) {
    // Opened here, not by pino: a new file is created 0600 whatever the umask (logs name sessions
    // and backends; they are no one else's business).
    mkdirSync(dirname(options.file), { recursive: true, mode: 0o700 });
    const fd = openSync(options.file, 'a', 0o600);
    return pino({ name: options.name, level }, pino.destination({ dest: fd, sync: true }));
  }
  const pretty = options.pretty ?? process.stderr.isTTY;
  if (pretty) {
    return pino(
      { name: options.name, level },
      // In-thread pretty stream (not a transport worker) so nothing is lost on a fast exit.
      loadPretty()({ destination: 2, colorize: true, sync: true }),
    );
  }
  // A log line per call must not cost a write per call on the hot path: lines are buffered and
  // written in batches (at 64 KiB, or every 200 ms), and whatever is left is flushed on exit.
  // Each batch is a round trip through libuv's thread pool: at 8 KiB batches a line cost about
  // 0.35 µs more than at 64 KiB (bench/log-writer.ts measures it).
  const destination = new BatchedWriter(2, 65536);
  setInterval(() => destination.flush(), 200).unref();
  process.once('exit', () => destination.flushSync());
  BATCHED.add(destination);
  return pino({ name: options.name, level }, destination);
}

/**
 * {@link createLogger}, deferred until a line at or above the level is logged (or the logger is
 * otherwise used). `mcp-tools run` hands its stdio over before it has anything to log at the
 * default level: loading pino first would delay the client's first answer.
 */
export function deferredLogger(options: LoggerOptions): Logger {
  const threshold = LOG_LEVELS.indexOf(options.level ?? 'info');
  let logger: Logger | undefined;
  const real = (): Logger => (logger ??= createLogger(options));
  return new Proxy({} as Logger, {
    get: (_target, key) => {
      const rank = LOG_LEVELS.indexOf(key as Level);
      // Below the level pino would drop the line: so can we, without loading pino.
      if (logger === undefined && rank !== -1 && rank < threshold) return drop;
      const target = real();
      const value: unknown = Reflect.get(target, key);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
    set: (_target, key, value) => Reflect.set(real(), key, value),
  });
}

const drop = (): void => undefined;

/** The batched destinations of {@link createLogger}, for {@link flushLogs}. */
const BATCHED = new Set<BatchedWriter>();

/**
 * Calls `done` once every line logged so far through {@link createLogger} has been written (or
 * could not be: the reader went away). The CLIs' exit waits for it: a batch still being
 * written by the thread pool when the process exits would be cut off, and the exit handler's
 * synchronous flush would write the lines after it into the middle of it.
 */
export function flushLogs(done: () => void): void {
  let waiting = BATCHED.size + 1;
  const one = (): void => {
    if (--waiting === 0) done();
  };
  for (const destination of BATCHED) destination.flush(one);
  one();
}

/** How long the flush at exit keeps trying a stderr that is full (EAGAIN). */
const EXIT_FLUSH_DEADLINE_MS = 1_000;
/** What Atomics.wait sleeps on between those tries. */
const SLEEP_CELL = new Int32Array(new SharedArrayBuffer(4));

/**
 * Log lines for a descriptor, written in batches. Not pino.destination (sonic-boom): its
 * synchronous flush retries forever when the reader of stderr has gone (EPIPE), so a gateway
 * whose supervisor had exited hung in its exit handler instead of exiting. Here a reader that
 * went away drops the rest of the log; a full pipe is retried, at exit only until a deadline.
 */
export class BatchedWriter implements DestinationStream {
  readonly #fd: number;
  readonly #minLength: number;
  /** Where lines are encoded as they come; its first `#used` bytes are waiting. */
  #slab: Buffer;
  #used = 0;
  /** Filled slabs waiting for the write in flight. */
  #queued: Buffer[] = [];
  #queuedBytes = 0;
  #writing = false;
  #broken = false;
  /** flush() callbacks waiting for everything logged before them to be written. */
  #whenWritten: (() => void)[] = [];

  constructor(fd: number, minLength: number) {
    this.#fd = fd;
    this.#minLength = minLength;
    this.#slab = Buffer.allocUnsafe(2 * minLength);
  }

  /** Queues one line; a batch is written once `minLength` bytes are waiting. */
  write(line: string): void {
    if (this.#broken) return;
    // Encoded at once into the slab: pino's line is a rope of many small strings, and kept as
    // one until the batch was written it outlived young-generation collections, then had to be
    // flattened by a join (19% of bench/in-process.js's profile; ≈0.9 µs a call less since).
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    if (line.length * 3 > this.#slab.length - this.#used) this.#rotate(line.length * 3);
    this.#used += this.#slab.write(line, this.#used);
    if (this.#queuedBytes + this.#used >= this.#minLength) this.flush();
  }

  /**
   * Writes what is waiting, asynchronously, one batch at a time; `done` (pino's `logger.flush(cb)`
   * passes it on) is called once all of it has been written, or once it cannot be.
   */
  flush(done?: () => void): void {
    if (done !== undefined) {
      if (this.#broken || (!this.#writing && this.#queuedBytes + this.#used === 0)) process.nextTick(done);
      else this.#whenWritten.push(done);
    }
    if (this.#writing || this.#broken || this.#queuedBytes + this.#used === 0) return;
    this.#writing = true;
    this.#writeAsync(this.#take());
  }

  /**
   * Writes what is waiting before the process exits (never waits past the deadline). A batch
   * still on the thread pool then (an exit that did not wait for {@link flush}'s callback) may
   * be cut off, or have these lines land in it.
   */
  flushSync(): void {
    if (this.#broken || this.#queuedBytes + this.#used === 0) return;
    let data = this.#take();
    const deadline = Date.now() + EXIT_FLUSH_DEADLINE_MS;
    while (data.length > 0) {
      try {
        data = data.subarray(writeSync(this.#fd, data));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN' || Date.now() > deadline) return this.#fail();
        Atomics.wait(SLEEP_CELL, 0, 0, 1);
      }
    }
  }

  #writeAsync(data: Buffer): void {
    writeAsync(this.#fd, data, 0, data.length, null, (error, written) => {
      if (error !== null) {
        if (error.code === 'EAGAIN') {
          setTimeout(() => this.#writeAsync(data), 10).unref();
          return;
        }
        this.#fail();
        return;
      }
      if (written < data.length) return this.#writeAsync(data.subarray(written));
      this.#writing = false;
      const waiting = this.#queuedBytes + this.#used;
      if (waiting >= this.#minLength || (waiting > 0 && this.#whenWritten.length > 0)) this.flush();
      else if (waiting === 0) this.#written();
    });
  }

  /** Nothing is waiting or being written: calls back those who asked. */
  #written(): void {
    const callbacks = this.#whenWritten;
    this.#whenWritten = [];
    for (const callback of callbacks) callback();
  }

  /** Moves the waiting bytes to the queue and starts a slab with room for at least `room` bytes. */
  #rotate(room: number): void {
    if (this.#used > 0) {
      this.#queued.push(this.#slab.subarray(0, this.#used));
      this.#queuedBytes += this.#used;
    }
    // What is left of the slab serves on when it is large enough (it is never written twice).
    const rest = this.#slab.length - this.#used;
    this.#slab = rest >= room && rest >= this.#minLength ? this.#slab.subarray(this.#used) : Buffer.allocUnsafe(Math.max(2 * this.#minLength, room));
    this.#used = 0;
  }

  /** Everything waiting, as one buffer no later line will be written into. */
  #take(): Buffer {
    this.#rotate(0);
    const data = this.#queued.length === 1 ? (this.#queued[0] as Buffer) : Buffer.concat(this.#queued, this.#queuedBytes);
    this.#queued = [];
    this.#queuedBytes = 0;
    return data;
  }

  /** The reader went away (or the descriptor is gone): nothing more can be logged there. */
  #fail(): void {
    this.#broken = true;
    this.#writing = false;
    this.#queued = [];
    this.#queuedBytes = 0;
    this.#used = 0;
    this.#written();
  }
}

/** A logger that drops everything, for library use and tests. */
export function silentLogger(): Logger {
  return loadPino()({ level: 'silent' });
}
