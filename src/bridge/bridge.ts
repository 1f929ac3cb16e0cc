import { randomBytes } from 'node:crypto';
import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { formatDuration } from '../config/duration.js';
import { GatewayError } from '../errors.js';
import { McpHttpEndpoint } from '../mcp/http-endpoint.js';
import { ActivityTrackingTransport, IdleWatch } from '../mcp/idle.js';
import { refuseSession } from '../mcp/refuse.js';
import { ShareServer } from '../mcp/share-server.js';
import { DEFAULT_STOP_GRACE_MS, StdioUpstream, describeExit, probeStdioServer, type ChildExit, type StdioServerSpec } from '../mcp/stdio-upstream.js';
import { StreamTransport } from '../mcp/stream-transport.js';
import { socketFd } from '../wire/socket-fd.js';
import type { StatusReport } from '../gateway/admin.js';
import type { Metrics } from '../gateway/metrics.js';
import type { ShareListener, ShareProvider, StdioHandover } from '../share/index.js';
import { ShareWatchdog, WATCHDOG_DEFAULTS, type WatchdogOptions } from '../share/watchdog.js';

/** Options for {@link Bridge.start}. */
export interface BridgeOptions {
  server: StdioServerSpec;
  provider: ShareProvider;
  /** Serve under this token instead of a random one. */
  token?: string;
  /** zrok accounts admitted to the share it creates, besides the owner. */
  accessGrants?: readonly string[];
  /** Admit anyone holding the token (zrok open permission mode). */
  open?: boolean;
  logger: Logger;
  /** How long the start-up check waits for `initialize`. */
  probeTimeoutMs?: number;
  /** Grace between the stop steps of a session's process. */
  stopGraceMs?: number;
  /** Counts sessions and server processes (for the admin listener). */
  metrics?: Metrics;
  /** The share listener watchdog's timing (defaults: the original's resilience defaults). */
  watchdog?: Partial<Pick<WatchdogOptions, 'pollIntervalMs' | 'maxRebuildFailures'>>;
  /** An HTTP session with nothing in flight and no message either way this long is ended (default 30 min; 0: never). */
  sessionIdleTimeoutMs?: number;
  /** Sessions (server processes) at once; a client beyond it is refused with an error (default {@link DEFAULT_MAX_SESSIONS}). */
  maxSessions?: number;
}

/** The default of {@link BridgeOptions.maxSessions}: every session is a process of the server. */
export const DEFAULT_MAX_SESSIONS = 100;

/** The server's name in metrics and the status view: a bridge has one. */
const SERVER_LABEL = 'server';

/** The default of {@link BridgeOptions.sessionIdleTimeoutMs}, the original's. */
export const DEFAULT_SESSION_IDLE_TIMEOUT_MS = 30 * 60_000;

/**
 * mcp-bridge: one stdio MCP server exposed as a share. Every client connection gets its own
 * server process, relayed byte for byte, and stopped when the client goes.
 */
export class Bridge {
  readonly token: string;
  /** Settles if the share fails underneath us and cannot be rebuilt. */
  readonly failed: Promise<Error>;
  readonly #listener: ShareListener;
  readonly #watchdog: ShareWatchdog | undefined;
  readonly #endpoint: McpHttpEndpoint;
  readonly #shareServer: ShareServer;
  readonly #sessions: Map<string, StdioUpstream>;
  readonly #grace: number;
  readonly #state: { stopping: boolean };
  #stopping: Promise<void> | undefined;
  readonly #startedAt = performance.now();

  private constructor(parts: {
    listener: ShareListener;
    watchdog: ShareWatchdog | undefined;
    endpoint: McpHttpEndpoint;
    shareServer: ShareServer;
    sessions: Map<string, StdioUpstream>;
    grace: number;
    state: { stopping: boolean };
  }) {
    this.#listener = parts.listener;
    this.token = parts.listener.token;
    this.#watchdog = parts.watchdog;
    this.failed = parts.watchdog?.failed ?? parts.listener.failed;
    this.#endpoint = parts.endpoint;
    this.#shareServer = parts.shareServer;
    this.#sessions = parts.sessions;
    this.#grace = parts.grace;
    this.#state = parts.state;
  }

