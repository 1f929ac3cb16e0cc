import type { Readable, Writable } from 'node:stream';
import type { Logger } from '../log.js';
import { type JsonRpcId, JsonRpcErrorCode, type RoutingView, checkEnvelope, isRequest, isResponse, oversizedId } from '../mcp/jsonrpc.js';
import { LineReader, LineSplitter } from '../wire/lines.js';
import { responseLineId } from '../mcp/passthrough.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Duplex } from 'node:stream';
import { type ShareConnector, detachStdio } from '../share/index.js';

/**
 * The share side of a stdio session: whole lines in, whole lines out. Each side stops reading
 * while the other does not drain (`write` false: the share is behind; `pause`/`resume`: the
 * client is), so neither direction queues more than a stream's buffer.
 */
interface Wire {
  /** False when the share is behind: read no more from the client until `onDrain`. */
  write(line: Buffer): boolean;
  start(onLine: (line: Buffer) => void, onClose: () => void, onDrain: () => void): void;
  pause(): void;
  resume(): void;
  close(): void;
}

/** Our session stream: bytes pass through without being parsed again. */
function socketWire(socket: Duplex, head: Buffer, logger: Logger): Wire {
  let reader: LineReader | undefined;
  return {
    write: (line) => writeLine(socket, line),
    start: (onLine, onClose, onDrain) => {
      reader = new LineReader(socket, new LineSplitter(), onLine);
      socket.on('error', (error) => logger.debug({ err: error }, 'share stream error'));
      socket.on('drain', onDrain);
      socket.once('close', onClose);
      reader.start(head);
    },
    pause: () => reader?.pause(),
    resume: () => reader?.resume(),
    close: () => {
      reader?.stop();
      socket.end();
      socket.destroy();
    },
  };
}

/** Standard MCP over HTTP, for shares served by the original Go gateway or bridge (the SDK's transports pace themselves). */
function transportWire(transport: Transport, logger: Logger): Wire {
  return {
    write: (line) => {
      transport.send(JSON.parse(line.toString('utf8')) as JSONRPCMessage).catch((error: unknown) => logger.warn({ err: error }, 'share did not take a message'));
      return true;
    },
    pause: () => undefined,
    resume: () => undefined,
    start: (onLine, onClose) => {
      transport.onmessage = (message) => onLine(Buffer.from(JSON.stringify(message)));
      transport.onclose = onClose;
      transport.onerror = (error) => logger.debug({ err: error.message }, 'share transport error');
      void transport.start().catch(() => onClose());
    },
    close: () => void transport.close(),
  };
}

/** Options for {@link runStdio}. */
export interface RunStdioOptions {
  connector: ShareConnector;
  input: Readable;
  output: Writable;
  logger: Logger;
  /** Larger messages on stdin are refused (default 16 MiB). */
  maxMessageBytes?: number;
}

/** Default limit of one message from the agent. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** How a stdio session ended. */
export interface RunStdioResult {
  /** 0 when the client ended the session, 1 when the share went away first. */
  exitCode: number;
  reason: string;
}

/**
 * `mcp-tools run`: the agent's stdio ↔ one session stream on the share, line for line. Lines
 * pass unchanged; each is parsed only to answer malformed input (-32700) and to know which
 * requests are still unanswered, so none is left hanging when the share goes away.
 */
