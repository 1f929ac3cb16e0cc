import { describeError } from '../errors.js';
import { type JsonRpcId, JsonRpcErrorCode } from './jsonrpc.js';

/**
 * Backend lines at least this long are looked at for a response to pass on unparsed. Below it,
 * parsing costs less than a microsecond and the message is handled like any other.
 */
export const PASS_THROUGH_MIN_BYTES = 64 * 1024;

/** How much of each end of a line is decoded to find the envelope. */
const EDGE_BYTES = 512;

// The forms JSON-RPC libraries write a response in. Anchored at the line's start (or, for the id,
// its end), so the keys matched are the top-level object's own: in valid JSON nothing before the
// first key can hide it in a string, and `,"id":…}` closing the line closes the outermost object.
/** The TypeScript SDK's order: `{"result":…,"jsonrpc":"2.0","id":N}` (or `"error"`). */
const KIND_FIRST = /^\s*\{\s*"(result|error)"\s*:/;
const ID_LAST = /(,\s*"id"\s*:\s*)("(?:[^"\\]|\\.){0,200}"|-?\d{1,15})\s*\}\s*$/;
/** Python's and Go's order: `{"jsonrpc":"2.0","id":N,"result":…}` (or the id first). */
const ID_FIRST = /^(\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*)("(?:[^"\\]|\\.){0,200}"|-?\d{1,15})(?=\s*,\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"(result|error)"\s*:)/;
const IS_ERROR = /"isError"\s*:\s*true/;

/** A response's envelope as read from the ends of its line: the kind, and where its id is. */
export interface ResponseEnvelope {
  kind: 'result' | 'error';
  /** Byte offsets of the id's JSON text (digits, or a string with its quotes) in the line. */
  idStart: number;
  idEnd: number;
  /** That text as latin1 (exact for digits; decode the bytes for a string with non-ASCII). */
  idText: string;
}

/**
 * The envelope of a response line of `bytes` bytes, given its first and last bytes (up to 512
 * each, decoded as latin1 so that string offsets are byte offsets); undefined when the line is
 * not a response in one of the forms above (then only parsing it can tell).
 */
export function readResponseEnvelope(head: string, tail: string, bytes: number): ResponseEnvelope | undefined {
  const first = ID_FIRST.exec(head);
  if (first !== null) {
    const [, before = '', id = '', kind] = first;
    return { kind: kind as ResponseEnvelope['kind'], idStart: before.length, idEnd: before.length + id.length, idText: id };
  }
  const kind = KIND_FIRST.exec(head)?.[1];
  const last = kind === undefined ? null : ID_LAST.exec(tail);
  if (last === null) return undefined;
  const [, before = '', id = ''] = last;
  const idStart = bytes - tail.length + last.index + before.length;
  return { kind: kind as ResponseEnvelope['kind'], idStart, idEnd: idStart + id.length, idText: id };
}

/** The id of a response line, read from its ends without parsing the rest; undefined when its form is not known. */
export function responseLineId(line: Buffer): { id: JsonRpcId; kind: ResponseEnvelope['kind'] } | undefined {
  const envelope = readResponseEnvelope(line.toString('latin1', 0, EDGE_BYTES), line.toString('latin1', Math.max(0, line.length - EDGE_BYTES)), line.length);
  if (envelope === undefined) return undefined;
  try {
    return { id: JSON.parse(line.toString('utf8', envelope.idStart, envelope.idEnd)) as JsonRpcId, kind: envelope.kind };
  } catch {
    return undefined;
  }
}

/**
 * A backend's result response, kept as the bytes it arrived in: the gateway replaces the id and
 * passes the rest on without parsing or serialising it again (an 8 MiB result is not turned into
 * an 8 MiB string, an object tree and another string, nor even joined into one buffer). Whether
 * the backend's JSON is valid in between is the client's to find out, as on a direct connection.
 */
export class PassThroughResponse {
  /** The id the backend answered. */
  readonly id: number;
  /**
   * `isError: true` seen in the first or last bytes of the line, where a tool result's top-level
   * fields are written around its content; only the call log uses it.
   */
  readonly toolError: boolean;
  /** The line (without its newline) as the pieces it was read in. */
  readonly #parts: readonly Buffer[];
  readonly #bytes: number;
  readonly #idStart: number;
  readonly #idEnd: number;

