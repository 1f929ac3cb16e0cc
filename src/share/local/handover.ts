import { closeSync, fstatSync, openSync } from 'node:fs';
import { chmod, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { LineSplitter } from '../../wire/lines.js';
import { nativePackage } from '../../wire/native.js';
import { socketFd } from '../../wire/socket-fd.js';
import { acceptablePeer, trustedServer } from './trust.js';
import type { HandoverEnd, StdioHandover, StdioHandoverHandler } from '../provider.js';

/**
 * The stdio handover of the local share. `mcp-tools run` is a relay between its client's pipes
 * and the share; on one machine it can instead pass those pipes themselves (SCM_RIGHTS over a
 * unix socket) to the process serving the share, which then reads and writes the client directly:
 * one process and two system calls fewer per message in each direction.
 *
 * Wire: the client connects to `<token>.stdio.sock` and sends one line,
 * `{"handover":"stdio","version":1}`, carrying its stdin and stdout; the server answers
 * `{"accepted":true}` (or `false` with a reason: the client then relays as usual), and when the
 * session is over `{"ended":{"exitCode":N,"reason":"…"}}` before closing.
 */
const HELLO = { handover: 'stdio', version: 1 } as const;
/** How long a server waits for the hello of a connection it accepted. */
const HELLO_TIMEOUT_MS = 5_000;
/**
 * Waits between tries to read the hello: 1 ms, doubling to this. A paused socket (its descriptors
 * must be read with recvmsg, not by the stream) has no readable event in Node, so it is polled,
 * quickly at first (the hello follows the connect at once), then rarely.
 */
const HELLO_RETRY_MAX_MS = 50;

/** The native half: sendmsg/recvmsg with SCM_RIGHTS (the optional package `@mcp-gateway/fd-passing`). */
type FdPassing = typeof import('@mcp-gateway/fd-passing');

/** Set to `0`, no stdio handover is offered or asked for even where the optional package is built. */
export const FD_PASSING_ENV = 'MCP_GATEWAY_FD_PASSING';

/**
 * The fd-passing addon; undefined where the optional package is missing or was not built (no
 * compiler at install time), or `MCP_GATEWAY_FD_PASSING=0` turns it off: then every session is
 * relayed, which does everything the handover does with one process more.
 */
export function fdPassing(): FdPassing | undefined {
  return process.env[FD_PASSING_ENV] === '0' ? undefined : nativePackage();
}

/** True for the descriptors a handover can carry: pipes and sockets (not files or terminals). */
export function isStreamFd(fd: number): boolean {
  try {
    const stat = fstatSync(fd);
    return stat.isFIFO() || stat.isSocket();
  } catch {
    return false;
  }
}

function closeQuietly(fds: readonly number[]): void {
  for (const fd of fds) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }
}

/** A listening handover socket. */
export interface HandoverListener {
  close(): Promise<void>;
}

/** Serves handovers at `path` (0600); every valid one goes to `onHandover`. */
export async function listenForHandovers(path: string, onHandover: StdioHandoverHandler, options: { helloTimeoutMs?: number } = {}): Promise<HandoverListener> {
  const helloTimeoutMs = options.helloTimeoutMs ?? HELLO_TIMEOUT_MS;
  const native = fdPassing();
  if (native === undefined) throw new Error('fd passing is not available');
  await unlink(path).catch(() => undefined);
  // Paused: the hello and its descriptors must be read with recvmsg, not by the stream.
  const server: Server = createServer({ pauseOnConnect: true }, (socket) => receive(native, socket, onHandover, helloTimeoutMs));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  await chmod(path, 0o600);
  return {
    close: async () => {
      server.close();
      await unlink(path).catch(() => undefined);
    },
  };
}

/**
 * Answers a refused handover and releases the connection once the answer is written: the socket
 * is paused, so it would never read the client's end and close by itself.
 */
function refuse(socket: Socket, reason: string): void {
  socket.once('finish', () => socket.destroy());
  socket.end(`${JSON.stringify({ accepted: false, reason })}\n`);
}

