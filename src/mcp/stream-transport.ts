import type { Duplex } from 'node:stream';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { GatewayError } from '../errors.js';
import { LineReader, LineSplitter, type OversizedLine } from '../wire/lines.js';
import { oversizedId } from './jsonrpc.js';

const NEWLINE = Buffer.from('\n');

/** Output a peer may leave unread before its transport is closed, unless the owner sets its own bound. */
export const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/**
 * A Transport that carries newline-delimited lines and can take them without a promise a message
 * or already serialised: the gateway's hot path asks for these where a transport offers them.
 */
export interface LineTransport extends Transport {
  /** send() without a promise: false, and nothing written, once the transport is closed. */
  post(message: JSONRPCMessage): boolean;
  /** Writes one serialised message given as parts, which leave together without being joined. */
  sendLine(parts: readonly Buffer[]): boolean;
  /** Lets `handler` take lines of at least `minBytes`, as the pieces read, before they are parsed. */
  interceptLines(minBytes: number, handler: (parts: Buffer[], bytes: number) => boolean): void;
}

/** True when `transport` carries lines ({@link LineTransport}). */
export function carriesLines(transport: Transport): transport is LineTransport {
  return typeof (transport as Partial<LineTransport>).sendLine === 'function';
}

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
  /**
   * A message passing `maxLineBytes` closes the transport at once, reported as LIMIT_EXCEEDED
   * (a backend's output: its pending answers are lost anyway, and the line may never end).
   */
  closeOnOversize?: boolean;
  /**
   * Output the peer may leave unread (default {@link DEFAULT_MAX_QUEUED_BYTES}): past it the
   * transport reports an error and closes, so a peer that never reads cannot grow the process.
   */
  maxQueuedBytes?: number;
  /**
   * Stop reading input while the peer does not read its output (a client's session: it cannot
   * pile up more answers than one buffer). Not for a child process, which may wait to be read
   * before it reads again.
   */
  pauseInputWhileCongested?: boolean;
  /** Told the bytes of each message read and written (newlines included), for metrics. */
  meter?: { read(bytes: number): void; wrote(bytes: number): void };
  /** Answer unparsable or oversized input with a JSON-RPC error (server side of a session). */
  answerBadInput?: boolean;
  /**
   * Called when `input` ends while `output` is a separate stream that can still carry answers
   * (a client's half-closed stdio); the owner closes the transport when it is done. Without it,
   * the end of the input closes the transport.
   */
  onInputEnd?: () => void;
}

type Output = NodeJS.WritableStream & {
  destroyed?: boolean;
  writableEnded?: boolean;
  writableLength?: number;
  writableNeedDrain?: boolean;
  cork?: () => void;
  uncork?: () => void;
  destroy?: (error?: Error) => void;
};

/**
 * An SDK Transport over any byte stream carrying newline-delimited JSON-RPC: a share session
 * stream, or a child's stdio. A line that is not JSON is reported through `onerror` and skipped.
 */
export class StreamTransport implements LineTransport {
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  sessionId?: string;

  readonly #input: NodeJS.ReadableStream & { destroyed?: boolean };
  readonly #output: Output;
  readonly #reader: LineReader;
  readonly #head: Buffer | undefined;
  readonly #onEnd: (() => void | Promise<void>) | undefined;
  readonly #answerBadInput: boolean;
  readonly #onInputEnd: (() => void) | undefined;
  readonly #maxLineBytes: number | undefined;
  readonly #maxQueuedBytes: number;
  readonly #pauseInput: boolean;
  readonly #meter: StreamTransportOptions['meter'];
  #inputEnded = false;
  #closed = false;
  #corked = false;
  #wroteThisTick = false;
  #intercept: { minBytes: number; handler: (parts: Buffer[], bytes: number) => boolean } | undefined;

