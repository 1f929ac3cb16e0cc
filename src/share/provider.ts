import type { Duplex } from 'node:stream';

/** The kinds of share this project can serve on or reach. */
export type ShareProviderName = 'local' | 'zrok' | 'memory';

/** What a provider hands to the server for every inbound connection: a byte stream speaking HTTP/1.1. */
export type ConnectionHandler = (socket: Duplex) => void;

/** Options for {@link ShareProvider.listen}. */
export interface ListenOptions {
  /** A chosen (persistent) token; a random ephemeral one when absent. */
  token?: string;
  onConnection: ConnectionHandler;
}

/** A share being served; `close()` stops accepting and removes an ephemeral share. */
export interface ShareListener {
  readonly token: string;
  /** Settles when the share stops for a reason of its own (e.g. the overlay died), never on close(). */
  readonly failed: Promise<Error>;
  close(): Promise<void>;
}

/** A reachable share: each `connect()` opens a new byte stream to the serving process. */
export interface ShareConnector {
  readonly token: string;
  /**
   * Where plain HTTP clients reach the share (e.g. `http://127.0.0.1:PORT` for a zrok access),
   * when they can; used to talk to servers that do not speak our session stream.
   */
  readonly httpBase?: string;
  connect(): Promise<Duplex>;
  close(): Promise<void>;
}

/** The overlay seam: serve under a token, reach a token. Every provider passes test/share/contract.ts. */
export interface ShareProvider {
  readonly name: ShareProviderName;
  listen(options: ListenOptions): Promise<ShareListener>;
  dial(token: string): Promise<ShareConnector>;
}
