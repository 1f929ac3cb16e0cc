/** Bytes kept from each end of an oversized line, enough to find its JSON-RPC id. */
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
  /** Set while skipping the rest of an oversized line. */
  #discarding: { head: Buffer; tail: Buffer } | undefined;

  /** With `maxLineBytes`, longer lines are dropped and reported to `onOversize`. */
  constructor(options: { maxLineBytes?: number; onOversize?: (line: OversizedLine) => void } = {}) {
    this.#maxLineBytes = options.maxLineBytes ?? Infinity;
    this.#onOversize = options.onOversize;
  }

  /**
   * Feeds a chunk; calls `onLine` for every complete line (without its `\n`, `\r` trimmed). A
   * line that spans chunks is offered to `onParts` first, as those chunks' pieces: one that takes
   * it (returns true) spares the copy that joining them would be.
   */
  push(chunk: Buffer, onLine: (line: Buffer) => void, onParts?: (parts: Buffer[], bytes: number) => boolean): void {
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
      newline = chunk.indexOf(10, start);
    }
    if (start >= chunk.length) return;
    const rest = chunk.subarray(start);
    if (this.#discarding !== undefined) {
      this.#discarding.tail = lastBytes([this.#discarding.tail, rest]);
      return;
    }
    this.#pending.push(rest);
    this.#pendingBytes += rest.length;
    // Stop buffering at once: an endless line must not exhaust memory.
    if (this.#pendingBytes > this.#maxLineBytes) this.#startOversized(Buffer.alloc(0));
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

const ID_PATTERN = /"id"\s*:\s*("(?:[^"\\]|\\.){0,200}"|-?\d{1,20})\s*[,}]/;

/** The JSON-RPC id of an oversized message when one of its ends shows it, so its sender gets an answer. */
export function oversizedId(line: OversizedLine): string | number | null {
  for (const edge of [line.tail, line.head]) {
    const match = ID_PATTERN.exec(edge.toString('utf8'));
    if (match?.[1] !== undefined) {
      try {
        return JSON.parse(match[1]) as string | number;
      } catch {
        // not a JSON value after all
      }
    }
  }
  return null;
}
