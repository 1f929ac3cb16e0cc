import type { Readable, Writable } from 'node:stream';
import type { Logger } from '../log.js';
import { type JsonRpcId, JsonRpcErrorCode, type RoutingView, isRequest, isResponse } from '../mcp/jsonrpc.js';
import { LineSplitter } from '../mcp/line-splitter.js';
import { openSessionStream } from '../mcp/session-stream.js';
import type { ShareConnector } from '../share/provider.js';

/** Options for {@link runStdio}. */
export interface RunStdioOptions {
  connector: ShareConnector;
  input: Readable;
  output: Writable;
  logger: Logger;
}

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
  const stream = await openSessionStream(connector);
  const socket = stream.socket;
  const pending = new Set<JsonRpcId>();
  let inputEnded = false;

  return new Promise<RunStdioResult>((resolve) => {
    let done = false;
    const finish = (result: RunStdioResult): void => {
      if (done) return;
      done = true;
      input.removeListener('data', onInput);
      socket.removeListener('data', onShare);
      socket.end();
      socket.destroy();
      output.write('', () => resolve(result));
    };

    const writeOut = (line: Buffer | string): void => {
      output.write(line);
      output.write('\n');
    };

    const fromClient = new LineSplitter();
    const onClientLine = (line: Buffer): void => {
      if (isBlank(line)) return;
      let message: unknown;
      try {
        message = JSON.parse(line.toString('utf8'));
      } catch {
        writeOut(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: JsonRpcErrorCode.ParseError, message: 'Parse error' } }));
        return;
      }
      for (const item of Array.isArray(message) ? message : [message]) {
        if (item !== null && typeof item === 'object' && isRequest(item as RoutingView)) pending.add((item as RoutingView).id as JsonRpcId);
      }
      socket.write(line);
      socket.write('\n');
    };
    const onInput = (chunk: Buffer): void => fromClient.push(chunk, onClientLine);

    const fromShare = new LineSplitter();
    const onShareLine = (line: Buffer): void => {
      if (isBlank(line)) return;
      if (pending.size > 0) {
        try {
          const message = JSON.parse(line.toString('utf8')) as unknown;
          for (const item of Array.isArray(message) ? message : [message]) {
            if (item !== null && typeof item === 'object' && isResponse(item as RoutingView)) pending.delete((item as RoutingView).id as JsonRpcId);
          }
        } catch {
          logger.warn('share sent a line that is not JSON; passing it on');
        }
      }
      writeOut(line);
      if (inputEnded && pending.size === 0) finish({ exitCode: 0, reason: 'client closed stdin' });
    };
    const onShare = (chunk: Buffer): void => fromShare.push(chunk, onShareLine);

    input.on('data', onInput);
    input.once('end', () => {
      inputEnded = true;
      if (pending.size === 0) finish({ exitCode: 0, reason: 'client closed stdin' });
      else logger.debug({ pending: pending.size }, 'stdin closed; waiting for answers');
    });
    socket.on('data', onShare);
    socket.on('error', (error) => logger.debug({ err: error }, 'share stream error'));
    socket.once('close', () => {
      if (done) return;
      for (const id of pending) {
        writeOut(JSON.stringify({ jsonrpc: '2.0', id, error: { code: JsonRpcErrorCode.ConnectionClosed, message: `share '${connector.token}' closed the session before answering` } }));
      }
      const unanswered = pending.size;
      pending.clear();
      if (inputEnded && unanswered === 0) finish({ exitCode: 0, reason: 'client closed stdin' });
      else finish({ exitCode: 1, reason: `share '${connector.token}' closed the session` });
    });
    if (stream.head.length > 0) onShare(stream.head);
  });
}

function isBlank(line: Buffer): boolean {
  for (const byte of line) if (byte !== 32 && byte !== 9 && byte !== 13) return false;
  return true;
}
