/**
 * Splits a byte stream into newline-terminated lines without decoding chunks that hold no line
 * end, so a multi-megabyte message is copied once, not once per chunk.
 */
export class LineSplitter {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  readonly #maxLineBytes: number;
  readonly #onOversize: (() => void) | undefined;
  /** True while skipping the rest of an oversized line. */
  #discarding = false;

  /** With `maxLineBytes`, longer lines are dropped (not buffered) and reported once each. */
  constructor(options: { maxLineBytes?: number; onOversize?: () => void } = {}) {
    this.#maxLineBytes = options.maxLineBytes ?? Infinity;
    this.#onOversize = options.onOversize;
  }

  /** Feeds a chunk; calls `onLine` for every complete line (without its `\n`, `\r` trimmed). */
  push(chunk: Buffer, onLine: (line: Buffer) => void): void {
    let start = 0;
    let newline = chunk.indexOf(10);
    while (newline !== -1) {
      if (this.#discarding) {
        this.#discarding = false;
        start = newline + 1;
        newline = chunk.indexOf(10, start);
        continue;
      }
      if (this.#pendingBytes + newline - start > this.#maxLineBytes) {
        this.#pending = [];
        this.#pendingBytes = 0;
        this.#onOversize?.();
        start = newline + 1;
        newline = chunk.indexOf(10, start);
        continue;
      }
      let line: Buffer;
      if (this.#pendingBytes > 0) {
        this.#pending.push(chunk.subarray(start, newline));
        line = Buffer.concat(this.#pending, this.#pendingBytes + newline - start);
        this.#pending = [];
        this.#pendingBytes = 0;
      } else {
        line = chunk.subarray(start, newline);
      }
      const end = line.length > 0 && line[line.length - 1] === 13 ? line.length - 1 : line.length;
      onLine(end === line.length ? line : line.subarray(0, end));
      start = newline + 1;
      newline = chunk.indexOf(10, start);
    }
    if (start < chunk.length && !this.#discarding) {
      this.#pending.push(chunk.subarray(start));
      this.#pendingBytes += chunk.length - start;
      if (this.#pendingBytes > this.#maxLineBytes) {
        // Stop buffering at once: an endless line must not exhaust memory.
        this.#pending = [];
        this.#pendingBytes = 0;
        this.#discarding = true;
        this.#onOversize?.();
      }
    }
  }

  /** Bytes received after the last line end. */
  get bufferedBytes(): number {
    return this.#pendingBytes;
  }
}
