// Framing: a byte stream into newline-delimited lines, with a size limit. Bytes only; what the
// lines mean (JSON-RPC) is src/mcp/'s business.

/** Bytes kept from each end of an oversized line, enough for the protocol above to identify it. */
const EDGE_BYTES = 512;

/** What is left of a line that was too long: its first and last bytes. */
export interface OversizedLine {
  head: Buffer;
  tail: Buffer;
}

/**
 * Splits a byte stream into newline-terminated lines without decoding chunks that hold no line
 * end, so a multi-megabyte message is copied once, not once per chunk. With a limit, a longer
 * line is never buffered whole: only its two ends are kept, reported once the line ends.
 */
export class LineSplitter {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  readonly #maxLineBytes: number;
  readonly #onOversize: ((line: OversizedLine) => void) | undefined;
  readonly #onOverLimit: (() => void) | undefined;
  /** Set while skipping the rest of an oversized line. */
  #discarding: { head: Buffer; tail: Buffer } | undefined;

  /**
   * With `maxLineBytes`, longer lines are dropped and reported to `onOversize` once they end;
   * `onOverLimit` hears of one as soon as it passes the limit (a line may never end).
   */
  constructor(options: { maxLineBytes?: number; onOversize?: (line: OversizedLine) => void; onOverLimit?: () => void } = {}) {
    this.#maxLineBytes = options.maxLineBytes ?? Infinity;
    this.#onOversize = options.onOversize;
    this.#onOverLimit = options.onOverLimit;
  }

  /**
   * Feeds a chunk; calls `onLine` for every complete line (without its `\n`, `\r` trimmed). A
   * line that spans chunks is offered to `onParts` first, as those chunks' pieces: one that takes
   * it (returns true) spares the copy that joining them would be. When `stop` returns true after a
   * line, the rest of the chunk is not read: push() returns how many bytes it consumed, and the
   * caller pushes the rest again later (backpressure within a chunk).
   */
  push(chunk: Buffer, onLine: (line: Buffer) => void, onParts?: (parts: Buffer[], bytes: number) => boolean, stop?: () => boolean): number {
    let start = 0;
    let newline = chunk.indexOf(10);
    while (newline !== -1) {
      const part = chunk.subarray(start, newline);
      if (this.#discarding !== undefined) {
        this.#endOversized(part);
      } else if (this.#pendingBytes + part.length > this.#maxLineBytes) {
        this.#startOversized(part);
        this.#endOversized(Buffer.alloc(0));
      } else if (this.#pendingBytes === 0) {
        onLine(withoutCr(part));
      } else {
        const parts = this.#pending;
        const bytes = this.#pendingBytes + part.length;
        parts.push(part);
        this.#pending = [];
        this.#pendingBytes = 0;
        if (onParts === undefined || !offerParts(parts, bytes, onParts)) onLine(withoutCr(Buffer.concat(parts, bytes)));
      }
      start = newline + 1;
      if (stop?.() === true) return start;
      newline = chunk.indexOf(10, start);
    }
    if (start >= chunk.length) return chunk.length;
    const rest = chunk.subarray(start);
    if (this.#discarding !== undefined) {
      this.#discarding.tail = lastBytes([this.#discarding.tail, rest]);
      return chunk.length;
    }
    this.#pending.push(rest);
    this.#pendingBytes += rest.length;
    // Stop buffering at once: an endless line must not exhaust memory.
    if (this.#pendingBytes > this.#maxLineBytes) this.#startOversized(Buffer.alloc(0));
    return chunk.length;
  }

  /** Bytes received after the last line end. */
  get bufferedBytes(): number {
    return this.#pendingBytes;
  }

  #startOversized(part: Buffer): void {
    const parts = [...this.#pending, part];
    this.#discarding = { head: Buffer.concat(parts).subarray(0, EDGE_BYTES), tail: lastBytes(parts) };
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#onOverLimit?.();
  }

  #endOversized(part: Buffer): void {
    const discarding = this.#discarding as { head: Buffer; tail: Buffer };
    this.#discarding = undefined;
    this.#onOversize?.({ head: discarding.head, tail: lastBytes([discarding.tail, part]) });
  }
}

