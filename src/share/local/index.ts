import { unlinkSync } from 'node:fs';
import { chmod, lstat, unlink } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { GatewayError } from '../../errors.js';
import type { ListenOptions, ShareConnector, ShareListener, ShareProvider } from '../provider.js';
import { socketFd } from '../../wire/socket-fd.js';
import { generateToken, validateToken } from '../../wire/token.js';
import { fdPassing, listenForHandovers, offerHandover, type HandoverListener } from './handover.js';
import { acceptablePeer, assertOwnSocket, assertTrustedSocket, prepareSharesDirectory, trustedServer } from './trust.js';

/** Where local state lives: `$MCP_GATEWAY_HOME`, else `~/.mcp-gateway`. */
export function defaultGatewayHome(env: NodeJS.ProcessEnv = process.env): string {
  return env['MCP_GATEWAY_HOME'] || join(homedir(), '.mcp-gateway');
}

/**
 * The embedded share for one machine: each token is a unix socket `shares/<token>.sock`
 * in a 0700 directory, the socket itself 0600, so only its owner can reach it. Both sides check
 * those files before use (trust.ts).
 */
export class LocalShareProvider implements ShareProvider {
  readonly name = 'local' as const;
  readonly #home: string;
  readonly #dir: string;

  constructor(home: string = defaultGatewayHome()) {
    this.#home = home;
    this.#dir = join(home, 'shares');
  }

  /** The socket path a token maps to. */
  socketPath(token: string): string {
    return join(this.#dir, `${token}.sock`);
  }

  /** Where the share's server takes clients' stdio handed over (see handover.ts). */
  handoverPath(token: string): string {
    return join(this.#dir, `${token}.stdio.sock`);
  }

  async listen(options: ListenOptions): Promise<ShareListener> {
    const token = options.token === undefined ? generateToken() : validateToken(options.token);
    await prepareSharesDirectory(this.#home, this.#dir);
    const path = this.socketPath(token);
    await reclaimStale(path, token);

    const server = createServer((socket) => {
      // Only this user (or root) could open the 0600 socket; where the kernel can say who did, ask.
      if (!acceptablePeer(socketFd(socket))) {
        socket.destroy();
        return;
      }
      socket.setNoDelay(true);
      options.onConnection(socket);
    });
    await listenOn(server, path);
    await chmod(path, 0o600);
    // Without the addon there is no handover socket, and clients relay as they always could.
    let handovers: HandoverListener | undefined;
    if (options.onStdioHandover !== undefined && fdPassing() !== undefined) {
      try {
        handovers = await listenForHandovers(this.handoverPath(token), options.onStdioHandover);
      } catch (error) {
        server.close();
        await unlink(path).catch(() => undefined);
        throw error;
      }
    }
    return new LocalShareListener(token, [path, ...(handovers === undefined ? [] : [this.handoverPath(token)])], server, handovers);
  }

  async dial(token: string): Promise<ShareConnector> {
    validateToken(token);
    const path = this.socketPath(token);
    const handoverPath = this.handoverPath(token);
    const notFound = notFoundMessage(token);
    // Checked before every connection, not once: a socket is what a session is handed to.
    const connect = async (): Promise<Socket> => {
      await assertTrustedSocket(this.#home, this.#dir, path, notFound);
      return openSocket(path, token);
    };
    // One probe connection tells "no such share" apart from a live one before anyone relies on it.
    const probe = await connect();
    probe.destroy();
    return {
      token,
      connect,
      close: () => Promise.resolve(),
      handOverStdio: async (input, output) => {
        // Our client's stdin and stdout go to whoever serves that socket: only to ourselves.
        try {
          await assertTrustedSocket(this.#home, this.#dir, handoverPath, notFound);
        } catch {
          return undefined;
        }
        return offerHandover(handoverPath, input, output);
      },
    };
  }
}

class LocalShareListener implements ShareListener {
  readonly token: string;
  readonly failed: Promise<Error>;
  readonly #paths: readonly string[];
  readonly #server: Server;
  readonly #handovers: HandoverListener | undefined;
  #closing: Promise<void> | undefined;

  constructor(token: string, paths: readonly string[], server: Server, handovers: HandoverListener | undefined) {
    this.token = token;
    this.#paths = paths;
    this.#server = server;
    this.#handovers = handovers;
    this.failed = new Promise<Error>((resolve) => server.once('error', resolve));
    // Unlinking on close() is not enough: a crash between listen and close would leave a stale
    // socket, which the next listen reclaims. On a normal exit we still clean up synchronously.
    process.once('exit', this.#unlinkSync);
  }

  readonly #unlinkSync = (): void => {
    for (const path of this.#paths) {
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    }
  };

  close(): Promise<void> {
    this.#closing ??= (async () => {
      process.removeListener('exit', this.#unlinkSync);
      // Stop accepting at once; connections already open are their owners' to end.
      this.#server.close();
      await this.#handovers?.close();
      await Promise.all(this.#paths.map((path) => unlink(path).catch(() => undefined)));
    })();
    return this.#closing;
  }
}

function notFoundMessage(token: string): string {
  return `share '${token}' not found on the local share (is its bridge or gateway running?)`;
}

function listenOn(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
}

function openSocket(path: string, token: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      if (!trustedServer(socketFd(socket))) {
        socket.destroy();
        reject(new GatewayError('SHARE_UNTRUSTED', `local share: refusing ${path}: it is served by another user`));
        return;
      }
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        reject(new GatewayError('SHARE_NOT_FOUND', notFoundMessage(token), { cause: err }));
      } else {
        reject(new GatewayError('SHARE_UNREACHABLE', `share '${token}' is unreachable: ${err.code ?? err.message}`, { cause: err }));
      }
    });
  });
}

/**
 * A socket file whose owner is alive refuses the token; only one nobody listens on any more
 * (ECONNREFUSED) is removed. Any other failure (EAGAIN: a live server's accept queue is full;
 * EACCES) may hide a live owner: refuse rather than take its token.
 */
async function reclaimStale(path: string, token: string): Promise<void> {
  const stats = await lstat(path).catch(() => undefined);
  if (stats === undefined) return;
  // A socket file left by a crash is ours (and a plain file: a test's stand-in); anything else
  // there (a link, another user's socket) is not ours to connect to or delete.
  if (!stats.isFile()) assertOwnSocket(path, stats);
  let code: string | undefined;
  try {
    const socket = await openSocket(path, token);
    socket.destroy();
  } catch (error) {
    code = ((error as GatewayError).cause as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOENT') return;
    if (code === 'ECONNREFUSED') {
      await unlink(path).catch(() => undefined);
      return;
    }
  }
  const why = code === undefined ? 'a running process' : `a process that cannot be reached (${code}), so it may be running`;
  throw new GatewayError('SHARE_TOKEN_IN_USE', `share token '${token}' is already served by ${why}`);
}
