import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../log.js';

/** What a {@link LazyUpstream}'s owner hears from the server side. */
export interface LazyUpstreamHandlers {
  message(upstream: Transport, message: JSONRPCMessage): void;
  /** The server side closed (it is opened again by the next use). */
  closed(): void;
}

/**
 * One server-side session shared by many short front requests (stateless HTTP of either era):
 * opened on first use, opened again after it closed or failed to open, closed with the front.
 */
export class LazyUpstream {
  readonly #open: () => Promise<Transport>;
  readonly #handlers: LazyUpstreamHandlers;
  readonly #logger: Logger;
  #upstream: Promise<Transport> | undefined;

  constructor(open: () => Promise<Transport>, handlers: LazyUpstreamHandlers, logger: Logger) {
    this.#open = open;
    this.#handlers = handlers;
    this.#logger = logger;
  }

  /** The open session, opening one if there is none. */
  get(): Promise<Transport> {
    this.#upstream ??= (async () => {
      const upstream = await this.#open();
      upstream.onmessage = (message) => this.#handlers.message(upstream, message);
      upstream.onclose = () => {
        this.#upstream = undefined;
        this.#handlers.closed();
      };
      upstream.onerror = (error) => this.#logger.debug({ err: error.message }, 'shared upstream session: error');
      await upstream.start();
      return upstream;
    })();
    this.#upstream.catch(() => (this.#upstream = undefined));
    return this.#upstream;
  }

  /** Ends the session, if one is open. */
  async close(): Promise<void> {
    const upstream = this.#upstream;
    this.#upstream = undefined;
    if (upstream !== undefined) await (await upstream).close();
  }
}
