import type { Duplex } from 'node:stream';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { LineSplitter, oversizedId, type OversizedLine } from './line-splitter.js';
import { type LineBatch, type LineEvent, NativeLines } from './native-lines.js';

const NEWLINE = Buffer.from('\n');

/** Options for {@link StreamTransport}. */
export interface StreamTransportOptions {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** Bytes already read past an HTTP upgrade, processed first. */
  head?: Buffer;
  /** Called by close() instead of ending `output` (e.g. to stop a child process); close() waits for it. */
  onEnd?: () => void | Promise<void>;
  /** Longer messages are dropped without being buffered whole. */
  maxLineBytes?: number;
  /** Answer unparsable or oversized input with a JSON-RPC error (server side of a session). */
  answerBadInput?: boolean;
  /**
   * Called when `input` ends while `output` is a separate stream that can still carry answers
   * (a client's half-closed stdio); the owner closes the transport when it is done. Without it,
   * the end of the input closes the transport.
   */
  onInputEnd?: () => void;
  /**
   * Read and write the descriptors under the streams with the line-io addon, where it is built
   * and both streams are sockets with nothing buffered (a share session, a child's stdio): same
   * behaviour, less CPU a message (src/mcp/native-lines.ts).
   */
  nativeIo?: boolean;
  /**
   * With `nativeIo` and a separate input: close() stops reading it at once (a client's stdin that
   * was handed over), instead of reading it to its end (a child's stdout, which may still write
   * as it exits). Node's streams leave that to `onEnd`.
   */
  releaseInputOnClose?: boolean;
}

/**
 * An SDK Transport over any byte stream carrying newline-delimited JSON-RPC: a share session
 * stream, or a child's stdio. A line that is not JSON is reported through `onerror` and skipped.
 */
