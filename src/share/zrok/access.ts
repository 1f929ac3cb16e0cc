import { connect, createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { GatewayError } from '../../errors.js';
import type { ShareConnector } from '../provider.js';
import { accessFailure } from './errors.js';
import { ZrokProcess, type ZrokCommand } from './process.js';

/** Timing for {@link ZrokAccess}. */
export interface ZrokAccessTiming {
  bootTimeoutMs: number;
  stopGraceMs: number;
}

// zrok2 opens its local listener just after the boot line, so the first connects may be refused.
const CONNECT_RETRY_MS = 5_000;
// The free port is found by binding and releasing it; another process may take it in between.
const BIND_ATTEMPTS = 3;

/**
 * One `zrok2 access private <token>` onto a loopback port, shared by every connector dialled
 * for the token: started on first use, stopped (SIGTERM) when the last connector closes.
 */
export class ZrokAccess {
  readonly token: string;
  readonly #command: ZrokCommand;
  readonly #timing: ZrokAccessTiming;
  readonly #ready: Promise<{ port: number; child: ZrokProcess }>;
  #child: ZrokProcess | undefined;
  #refs = 0;
  #stopping: Promise<void> | undefined;
  #onGone: () => void;

  constructor(token: string, command: ZrokCommand, timing: ZrokAccessTiming, onGone: () => void) {
    this.token = token;
    this.#command = command;
    this.#timing = timing;
    this.#onGone = onGone;
    this.#ready = this.#start();
    // Failures reach every acquire(); this only keeps an unawaited rejection from being fatal.
    this.#ready.catch(() => undefined);
  }

  /** True once this access can no longer serve connects: a new dial must start another. */
  get stopped(): boolean {
    return this.#stopping !== undefined || this.#child?.hasExited === true;
  }

  /** Waits until the access is up and returns a connector holding it open until its close(). */
  async acquire(): Promise<ShareConnector> {
    this.#refs++;
    let ready: { port: number; child: ZrokProcess };
    try {
      ready = await this.#ready;
    } catch (err) {
      this.#refs--;
      throw err;
    }
    let closed = false;
    return {
      token: this.token,
      // zrok's proxy mode is plain HTTP end to end, so HTTP clients can use the access port too.
      httpBase: `http://127.0.0.1:${ready.port}`,
      connect: () => (closed ? Promise.reject(this.#closedError()) : this.#connect(ready.port, ready.child)),
      close: async () => {
        if (closed) return;
        closed = true;
        if (--this.#refs === 0) await this.release();
      },
    };
  }

  async #start(): Promise<{ port: number; child: ZrokProcess }> {
    for (let attempt = 1; ; attempt++) {
      const bind = `127.0.0.1:${await freeLoopbackPort()}`;
      const args = ['access', 'private', this.token, '--bind', bind, '--subordinate'];
      const child = new ZrokProcess({ ...this.#command, args }, this.#timing.bootTimeoutMs);
      this.#child = child;
      const outcome = await child.booted;
      if (outcome.ok) {
        void child.exited.then(() => this.#onGone());
        const port = Number(/:(\d+)$/.exec(String(outcome.line['bind_address']))?.[1] ?? NaN);
        if (!Number.isInteger(port)) {
          await this.#stop();
          throw new GatewayError('SHARE_UNREACHABLE', `zrok2 access reported no usable bind_address for share '${this.token}'`);
        }
        return { port, child };
      }
      await child.stop(this.#timing.stopGraceMs);
      const portTaken = /address already in use|EADDRINUSE/i.test(outcome.text);
      if (!portTaken || attempt >= BIND_ATTEMPTS) {
        this.#onGone();
        throw accessFailure(outcome, this.token, this.#command.env);
      }
    }
  }

  async #connect(port: number, child: ZrokProcess): Promise<Socket> {
    const deadline = Date.now() + CONNECT_RETRY_MS;
    for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
      if (child.hasExited || this.#stopping !== undefined) throw this.#closedError();
      try {
        const socket = await openSocket(port);
        socket.setNoDelay(true);
        return socket;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED' || Date.now() >= deadline) {
          throw new GatewayError('SHARE_UNREACHABLE', `share '${this.token}' is unreachable: zrok2 access refused the connection`, { cause: err });
        }
      }
      await sleep(delay);
    }
  }

  #closedError(): GatewayError {
    const why = this.#child?.lastError;
    return new GatewayError('SHARE_CLOSED', `the zrok2 access to share '${this.token}' has stopped${why === undefined ? '' : ` (${why})`}`);
  }

  /** Stops the access now, whoever still holds a connector (their connects fail with SHARE_CLOSED). */
  release(): Promise<void> {
    return this.#stop();
  }

  #stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#onGone();
      await this.#child?.stop(this.#timing.stopGraceMs);
    })();
    return this.#stopping;
  }
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = address !== null && typeof address === 'object' ? address.port : 0;
      server.close(() => (port === 0 ? reject(new GatewayError('BIND_FAILED', 'no free loopback port for zrok2 access')) : resolve(port)));
    });
  });
}
