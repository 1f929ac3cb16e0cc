import { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { loadAddon, socketFd } from '../native/addons.js';

/** A descriptor the addon reads and writes; opaque to JS. */
type Channel = object & { readonly __brand: 'line-io channel' };

/**
 * A batch of complete lines: strings; Buffers for those of at least `bufferLinesAt` bytes read in
 * one piece; and for longer ones, the Buffers they were read in (a trailing `\r` not trimmed).
 */
export type LineBatch = readonly (string | Buffer | Buffer[])[];

/** What the addon tells besides lines: input ended (`a`: the error, if any), output broke, a line was too long. */
export type LineEvent = (kind: 'end' | 'error' | 'oversize', a?: unknown, b?: unknown) => void;

/** src/native/line-io.c. */
interface LineIo {
  open(fd: number, onLines: (lines: LineBatch) => void, onEvent: LineEvent): Channel;
  start(channel: Channel, options: { maxLineBytes?: number; bufferLinesAt?: number }, head?: Buffer): void;
  write(channel: Channel, text: string): number;
  writeParts(channel: Channel, parts: readonly Buffer[]): number;
  end(channel: Channel): void;
  close(channel: Channel): void;
  setCoalesce(on: boolean): void;
}

/** Set to `0`, transports use Node's streams even where the addon is built. */
export const NATIVE_IO_ENV = 'MCP_GATEWAY_NATIVE_IO';

/**
 * The line-io addon, or undefined where it was not built or `MCP_GATEWAY_NATIVE_IO=0` turns it
 * off (then every transport uses Node's streams, with the same behaviour).
 */
export function lineIo(): LineIo | undefined {
  return loadAddon<LineIo>('line_io', NATIVE_IO_ENV, (addon) => {
    // For measurements: each message written at once (README, design notes).
    if (process.env['MCP_GATEWAY_COALESCE'] === '0') addon.setCoalesce(false);
  });
}

/**
 * The descriptor under a plain net.Socket with nothing waiting in its buffers, or undefined (a
 * TLS socket's descriptor carries ciphertext).
 */
function idleFd(stream: unknown, direction: 'read' | 'write'): number | undefined {
  if (!(stream instanceof Socket) || stream.destroyed || (stream as { encrypted?: unknown }).encrypted === true) return undefined;
  if (direction === 'write' && (stream.writableLength > 0 || stream.writableEnded)) return undefined;
  if (direction === 'read' && stream.readableEnded) return undefined;
  return socketFd(stream);
}

/** What a transport does with lines and events once its descriptors are read natively. */
export interface NativeSink {
  lines(batch: LineBatch): void;
  event: LineEvent;
}

/**
 * The descriptors of a transport's input and output (one for a socket, two for a child's stdio),
 * read and written by the addon on Node's own loop instead of through net.Socket streams. Bytes
 * Node had already read are handed over too; the streams are destroyed, which closes only their
 * own copies of the descriptors.
 */
export class NativeLines {
  readonly #io: LineIo;
  readonly #input: Channel;
  readonly #output: Channel;
  readonly #head: Buffer | undefined;

  private constructor(io: LineIo, input: Channel, output: Channel, head: Buffer | undefined) {
    this.#io = io;
    this.#input = input;
    this.#output = output;
    this.#head = head;
  }

  /** Takes the streams over when the addon is there and both are idle sockets; undefined otherwise. */
  static take(input: NodeJS.ReadableStream, output: NodeJS.WritableStream, sink: NativeSink): NativeLines | undefined {
    const io = lineIo();
    if (io === undefined) return undefined;
    const inFd = idleFd(input, 'read');
    const outFd = idleFd(output, 'write');
    if (inFd === undefined || outFd === undefined) return undefined;
    const onLines = (batch: LineBatch): void => sink.lines(batch);
    const onEvent: LineEvent = (kind, a, b) => sink.event(kind, a, b);
    let inChannel: Channel | undefined;
    let outChannel: Channel;
    try {
      inChannel = io.open(inFd, onLines, onEvent);
      outChannel = (input as unknown) === output ? inChannel : io.open(outFd, onLines, onEvent);
    } catch {
      // Out of descriptors, say: Node's streams carry on as they are.
      if (inChannel !== undefined) io.close(inChannel);
      return undefined;
    }
    const readable = input as Socket;
    const buffered: unknown = readable.readableLength > 0 ? readable.read() : null;
    readable.destroy();
    (output as Socket).destroy();
    return new NativeLines(io, inChannel, outChannel, Buffer.isBuffer(buffered) ? buffered : typeof buffered === 'string' ? Buffer.from(buffered) : undefined);
  }

  /** Starts reading; `head` (bytes read past a handshake) comes before what Node had buffered. */
  start(options: { maxLineBytes?: number; bufferLinesAt?: number }, head?: Buffer): void {
    const parts = [head, this.#head].filter((part): part is Buffer => part !== undefined && part.length > 0);
    this.#io.start(this.#input, options, parts.length === 0 ? undefined : Buffer.concat(parts));
  }

  /** Writes one line; false once the output is closed or ending, an Error once it broke. */
  write(text: string): boolean | Error {
    return outcome(this.#io.write(this.#output, text));
  }

  /** Writes one line given as parts. */
  writeParts(parts: readonly Buffer[]): boolean | Error {
    return outcome(this.#io.writeParts(this.#output, parts));
  }

  /**
   * No more output: what is queued goes first. A socket's input is then drained to its end
   * without keeping the process alive; a separate input (a child's stdout) is read until it ends,
   * so the child can still write as it exits.
   */
  end(): void {
    this.#io.end(this.#output);
  }

  /** The input ended (or is not wanted any more): a separate input descriptor is released. */
  inputEnded(): void {
    if (this.#input !== this.#output) this.#io.close(this.#input);
  }
}

function outcome(result: number): boolean | Error {
  if (result >= 0) return result === 1;
  return new Error(`write failed: ${getSystemErrorName(result)}`);
}