  /** Checks the server starts and answers `server/discover` or `initialize`, then serves it on a share. */
  static async start(options: BridgeOptions): Promise<Bridge> {
    const { logger, server } = options;
    const grace = options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
    const sessions = new Map<string, StdioUpstream>();
    const state = { stopping: false };
    const spawnSession = (label: string, direct: { socket?: Socket; stdio?: readonly [number, number] } = {}): StdioUpstream => {
      const upstream = new StdioUpstream(server, { logger, label, ...direct });
      sessions.set(label, upstream);
      options.metrics?.sessionOpened();
      options.metrics?.connectionOpened(SERVER_LABEL);
      logger.info({ session: label, pid: upstream.child.pid }, 'session started');
      void upstream.exited.then((exit) => {
        sessions.delete(label);
        options.metrics?.sessionClosed();
        // Ended on its own with a failure, not stopped by us or by its client leaving.
        options.metrics?.connectionClosed(SERVER_LABEL, !state.stopping && exit.code !== 0 && exit.code !== null);
        logger.info({ session: label, code: exit.code, signal: exit.signal, error: exit.error?.message }, 'session ended');
      });
      return upstream;
    };

    // Every session is a server process: past the limit a client is refused (told why), not served.
    const maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
    const full = (): string | undefined => {
      if (sessions.size < maxSessions) return undefined;
      logger.warn({ max: maxSessions }, 'session refused: --max-sessions reached');
      options.metrics?.refused('session_limit');
      return `the bridge already serves its maximum of ${maxSessions} sessions (--max-sessions)`;
    };

    const idleTimeoutMs = options.sessionIdleTimeoutMs ?? DEFAULT_SESSION_IDLE_TIMEOUT_MS;
    const endpoint = new McpHttpEndpoint({
      logger,
      openSession: (label) => {
        const refused = full();
        if (refused !== undefined) return Promise.reject(new GatewayError('LIMIT_EXCEEDED', refused));
        const upstream = spawnSession(label);
        return Promise.resolve(idleTimeoutMs === 0 ? upstream.transport() : watchIdle(upstream, label, idleTimeoutMs, grace, logger));
      },
    });
    const shareServer = new ShareServer({
      endpoint,
      logger,
      onSessionStream: (socket, head) => {
        const refused = full();
        if (refused !== undefined) return void refuseSession(StreamTransport.overSocket(socket, head), refused);
        // A real socket with nothing read past the handshake can become the server's own stdio.
        if (socket instanceof Socket && head.length === 0 && socketFd(socket) !== undefined) handOver(spawnSession(newLabel(), { socket }), socket);
        else pipeSession(spawnSession(newLabel()), socket, head, grace);
      },
    });
    // A random token is only known once listen() returns, and nobody can dial it before.
    let token = options.token ?? '';
    const onStdioHandover = (handover: StdioHandover): void => {
      // Refused here, the client relays instead, and its session stream is refused (and counted) with the reason.
      if (sessions.size >= maxSessions) throw new GatewayError('LIMIT_EXCEEDED', 'the bridge serves its maximum of sessions');
      const upstream = spawnSession(newLabel(), { stdio: [handover.input, handover.output] });
      acceptStdio(upstream, handover, grace, (exit) => (state.stopping || exit.code !== 0 ? `share '${token}' closed the session${state.stopping ? '' : ` (${describeExit(server, exit)})`}` : undefined));
    };
    const listen = { onConnection: shareServer.onConnection, onStdioHandover, accessGrants: options.accessGrants ?? [], open: options.open ?? false };
    const listener = await options.provider.listen(options.token === undefined ? listen : { ...listen, token: options.token });
    token = listener.token;
    // Listening first claims the token (or fails fast on a taken one) before the slower check.
    try {
      const { era, result } = await probeStdioServer(server, { logger: logger.child({ phase: 'startup check' }), timeoutMs: options.probeTimeoutMs ?? 30_000 });
      const name = (result['serverInfo'] as { name?: string } | undefined)?.name;
      logger.info({ server: name, era }, era === 'modern' ? 'server answered server/discover (2026-07-28)' : 'server answered initialize');
    } catch (error) {
      await listener.close();
      throw error;
    }
    // As the gateway's: a zrok share lost under us is rebuilt on the same token, or the bridge exits non-zero.
    const watchdog = ShareWatchdog.watch(listener, { ...WATCHDOG_DEFAULTS, ...options.watchdog, failFast: true, logger });
    return new Bridge({ listener, watchdog, endpoint, shareServer, sessions, grace, state });
  }