function receive(native: FdPassing, socket: Socket, onHandover: StdioHandoverHandler, helloTimeoutMs: number): void {
  socket.on('error', () => undefined);
  const fd = socketFd(socket);
  if (fd === undefined || !acceptablePeer(fd)) {
    socket.destroy();
    return;
  }
  const deadline = Date.now() + helloTimeoutMs;
  let wait = 1;
  const attempt = (): void => {
    let message: ReturnType<FdPassing['recvFds']>;
    try {
      message = native.recvFds(fd);
    } catch (error) {
      // The client sends its hello as soon as it is connected: poll for it, backing off.
      const left = deadline - Date.now();
      if ((error as { code?: unknown }).code === 'EAGAIN' && left > 0 && !socket.destroyed) {
        setTimeout(attempt, Math.min(wait, left));
        wait = Math.min(2 * wait, HELLO_RETRY_MAX_MS);
      } else {
        socket.destroy();
      }
      return;
    }
    const refusal = checkHello(message);
    if (refusal !== undefined) {
      closeQuietly(message.fds);
      if (message.data.length === 0) socket.destroy();
      else refuse(socket, refusal);
      return;
    }
    const [input, output] = message.fds as [number, number];
    let ended = false;
    const abandoned = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const handover: StdioHandover = {
      input,
      output,
      abandoned,
      end: (exitCode, reason) => {
        if (ended) return;
        ended = true;
        socket.end(`${JSON.stringify({ ended: { exitCode, reason } })}\n`);
      },
    };
    try {
      onHandover(handover);
    } catch (error) {
      closeQuietly(message.fds);
      refuse(socket, (error as Error).message);
      return;
    }
    socket.write(`${JSON.stringify({ accepted: true })}\n`);
    // From here the socket only tells us when the client's process goes away.
    socket.resume();
  };
  attempt();
}

function checkHello(message: ReturnType<FdPassing['recvFds']>): string | undefined {
  if (message.data.length === 0) return 'no hello';
  if (message.truncated || message.fds.length !== 2) return 'expected exactly two descriptors (stdin, stdout)';
  let hello: unknown;
  try {
    hello = JSON.parse(message.data.toString('utf8'));
  } catch {
    return 'malformed hello';
  }
  const { handover, version } = (hello ?? {}) as { handover?: unknown; version?: unknown };
  if (handover !== HELLO.handover || version !== HELLO.version) return 'unsupported handover';
  if (!message.fds.every(isStreamFd)) return 'descriptors must be pipes or sockets';
  return undefined;
}

/**
 * After a handover of fds 0 and 1: points both at /dev/null, so the server's copies are the only
 * ones left (else the client would never see its output end) and the numbers are not reused.
 * The lowest free descriptor is the one just closed.
 */
export function detachStdio(): void {
  for (const [fd, flags] of [
    [0, 'r'],
    [1, 'w'],
  ] as const) {
    closeSync(fd);
    const replacement = openSync('/dev/null', flags);
    if (replacement !== fd) closeSync(replacement);
  }
}

/**
 * Offers `input` and `output` to the server at `path`. Resolves to undefined (descriptors
 * untouched, still ours) when there is no handover socket, no addon, or the server declines;
 * else the descriptors belong to the server and `ended` settles when it closes the session.
 */
export async function offerHandover(path: string, input: number, output: number): Promise<{ ended: Promise<HandoverEnd> } | undefined> {
  const native = fdPassing();
  if (native === undefined || !isStreamFd(input) || !isStreamFd(output)) return undefined;
  const socket = await new Promise<Socket | undefined>((resolve) => {
    const s = connect(path);
    s.once('connect', () => resolve(s));
    s.once('error', () => resolve(undefined));
  });
  if (socket === undefined) return undefined;
  socket.on('error', () => undefined);
  const fd = socketFd(socket);
  try {
    if (fd === undefined) throw new Error('no descriptor');
    // Our stdin and stdout are handed to whoever serves this socket: only to our own user.
    if (!trustedServer(fd)) throw new Error('served by another user');
    native.sendFds(fd, Buffer.from(`${JSON.stringify(HELLO)}\n`), [input, output]);
  } catch {
    socket.destroy();
    return undefined;
  }

  const lines: unknown[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  const splitter = new LineSplitter();
  socket.on('data', (chunk: Buffer) =>
    splitter.push(chunk, (line) => {
      try {
        lines.push(JSON.parse(line.toString('utf8')));
      } catch {
        lines.push(undefined);
      }
      wake?.();
    }),
  );
  socket.once('close', () => {
    closed = true;
    wake?.();
  });
  const next = async (): Promise<unknown> => {
    while (lines.length === 0 && !closed) await new Promise<void>((resolve) => (wake = resolve));
    return lines.shift();
  };

  const answer = (await next()) as { accepted?: unknown } | undefined;
  if (answer?.accepted !== true) {
    socket.destroy();
    return undefined;
  }
  const ended = (async (): Promise<HandoverEnd> => {
    const last = (await next()) as { ended?: Partial<HandoverEnd> } | undefined;
    socket.destroy();
    const { exitCode, reason } = last?.ended ?? {};
    if (typeof exitCode === 'number' && typeof reason === 'string') return { exitCode, reason };
    return { exitCode: 1, reason: 'the share went away without ending the session' };
  })();
  return { ended };
}
