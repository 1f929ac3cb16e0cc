/**
 * Splits a byte stream into newline-terminated lines without decoding chunks that hold no line
 * end, so a multi-megabyte message is copied once, not once per chunk.
 */
export class LineSplitter {
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  /** Feeds a chunk; calls `onLine` for every complete line (without its `\n`, `\r` trimmed). */
  push(chunk: Buffer, onLine: (line: Buffer) => void): void {
    let start = 0;
    let newline = chunk.indexOf(10);
    while (newline !== -1) {
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
    if (start < chunk.length) {
      this.#pending.push(chunk.subarray(start));
      this.#pendingBytes += chunk.length - start;
    }
  }

  /** Bytes received after the last line end. */
  get bufferedBytes(): number {
    return this.#pendingBytes;
  }
}