export class StreamTransport implements Transport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  sessionId?: string;

  readonly #input: NodeJS.ReadableStream & { destroyed?: boolean };
  readonly #output: NodeJS.WritableStream & { destroyed?: boolean; writableEnded?: boolean; cork?: () => void; uncork?: () => void };
  readonly #splitter: LineSplitter;
  readonly #head: Buffer | undefined;
  readonly #onEnd: (() => void | Promise<void>) | undefined;
  readonly #answerBadInput: boolean;
  readonly #onInputEnd: (() => void) | undefined;
  #inputEnded = false;
  #closed = false;
  #corked = false;
  #wroteThisTick = false;
  #intercept: { minBytes: number; handler: (parts: Buffer[], bytes: number) => boolean } | undefined;
  readonly #nativeIo: boolean;
  readonly #releaseInputOnClose: boolean;
  readonly #maxLineBytes: number | undefined;
  /** Set once start() handed the descriptors to the addon. */
  #native: NativeLines | undefined;

  constructor(options: StreamTransportOptions) {
    this.#input = options.input;
    this.#output = options.output;
    this.#head = options.head;
    this.#onEnd = options.onEnd;
    this.#answerBadInput = options.answerBadInput ?? false;
    this.#onInputEnd = options.onInputEnd;
    this.#nativeIo = options.nativeIo ?? false;
    this.#releaseInputOnClose = options.releaseInputOnClose ?? false;
    const limit = options.maxLineBytes;
    this.#maxLineBytes = limit;
    this.#splitter = new LineSplitter(limit === undefined ? {} : { maxLineBytes: limit, onOversize: (line) => this.#oversize(line) });
  }

  /** A transport over one duplex socket. */
  static overSocket(socket: Duplex, head?: Buffer, options: Pick<StreamTransportOptions, 'maxLineBytes' | 'answerBadInput' | 'nativeIo'> = {}): StreamTransport {
    return new StreamTransport({ ...options, input: socket, output: socket, ...(head === undefined ? {} : { head }) });
  }

  start(): Promise<void> {
    if (this.#nativeIo) {
      this.#native = NativeLines.take(this.#input, this.#output, { lines: this.#onLines, event: this.#onEvent });
      if (this.#native !== undefined) {
        const options = { ...(this.#maxLineBytes === undefined ? {} : { maxLineBytes: this.#maxLineBytes }), ...(this.#intercept === undefined ? {} : { bufferLinesAt: this.#intercept.minBytes }) };
        this.#native.start(options, this.#head);
        return Promise.resolve();
      }
    }
    this.#input.on('data', this.#onData);
    this.#input.once('end', this.#inputDone);
    this.#input.once('close', this.#inputDone);
    this.#input.on('error', (error: Error) => this.onerror?.(error));
    this.#output.on('error', (error: Error) => {
      this.onerror?.(error);
      this.#finish();
    });
    if (this.#head !== undefined && this.#head.length > 0) this.#onData(this.#head);
    return Promise.resolve();
  }

  send(message: JSONRPCMessage, _options?: TransportSendOptions): Promise<void> {
    return this.post(message) ? Promise.resolve() : Promise.reject(new Error('transport closed'));
  }

  /**
   * send() without a promise, for the gateway's hot path (a promise and the caller's `.catch`
   * on it cost a microtask a message): false, and nothing written, once the transport is closed.
   */
  post(message: JSONRPCMessage): boolean {
    if (this.#native !== undefined) return this.#nativeWritten(this.#native.write(JSON.stringify(message)));
    if (!this.#writable) return false;
    // Resolving without waiting for the write callback keeps the hot path free of a round trip
    // through the event loop; ordering is preserved by the stream itself. The first message of a
    // tick is written at once (a lone call pays no deferral); further ones in the same tick (many
    // answers read from a shared backend in one chunk) are corked and leave together in one
    // writev. (Deferring to setImmediate instead cost every call an extra epoll_wait.)
    if (this.#wroteThisTick) this.#cork();
    else this.#startTick();
    this.#output.write(`${JSON.stringify(message)}\n`);
    return true;
  }

  /**
   * Writes one message that is already serialised, given as parts (e.g. a backend's line around a
   * replaced id): they leave together, in one writev, without being joined first. Like
   * {@link post}, false once the transport is closed.
   */
  sendLine(parts: readonly Buffer[]): boolean {
    if (this.#native !== undefined) return this.#nativeWritten(this.#native.writeParts(parts));
    if (!this.#writable) return false;
    if (!this.#wroteThisTick) this.#startTick();
    this.#cork();
    for (const part of parts) this.#output.write(part);
    this.#output.write(NEWLINE);
    return true;
  }

  /** A write through the addon: the output breaking is reported as a stream's error would be, after this turn. */
  #nativeWritten(outcome: boolean | Error): boolean {
    if (this.#closed) return false;
    if (typeof outcome === 'boolean') return outcome;
    process.nextTick(() => this.#onEvent('error', outcome.message));
    return true;
  }

  get #writable(): boolean {
    return !this.#closed && this.#output.destroyed !== true && this.#output.writableEnded !== true;
  }

  /** Notes that this tick has written; what is corked in it leaves when it ends. */
  #startTick(): void {
    this.#wroteThisTick = true;
    process.nextTick(this.#endTick);
  }

  #cork(): void {
    if (this.#corked) return;
    this.#corked = true;
    this.#output.cork?.();
  }

  /**
   * Lets `handler` take lines of at least `minBytes` before they are parsed, as the pieces they
   * were read in; a line it takes (returns true for) is not delivered to `onmessage`.
   */
  interceptLines(minBytes: number, handler: (parts: Buffer[], bytes: number) => boolean): void {
    this.#intercept = { minBytes, handler };
  }

  readonly #endTick = (): void => {
    this.#wroteThisTick = false;
    if (!this.#corked) return;
    this.#corked = false;
    this.#output.uncork?.();
  };

  /** Ends the output now (for a child: its end of input), whoever owns the descriptors. */
  endOutput(): void {
    if (this.#native !== undefined) this.#native.end();
    else this.#output.end();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // With `onEnd`, Node's streams are its to end; the addon's descriptors are ours.
    if (this.#onEnd === undefined || this.#native !== undefined) this.endOutput();
    if (this.#releaseInputOnClose) this.#native?.inputEnded();
    if (this.#onEnd === undefined) {
      this.#finish();
      return;
    }
    const ending = this.#onEnd();
    this.#finish();
    await ending;
  }

  readonly #inputDone = (): void => {
    if (this.#onInputEnd === undefined) return this.#finish();
    if (this.#inputEnded || this.#closed) return;
    this.#inputEnded = true;
    this.#input.removeListener('data', this.#onData);
    this.#onInputEnd();
  };

  readonly #onData = (chunk: Buffer | string): void => {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.#splitter.push(buffer, this.#onLine, this.#intercept === undefined ? undefined : this.#onParts);
  };

  /** A line that spanned chunks, offered to the interceptor before the chunks are joined. */
  readonly #onParts = (parts: Buffer[], bytes: number): boolean => {
    const intercept = this.#intercept;
    return intercept !== undefined && bytes >= intercept.minBytes && intercept.handler(parts, bytes);
  };

  /** Lines read by the addon: strings; Buffers, or the pieces read, for those long enough to be offered to the interceptor. */
  readonly #onLines = (batch: LineBatch): void => {
    for (const line of batch) {
      if (this.#closed) return;
      if (typeof line === 'string') this.#parse(line);
      else if (Buffer.isBuffer(line)) this.#onLine(line);
      else this.#onPieces(line);
    }
  };

  readonly #onEvent: LineEvent = (kind, a, b) => {
    if (kind === 'oversize') {
      this.#oversize({ head: a as Buffer, tail: b as Buffer });
      return;
    }
    if (typeof a === 'string') this.onerror?.(new Error(a));
    if (kind === 'error') return this.#finish();
    this.#native?.inputEnded();
    this.#inputDone();
  };

  /** A long line as the pieces it was read in: offered to the interceptor before they are joined. */
  #onPieces(pieces: Buffer[]): void {
    let bytes = pieces.reduce((sum, piece) => sum + piece.length, 0);
    const last = pieces[pieces.length - 1];
    if (last !== undefined && last[last.length - 1] === 13) {
      bytes--;
      if (last.length === 1) pieces.pop();
      else pieces[pieces.length - 1] = last.subarray(0, last.length - 1);
    }
    if (this.#onParts(pieces, bytes)) return;
    this.#parse(Buffer.concat(pieces, bytes).toString('utf8'));
  }

  readonly #onLine = (line: Buffer): void => {
    if (line.length === 0) return;
    if (this.#intercept !== undefined && line.length >= this.#intercept.minBytes && this.#intercept.handler([line], line.length)) return;
    this.#parse(line.toString('utf8'));
  };

  #parse(text: string): void {
    let message: JSONRPCMessage;
    try {
      message = JSON.parse(text) as JSONRPCMessage;
    } catch (error) {
      this.#badInput(-32700, 'Parse error');
      this.onerror?.(new Error(`malformed JSON-RPC line: ${(error as Error).message}`));
      return;
    }
    this.onmessage?.(message);
  }

  /** A line over `maxLineBytes`, dropped: answered with the id found in its first and last bytes. */
  #oversize(line: OversizedLine): void {
    this.#badInput(-32600, `Invalid Request: message exceeds ${this.#maxLineBytes} bytes`, oversizedId(line));
  }

  /** As a server side, answer input we cannot even parse; the session carries on. */
  #badInput(code: number, message: string, id: string | number | null = null): void {
    if (!this.#answerBadInput || this.#closed) return;
    const answer = JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } });
    if (this.#native !== undefined) this.#native.write(answer);
    else this.#output.write(`${answer}\n`);
  }

  readonly #finish = (): void => {
    if (this.#closed) return;
    this.#closed = true;
    this.#input.removeListener('data', this.#onData);
    this.onclose?.();
  };
}