  constructor(options: StreamTransportOptions) {
    this.#input = options.input;
    this.#output = options.output;
    this.#head = options.head;
    this.#onEnd = options.onEnd;
    this.#answerBadInput = options.answerBadInput ?? false;
    this.#onInputEnd = options.onInputEnd;
    this.#maxQueuedBytes = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    this.#pauseInput = options.pauseInputWhileCongested ?? false;
    this.#meter = options.meter;
    const limit = options.maxLineBytes;
    this.#maxLineBytes = limit;
    const onOverLimit = options.closeOnOversize === true ? () => this.#overLimit() : undefined;
    const splitter = new LineSplitter(limit === undefined ? {} : { maxLineBytes: limit, onOversize: (line) => this.#oversize(line), ...(onOverLimit === undefined ? {} : { onOverLimit }) });
    this.#reader = new LineReader(this.#input, splitter, this.#onLine, this.#onParts);
  }

  /** A transport over one duplex socket. */
  static overSocket(
    socket: Duplex,
    head?: Buffer,
    options: Pick<StreamTransportOptions, 'maxLineBytes' | 'maxQueuedBytes' | 'answerBadInput' | 'pauseInputWhileCongested'> = {},
  ): StreamTransport {
    return new StreamTransport({ ...options, input: socket, output: socket, ...(head === undefined ? {} : { head }) });
  }

  start(): Promise<void> {
    this.#input.once('end', this.#inputDone);
    this.#input.once('close', this.#inputDone);
    this.#input.on('error', (error: Error) => this.onerror?.(error));
    this.#output.on('error', (error: Error) => {
      this.onerror?.(error);
      this.#finish();
    });
    this.#output.on('drain', this.#onDrain);
    this.#reader.start(this.#head);
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
    if (!this.#writable) return false;
    // Resolving without waiting for the write callback keeps the hot path free of a round trip
    // through the event loop; ordering is preserved by the stream itself. The first message of a
    // tick is written at once (a lone call pays no deferral); further ones in the same tick (many
    // answers read from a shared backend in one chunk) are corked and leave together in one
    // writev. (Deferring to setImmediate instead cost every call an extra epoll_wait.)
    if (this.#wroteThisTick) this.#cork();
    else this.#startTick();
    const line = `${JSON.stringify(message)}\n`;
    this.#meter?.wrote(Buffer.byteLength(line));
    this.#wrote(this.#output.write(line));
    return true;
  }

  /**
   * Writes one message that is already serialised, given as parts (e.g. a backend's line around a
   * replaced id): they leave together, in one writev, without being joined first. Like
   * {@link post}, false once the transport is closed.
   */
  sendLine(parts: readonly Buffer[]): boolean {
    if (!this.#writable) return false;
    if (!this.#wroteThisTick) this.#startTick();
    this.#cork();
    if (this.#meter !== undefined) this.#meter.wrote(parts.reduce((sum, part) => sum + part.length, 1));
    for (const part of parts) this.#output.write(part);
    this.#wrote(this.#output.write(NEWLINE));
    return true;
  }

  /** Lines of at least `minBytes` go to `handler` first, as the pieces read; those it takes are not parsed. */
  interceptLines(minBytes: number, handler: (parts: Buffer[], bytes: number) => boolean): void {
    this.#intercept = { minBytes, handler };
  }

  /** Ends the output now (for a child: its end of input). */
  endOutput(): void {
    // A child that could not be spawned (EMFILE) has no stdin at all.
    if (this.#output !== undefined && this.#output !== null) this.#output.end();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#onEnd === undefined) {
      this.endOutput();
      this.#finish();
      return;
    }
    const ending = this.#onEnd();
    this.#finish();
    await ending;
  }

  get #writable(): boolean {
    return !this.#closed && this.#output.destroyed !== true && this.#output.writableEnded !== true;
  }

  /**
   * After a write: a peer that leaves more than `maxQueuedBytes` unread is cut off; one that is
   * merely behind stops us reading its input (when asked to) until it catches up.
   */
  #wrote(belowHighWater: boolean): void {
    if (belowHighWater) return;
    const queued = this.#output.writableLength ?? 0;
    if (queued > this.#maxQueuedBytes) {
      this.onerror?.(new GatewayError('LIMIT_EXCEEDED', `the peer is not reading: ${queued} bytes of output queued (limit ${this.#maxQueuedBytes})`));
      // What is queued goes at once; a child process is stopped as on any close.
      this.#output.destroy?.();
      void this.close();
      return;
    }
    if (this.#pauseInput) this.#reader.pause();
  }

  readonly #onDrain = (): void => {
    if (!this.#closed && !this.#inputEnded) this.#reader.resume();
  };

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

  readonly #endTick = (): void => {
    this.#wroteThisTick = false;
    if (!this.#corked) return;
    this.#corked = false;
    this.#output.uncork?.();
  };

  readonly #inputDone = (): void => {
    if (this.#onInputEnd === undefined) return this.#finish();
    if (this.#inputEnded || this.#closed) return;
    this.#inputEnded = true;
    this.#reader.stop();
    this.#onInputEnd();
  };

  /** A line that spanned chunks, offered to the interceptor before the chunks are joined. */
  readonly #onParts = (parts: Buffer[], bytes: number): boolean => {
    const intercept = this.#intercept;
    return intercept !== undefined && bytes >= intercept.minBytes && intercept.handler(parts, bytes);
  };

  readonly #onLine = (line: Buffer): void => {
    this.#meter?.read(line.length + 1);
    if (line.length === 0 || this.#closed) return;
    // Checked inline rather than through #onParts: that would allocate an array a line.
    if (this.#intercept !== undefined && line.length >= this.#intercept.minBytes && this.#intercept.handler([line], line.length)) return;
    let message: JSONRPCMessage;
    try {
      message = JSON.parse(line.toString('utf8')) as JSONRPCMessage;
    } catch (error) {
      this.#badInput(-32700, 'Parse error');
      this.onerror?.(new Error(`malformed JSON-RPC line: ${(error as Error).message}`));
      return;
    }
    this.onmessage?.(message);
  };

  /** A line over `maxLineBytes`, dropped: answered with the id found in its first and last bytes. */
  #oversize(line: OversizedLine): void {
    this.#badInput(-32600, `Invalid Request: message exceeds ${this.#maxLineBytes} bytes`, oversizedId(line));
    if (!this.#answerBadInput) this.onerror?.(new Error(`dropped a message over ${this.#maxLineBytes} bytes`));
  }

  /** A message over `maxLineBytes` from a peer that must not send one: the transport ends. */
  #overLimit(): void {
    if (this.#closed) return;
    this.onerror?.(new GatewayError('LIMIT_EXCEEDED', `a message exceeds max_message_bytes (${this.#maxLineBytes} bytes)`));
    void this.close();
  }

  /** As a server side, answer input we cannot even parse; the session carries on. */
  #badInput(code: number, message: string, id: string | number | null = null): void {
    if (!this.#answerBadInput || !this.#writable) return;
    this.#wrote(this.#output.write(`${JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } })}\n`));
  }

  readonly #finish = (): void => {
    if (this.#closed) return;
    this.#closed = true;
    this.#reader.stop();
    this.#output.removeListener('drain', this.#onDrain);
    this.onclose?.();
  };
}