  private constructor(parts: readonly Buffer[], bytes: number, id: { value: number; start: number; end: number }, toolError: boolean) {
    this.#parts = parts;
    this.#bytes = bytes;
    this.id = id.value;
    this.#idStart = id.start;
    this.#idEnd = id.end;
    this.toolError = toolError;
  }

  /**
   * The response in a line of `bytes` bytes read as `parts`, if it is a result response in one
   * of the forms above; else undefined (the line is then parsed like any other).
   */
  static read(parts: readonly Buffer[], bytes: number): PassThroughResponse | undefined {
    if (bytes < 2 * EDGE_BYTES) return undefined;
    const head = edge(parts, 'head');
    const tail = edge(parts, 'tail');
    const envelope = readResponseEnvelope(head, tail, bytes);
    // Only results, and only our own ids (positive integers): anything else is parsed.
    if (envelope?.kind !== 'result') return undefined;
    const id = /^\d+$/.test(envelope.idText) ? Number(envelope.idText) : Number.NaN;
    if (!Number.isSafeInteger(id) || id <= 0) return undefined;
    const toolError = IS_ERROR.test(head) || IS_ERROR.test(tail);
    return new PassThroughResponse(parts, bytes, { value: id, start: envelope.idStart, end: envelope.idEnd }, toolError);
  }

  /** The line with `id` in place of the backend's, in pieces that share the line's memory. */
  withId(id: JsonRpcId): Buffer[] {
    return [...slice(this.#parts, 0, this.#idStart), Buffer.from(JSON.stringify(id)), ...slice(this.#parts, this.#idEnd, this.#bytes)];
  }

  /** The response parsed after all, with `id` in place, for a client that takes only messages. */
  parse(id: JsonRpcId): Record<string, unknown> & { jsonrpc: '2.0' } {
    const message = JSON.parse(Buffer.concat(this.#parts, this.#bytes).toString('utf8')) as Record<string, unknown> & { jsonrpc: '2.0' };
    message['id'] = id;
    return message;
  }
}

/** The first or last {@link EDGE_BYTES} of a line read in pieces, as latin1 text. */
function edge(parts: readonly Buffer[], which: 'head' | 'tail'): string {
  const taken: Buffer[] = [];
  let bytes = 0;
  for (let i = 0; i < parts.length && bytes < EDGE_BYTES; i++) {
    const part = parts[which === 'head' ? i : parts.length - 1 - i] as Buffer;
    const want = Math.min(part.length, EDGE_BYTES - bytes);
    const piece = which === 'head' ? part.subarray(0, want) : part.subarray(part.length - want);
    if (which === 'head') taken.push(piece);
    else taken.unshift(piece);
    bytes += want;
  }
  return Buffer.concat(taken, bytes).toString('latin1');
}

/** Bytes `start` to `end` of a line read in pieces, as subarrays of those pieces. */
function slice(parts: readonly Buffer[], start: number, end: number): Buffer[] {
  const out: Buffer[] = [];
  let offset = 0;
  for (const part of parts) {
    const from = Math.max(start - offset, 0);
    const to = Math.min(end - offset, part.length);
    if (from < to) out.push(part.subarray(from, to));
    offset += part.length;
    if (offset >= end) break;
  }
  return out;
}

/** Where a large result goes: a client that takes lines gets its bytes, one that takes messages (the HTTP front) a message. */
export interface PassOnTarget {
  /** Writes a line as it is; undefined when the client takes only messages. */
  readonly sendLine: ((parts: Buffer[]) => void) | undefined;
  send(message: Record<string, unknown>): void;
}

/** Sends a large result on as the backend wrote it, with the client's id; returns the call-log outcome. */
export function passOn(response: PassThroughResponse, id: JsonRpcId, target: PassOnTarget): string {
  const outcome = response.toolError ? 'tool_error' : 'ok';
  if (target.sendLine !== undefined) {
    target.sendLine(response.withId(id));
    return outcome;
  }
  let message: Record<string, unknown>;
  try {
    message = response.parse(id); // parsed here after all
  } catch (error) {
    target.send({ jsonrpc: '2.0', id, error: { code: JsonRpcErrorCode.InternalError, message: `backend sent a malformed response: ${describeError(error)}` } });
    return 'error';
  }
  target.send(message);
  return outcome;
}