function withoutCr(line: Buffer): Buffer {
  return line.length > 0 && line[line.length - 1] === 13 ? line.subarray(0, line.length - 1) : line;
}

/** Offers a line's pieces (not changed: the caller joins them if refused), `\r` trimmed like a whole line's. */
function offerParts(parts: readonly Buffer[], bytes: number, onParts: (parts: Buffer[], bytes: number) => boolean): boolean {
  const pieces = parts.filter((part) => part.length > 0);
  const last = pieces[pieces.length - 1];
  if (last === undefined || last[last.length - 1] !== 13) return onParts(pieces, bytes);
  if (last.length === 1) pieces.pop();
  else pieces[pieces.length - 1] = last.subarray(0, last.length - 1);
  return onParts(pieces, bytes - 1);
}

function lastBytes(parts: Buffer[]): Buffer {
  const joined = Buffer.concat(parts);
  return joined.length <= EDGE_BYTES ? joined : joined.subarray(joined.length - EDGE_BYTES);
}

/**
 * Reads lines from a stream and can stop between two lines: `pause()` from inside `onLine` leaves
 * the rest of the chunk unread (a 64 KiB chunk may hold a thousand messages) and pauses the
 * stream, `resume()` reads that rest, then the stream again. A destination that does not drain
 * pauses its source this way, without a queue of its own.
 */
export class LineReader {
  readonly #input: NodeJS.ReadableStream;
  readonly #splitter: LineSplitter;
  readonly #onLine: (line: Buffer) => void;
  readonly #onParts: ((parts: Buffer[], bytes: number) => boolean) | undefined;
  #paused = false;
  #stopped = false;
  /** The unread rest of a chunk that a pause cut short. */
  #held: Buffer | undefined;

  constructor(input: NodeJS.ReadableStream, splitter: LineSplitter, onLine: (line: Buffer) => void, onParts?: (parts: Buffer[], bytes: number) => boolean) {
    this.#input = input;
    this.#splitter = splitter;
    this.#onLine = onLine;
    this.#onParts = onParts;
  }

  /** Starts reading; `head` (bytes read before, e.g. past a handshake) comes first. */
  start(head?: Buffer): void {
    this.#input.on('data', this.#onData);
    if (head !== undefined && head.length > 0) this.#onData(head);
  }

  /** True between pause() and resume(). */
  get paused(): boolean {
    return this.#paused;
  }

  /** Stops after the current line, until resume(). */
  pause(): void {
    if (this.#paused || this.#stopped) return;
    this.#paused = true;
    this.#input.pause();
  }

  /** Reads what a pause left unread, then the stream again. */
  resume(): void {
    if (!this.#paused || this.#stopped) return;
    this.#paused = false;
    const held = this.#held;
    this.#held = undefined;
    if (held !== undefined) this.#onData(held);
    if (!this.#paused && !this.#stopped) this.#input.resume();
  }

  /** Reads no more (what is held is dropped). */
  stop(): void {
    this.#stopped = true;
    this.#held = undefined;
    this.#input.removeListener('data', this.#onData);
  }

  readonly #onData = (chunk: Buffer | string): void => {
    if (this.#stopped) return;
    let buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    // A chunk already on its way when we paused queues behind the rest held back.
    if (this.#held !== undefined) {
      buffer = Buffer.concat([this.#held, buffer]);
      this.#held = undefined;
    }
    const used = this.#splitter.push(buffer, this.#onLine, this.#onParts, this.#stop);
    if (used < buffer.length && !this.#stopped) this.#held = buffer.subarray(used);
  };

  readonly #stop = (): boolean => this.#paused || this.#stopped;
}
