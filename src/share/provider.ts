import type { Duplex } from 'node:stream';

/** The kinds of share this project can serve on or reach. */
export type ShareProviderName = 'local' | 'zrok' | 'memory';

/** What a provider hands to the server for every inbound connection: a byte stream speaking HTTP/1.1. */
export type ConnectionHandler = (socket: Duplex) => void;

/** Options for {@link ShareProvider.listen}. */
export interface ListenOptions {
  /** A chosen (persistent) token; a random ephemeral one when absent. */
  token?: string;
  /**
   * Accounts admitted to a share this listen creates, besides its owner (zrok: `--access-grant`,
   * an account's email). A local share admits its owner only and ignores them.
   */
  accessGrants?: readonly string[];
  /** Admit anyone holding the token (zrok: `--open`); never the default. */
  open?: boolean;
  onConnection: ConnectionHandler;
  /**
   * Takes clients' stdin and stdout handed over by `mcp-tools run` on the same machine, so that
   * no process relays them. Only the local share offers this; others ignore it.
   */
  onStdioHandover?: StdioHandoverHandler;
}

/** A client's own stdin and stdout, handed over a local share: the receiver now owns both. */
export interface StdioHandover {
  /** Where the client's messages arrive: what was `mcp-tools run`'s stdin. */
  readonly input: number;
  /** Where answers go: what was `mcp-tools run`'s stdout. */
  readonly output: number;
  /** Settles when the process that handed them over is gone (the client stopped it, or it died). */
  readonly abandoned: Promise<void>;
  /** Lets that process exit with this code, printing `reason` when it is not 0. */
  end(exitCode: number, reason: string): void;
}

/** Called for every accepted handover; throwing refuses it (the client then relays as usual). */
export type StdioHandoverHandler = (handover: StdioHandover) => void;

/** How a handed-over session ended, as the serving process reported it. */
export interface HandoverEnd {
  exitCode: number;
  reason: string;
}

/** Whether a listener's share is served right now, as far as its provider can tell. */
export interface ListenerHealth {
  readonly serving: boolean;
  /** Why not, when not serving. */
  readonly reason?: string;
  /** Established terminators of the share, where the provider can count them (the zrok2 CLI cannot). */
  readonly established?: number;
}

/** A share being served; `close()` stops accepting and removes an ephemeral share. */
export interface ShareListener {
  readonly token: string;
  /**
   * Settles when the share stops for a reason of its own (e.g. the overlay died), never on
   * close(). A listener that can be rebuilt settles it on its first loss only: a watchdog that
   * rebuilds it (src/share/watchdog.ts) has its own.
   */
  readonly failed: Promise<Error>;
  close(): Promise<void>;
  /** The share's health now, where the provider can lose a share and tell (zrok). */
  health?(): ListenerHealth;
  /** Serves the same token again after a loss, the server behind it untouched; rejects when it cannot. */
  rebuild?(): Promise<void>;
  /** Calls `callback` on every loss the listener notices itself (so a watchdog need not wait to poll). */
  onLost?(callback: (reason: string) => void): void;
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
  /**
   * Hands these descriptors (a client's stdin and stdout) to the serving process, when the share
   * is local and its server takes them; resolves to undefined otherwise, the descriptors untouched.
   */
  handOverStdio?(input: number, output: number): Promise<{ ended: Promise<HandoverEnd> } | undefined>;
}

/** The overlay seam: serve under a token, reach a token. Every provider passes test/share/contract.ts. */
export interface ShareProvider {
  readonly name: ShareProviderName;
  listen(options: ListenOptions): Promise<ShareListener>;
  dial(token: string): Promise<ShareConnector>;
}