export async function runStdio(options: RunStdioOptions): Promise<RunStdioResult> {
  const { input, output, logger, connector } = options;
  // Loaded here: a session handed over (handOverStdio) needs none of the client side of a share session.
  const { openShareSession } = await import('../mcp/share-transport.js');
  const session = await openShareSession(connector);
  const wire = session.kind === 'stream' ? socketWire(session.stream.socket, session.stream.head, logger) : transportWire(session.transport, logger);
  if (session.kind === 'http') logger.info({ protocol: session.protocol }, 'share does not speak the session stream; using MCP over HTTP');
  const pending = new Set<JsonRpcId>();
  let inputEnded = false;

  return new Promise<RunStdioResult>((resolve) => {
    let done = false;
    const finish = (result: RunStdioResult): void => {
      if (done) return;
      done = true;
      fromClient.stop();
      wire.close();
      output.write('', () => resolve(result));
    };

    /** Writes to the client; while it does not read, nothing more is read from either side. */
    const writeOut = (line: Buffer | string): void => {
      if (writeLine(output, line)) return;
      wire.pause();
      fromClient.pause();
    };

    const splitter = new LineSplitter({
      maxLineBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      onOversize: (line) =>
        writeOut(JSON.stringify({ jsonrpc: '2.0', id: oversizedId(line), error: { code: JsonRpcErrorCode.InvalidRequest, message: 'Invalid Request: message too large' } })),
    });
    const onClientLine = (line: Buffer): void => {
      if (isBlank(line)) return;
      let message: unknown;
      try {
        message = JSON.parse(line.toString('utf8'));
      } catch {
        writeOut(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: JsonRpcErrorCode.ParseError, message: 'Parse error' } }));
        return;
      }
      const problem = checkEnvelope(message);
      if (problem !== undefined) {
        writeOut(JSON.stringify({ jsonrpc: '2.0', id: problem.id, error: { code: problem.code, message: problem.message } }));
        return;
      }
      // A subscriptions/listen (MCP 2026-07-28) is answered only when it ends, and a request the
      // client cancelled may never be: neither is waited for at stdin's end.
      const view = message as RoutingView & { params?: { requestId?: unknown } };
      if (isRequest(view) && view.method !== 'subscriptions/listen') pending.add(view.id as JsonRpcId);
      else if (view.method === 'notifications/cancelled') pending.delete(view.params?.requestId as JsonRpcId);
      if (!wire.write(line)) fromClient.pause();
    };
    const fromClient = new LineReader(input, splitter, onClientLine);

    const onShareLine = (line: Buffer): void => {
      if (done) return;
      if (isBlank(line)) return;
      if (pending.size > 0) {
        const answered = respondedId(line);
        if (answered !== undefined) pending.delete(answered);
      }
      writeOut(line);
      if (inputEnded && pending.size === 0) finish({ exitCode: 0, reason: 'client closed stdin' });
    };

    // A client that stops reading its stdout has left: end the session, do not crash on EPIPE.
    output.on('error', (error: NodeJS.ErrnoException) => finish({ exitCode: 1, reason: `the client stopped reading stdout (${error.code ?? error.message})` }));
    output.on('drain', () => {
      wire.resume();
      fromClient.resume();
    });
    fromClient.start();
    input.once('end', () => {
      inputEnded = true;
      if (pending.size === 0) finish({ exitCode: 0, reason: 'client closed stdin' });
      else logger.debug({ pending: pending.size }, 'stdin closed; waiting for answers');
    });
    const onShareClosed = (): void => {
      if (done) return;
      for (const id of pending) {
        writeOut(JSON.stringify({ jsonrpc: '2.0', id, error: { code: JsonRpcErrorCode.ConnectionClosed, message: `share '${connector.token}' closed the session before answering` } }));
      }
      const unanswered = pending.size;
      pending.clear();
      if (inputEnded && unanswered === 0) finish({ exitCode: 0, reason: 'client closed stdin' });
      else finish({ exitCode: 1, reason: `share '${connector.token}' closed the session` });
    };
    wire.start(onShareLine, onShareClosed, () => fromClient.resume());
  });
}

/**
 * `mcp-tools run` on the local share: instead of relaying, hand this process's stdin and stdout
 * (fds 0 and 1) to the process serving the share, which then talks to the client directly, and
 * wait for it to end the session. Resolves to undefined when the share does not take them (not
 * local, an older server, no fd-passing addon, stdio not pipes): nothing has been read from or
 * written to them, so {@link runStdio} can relay as usual.
 */
export async function handOverStdio(connector: ShareConnector, logger: Logger): Promise<RunStdioResult | undefined> {
  const handed = await connector.handOverStdio?.(0, 1);
  if (handed === undefined) return undefined;
  // Our copies must go, or the client would never see the end of its session's output.
  detachStdio();
  logger.debug('stdin and stdout handed over to the share');
  return handed.ended;
}

const NEWLINE = Buffer.from('\n');

/** Line and newline in one system call (writev), not two; false when the stream is behind. */
function writeLine(stream: Writable | Duplex, line: Buffer | string): boolean {
  stream.cork();
  stream.write(line);
  const below = stream.write(NEWLINE);
  stream.uncork();
  return below;
}

/**
 * The id a line answers, if it is a response. The envelope is read from the line's first and
 * last bytes when it is in a form the SDKs write (src/mcp/passthrough.ts), so an 8 MB result is
 * not parsed here; any other shape is parsed in full.
 */
function respondedId(line: Buffer): JsonRpcId | undefined {
  const envelope = responseLineId(line);
  if (envelope !== undefined) return envelope.id;
  try {
    const message = JSON.parse(line.toString('utf8')) as RoutingView;
    return message !== null && typeof message === 'object' && isResponse(message) ? (message.id as JsonRpcId) : undefined;
  } catch {
    return undefined; // not JSON: passed on all the same
  }
}

function isBlank(line: Buffer): boolean {
  for (const byte of line) if (byte !== 32 && byte !== 9 && byte !== 13) return false;
  return true;
}