  /** The server and its sessions now (for /status): the bridge passes bytes, so it counts no calls. */
  status(name: string): StatusReport {
    const connections = this.#sessions.size;
    return {
      name,
      uptimeSeconds: Math.round((performance.now() - this.#startedAt) / 1000),
      sessions: [...this.#sessions.keys()].map((id) => ({ id, inFlight: 0 })),
      backends: [{ id: SERVER_LABEL, state: this.#stopping === undefined ? 'ready' : 'stopping', connections, calls: 0, errors: 0, p50Ms: undefined, p99Ms: undefined }],
    };
  }

  /** Number of live server processes, one per client session. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Stops accepting, ends every session's process and removes the share. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#state.stopping = true;
      this.#watchdog?.stop();
      await this.#listener.close();
      await this.#endpoint.close();
      await Promise.allSettled([...this.#sessions.values()].map((upstream) => upstream.stop(this.#grace)));
      this.#shareServer.close();
    })();
    return this.#stopping;
  }
}

/**
 * The HTTP sessions' idle timeout: the bridge relays their messages, so it sees what is in flight.
 * (A session whose connection became the server's own stdio ends with that connection instead.)
 */
function watchIdle(upstream: StdioUpstream, label: string, timeoutMs: number, grace: number, logger: Logger): Transport {
  const tracked = new ActivityTrackingTransport(upstream.transport());
  const watch = new IdleWatch(timeoutMs, () => tracked.activity, (idleMs) => {
    logger.info({ session: label, idle_ms: Math.round(idleMs), session_idle_timeout: formatDuration(timeoutMs) }, 'session idle: stopping its server process');
    void upstream.stop(grace);
  });
  void upstream.exited.then(() => watch.stop());
  return tracked;
}

function newLabel(): string {
  return randomBytes(4).toString('hex');
}

/**
 * A local client's own stdin and stdout became the server process's: the client talks to its
 * process exactly as if it had started it. We keep no copy of the descriptors, so the client sees
 * the end of the output when the process exits, and tell `mcp-tools` how it ended.
 */
function acceptStdio(upstream: StdioUpstream, handover: StdioHandover, grace: number, failure: (exit: ChildExit) => string | undefined): void {
  const release = (): void => {
    for (const fd of new Set([handover.input, handover.output])) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
  };
  upstream.child.once('spawn', release);
  upstream.child.once('error', release);
  void upstream.exited.then((exit) => {
    const reason = failure(exit);
    handover.end(reason === undefined ? 0 : 1, reason ?? 'the server process ended');
  });
  // The client stopped mcp-tools (or it died): the session is over.
  void handover.abandoned.then(() => upstream.stop(grace));
}

/**
 * The fastest relay is none: the server process got the client's socket as its stdin and
 * stdout, so bytes flow client ↔ server with no hop through us. We drop our copy of the
 * descriptor (destroy, never end: a shutdown would cut the server's side too) and learn of the
 * client leaving from the server exiting on EOF.
 */
function handOver(upstream: StdioUpstream, socket: Socket): void {
  socket.on('error', () => undefined);
  socket.pause();
  const release = (): void => {
    socket.destroy();
  };
  upstream.child.once('spawn', release);
  upstream.child.once('error', release);
}

/** Our own clients' session streams need no parsing here: bytes go straight to the process. */
function pipeSession(upstream: StdioUpstream, socket: Duplex, head: Buffer, grace: number): void {
  const { stdin, stdout } = upstream.child;
  socket.on('error', () => undefined);
  // undefined when the spawn failed for want of descriptors (EMFILE): the session just ends.
  if (stdin == null || stdout == null) {
    socket.destroy();
    return;
  }
  if (head.length > 0) stdin.write(head);
  socket.pipe(stdin);
  stdout.pipe(socket);
  socket.once('close', () => void upstream.stop(grace));
  // pipe() ends the socket when stdout ends; 'close' also covers a process that never started.
  stdout.once('close', () => socket.end());
}
