import { Duplex } from 'node:stream';
import { GatewayError } from '../../errors.js';
import type { ConnectionHandler, ListenOptions, ShareConnector, ShareListener, ShareProvider } from '../provider.js';
import { generateToken, validateToken } from '../../wire/token.js';

/**
 * An in-process share for tests: tokens live in a registry shared by every instance created
 * from the same `MemoryShareNetwork`, connections are linked in-memory duplex pairs.
 */
export class MemoryShareProvider implements ShareProvider {
  readonly name = 'memory' as const;
  readonly #shares: Map<string, ConnectionHandler>;

  constructor(network: MemoryShareNetwork = new MemoryShareNetwork()) {
    this.#shares = network.shares;
  }

  listen(options: ListenOptions): Promise<ShareListener> {
    // Like a real provider, every failure is a rejection, never a synchronous throw.
    return new Promise((resolve) => resolve(this.#listen(options)));
  }

  dial(token: string): Promise<ShareConnector> {
    return new Promise((resolve) => resolve(this.#dial(token)));
  }

  #listen(options: ListenOptions): ShareListener {
    const token = options.token === undefined ? generateToken() : validateToken(options.token);
    if (this.#shares.has(token)) {
      throw new GatewayError('SHARE_TOKEN_IN_USE', `share token '${token}' is already served by a running process`);
    }
    this.#shares.set(token, options.onConnection);
    const shares = this.#shares;
    const listener: ShareListener = {
      token,
      failed: new Promise<Error>(() => undefined),
      close: () => {
        if (shares.get(token) === options.onConnection) shares.delete(token);
        return Promise.resolve();
      },
    };
    return listener;
  }

  #dial(token: string): ShareConnector {
    validateToken(token);
    if (!this.#shares.has(token)) throw new GatewayError('SHARE_NOT_FOUND', `share '${token}' not found`);
    const shares = this.#shares;
    return {
      token,
      connect: () => {
        const handler = shares.get(token);
        if (handler === undefined) return Promise.reject(new GatewayError('SHARE_NOT_FOUND', `share '${token}' not found`));
        const [client, server] = createDuplexPair();
        handler(server);
        return Promise.resolve(client);
      },
      close: () => Promise.resolve(),
    };
  }
}

/** The registry that MemoryShareProvider instances share, standing in for the overlay. */
export class MemoryShareNetwork {
  /** token → the listening side's connection handler */
  readonly shares = new Map<string, ConnectionHandler>();
}

/** One end of an in-memory connection; carries the socket methods node:http calls. */
class MemorySocket extends Duplex {
  peer: MemorySocket | undefined;
  #pendingCallback: (() => void) | undefined;

  override _read(): void {
    const callback = this.#pendingCallback;
    this.#pendingCallback = undefined;
    callback?.();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    if (peer === undefined || peer.destroyed) {
      callback(new Error('peer closed'));
      return;
    }
    // Back-pressure: hold the callback until the peer's reader wants more.
    if (peer.push(chunk)) callback();
    else peer.#pendingCallback = () => callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.peer?.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    this.peer = undefined;
    if (peer !== undefined && !peer.destroyed) {
      peer.push(null);
      peer.destroy();
    }
    callback(error);
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  setTimeout(_ms: number, callback?: () => void): this {
    if (callback !== undefined) this.once('timeout', callback);
    return this;
  }
}

function createDuplexPair(): [MemorySocket, MemorySocket] {
  const a = new MemorySocket();
  const b = new MemorySocket();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
