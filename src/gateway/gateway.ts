import { randomBytes } from 'node:crypto';
import { Socket } from 'node:net';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { GatewayConfig } from '../config/types.js';
import { GatewayError, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { formatDuration } from '../config/duration.js';
import { McpHttpEndpoint } from '../mcp/http-endpoint.js';
import { IdleWatch } from '../mcp/idle.js';
import { CLIENT_TOOL_NAME_RULE } from '../mcp/naming.js';
import { refuseSession } from '../mcp/refuse.js';
import { ShareServer } from '../mcp/share-server.js';
import { StreamTransport } from '../mcp/stream-transport.js';
import type { UpstreamConnection, UpstreamHandlers } from '../mcp/upstream.js';
import { openUpstream } from '../mcp/upstream-transport.js';
import type { StdioUpstream } from '../mcp/stdio-upstream.js';
import type { ShareListener, ShareProvider, StdioHandover } from '../share/index.js';
import { Backend, type BackendCatalogue, type ListKind } from './backend.js';
import { Catalogue } from './catalogue.js';
import { GatewaySession, type SessionHost } from './session.js';
import type { StatusReport } from './admin.js';
import type { Metrics } from './metrics.js';
import type { Tracing } from './tracing.js';
import { type ShareHealth, watchShare } from './share-health.js';
import { SharedRouting } from './shared-routing.js';
import { tasksCapability } from './tasks.js';
import { WarmPool } from './warm-pool.js';

/** Start-up progress of one backend, for the CLI to show. */
export type BackendStatus =
  | { id: string; state: 'connecting' }
  | { id: string; state: 'ready'; tools: number; seconds: number }
  | { id: string; state: 'failed'; reason: string; required: boolean };

/** Options for {@link Gateway.start}. */
export interface GatewayOptions {
  config: GatewayConfig;
  /** Serves the gateway's own share. */
  provider: ShareProvider;
  /** Reaches `type: zrok` backends; defaults to `provider`. */
  dialProvider?: ShareProvider;
  logger: Logger;
  /** Overrides `share_token` from the config. */
  token?: string;
  onBackendStatus?: (status: BackendStatus) => void;
  /** Counts what the gateway does (for its admin listener). */
  metrics?: Metrics;
  /** Spans for forwarded requests (OpenTelemetry). */
  tracing?: Tracing;
  /**
   * What the listener watchdog does when the share cannot be rebuilt (`resilience:`): by default
   * (standalone) `failed` settles; managed mode keeps retrying and tells the orchestrator.
   */
  managedShare?: { onUnrecoverable: (error: Error) => void; onRecovered: () => void };
}

/** Capabilities the gateway offers to backends on behalf of its clients at discovery. */
const DISCOVERY_CLIENT = { name: 'mcp-gateway', version: '0' };
/** Servers hide tools a client cannot serve (e.g. sampling); discovery must see them all. */
const DISCOVERY_INIT = {
  protocolVersion: LATEST_PROTOCOL_VERSION,
  capabilities: {
    sampling: {},
    elicitation: { form: {}, url: {} },
    roots: { listChanged: true },
    tasks: { list: {}, cancel: {}, requests: { sampling: { createMessage: {} }, elicitation: { create: {} } } },
  },
  clientInfo: DISCOVERY_CLIENT,
};
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 30_000;

/**
 * mcp-gateway: many backends served as one share. Discovers every backend's catalogue at
 * start-up, then gives each client its own session that starts `session` backends lazily.
 */
export class Gateway implements SessionHost {
  /** Replaced as a whole by {@link reload}: sessions read it at each use. */
  config: GatewayConfig;
  readonly logger: Logger;
  readonly metrics: Metrics | undefined;
  readonly tracing: Tracing | undefined;
  readonly ready: Promise<void>;
  #backends: Backend[];
  /** Processes of `warm` backends started ahead of the sessions that will take them. */
  readonly #warm: WarmPool;
  readonly #provider: ShareProvider;
  readonly #dialProvider: ShareProvider;
  readonly #sessions = new Set<GatewaySession>();
  readonly #onSessionClosed = new Map<GatewaySession, () => void>();
  readonly #idleWatches = new Map<GatewaySession, IdleWatch>();
  /** By backend, not id: a reload that changes a backend keeps its old connection apart from the new one. */
  readonly #shared = new Map<Backend, Promise<UpstreamConnection>>();
  readonly #routing: SharedRouting;
  /** Discovery connections still being closed. */
  readonly #closingDiscoveries = new Set<Promise<void>>();
  readonly #retries = new Set<NodeJS.Timeout>();
  #catalogue = new Catalogue();
  #toolCalls = 0;
  readonly #startedAt = performance.now();
  #listener: ShareListener | undefined;
  #health: ShareHealth | undefined;
  #endpoint: McpHttpEndpoint | undefined;
  #shareServer: ShareServer | undefined;
  #resolveReady!: () => void;
  #stopping: Promise<void> | undefined;

  private constructor(options: GatewayOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.tracing = options.tracing;
    this.#provider = options.provider;
    this.#dialProvider = options.dialProvider ?? options.provider;
    this.#backends = options.config.backends.map((b) => new Backend(b));
    this.ready = new Promise((resolve) => (this.#resolveReady = resolve));
    this.#warm = new WarmPool(this.logger, () => this.#stopping === undefined);
    this.#routing = new SharedRouting({ logger: this.logger, sessions: () => this.#sessions, listChanged: (backend, connection, kind) => this.listChanged(backend, connection, kind) });
  }

  /** Claims the share, discovers every backend, then serves. */
  static async start(options: GatewayOptions): Promise<Gateway> {
    const gateway = new Gateway(options);
    const token = options.token ?? options.config.shareToken;
    await gateway.#listen(token);
    gateway.#health = watchShare(gateway.#listener as ShareListener, {
      resilience: options.config.resilience,
      logger: gateway.logger,
      managed: options.managedShare,
      counters: () => ({ sessions: gateway.#sessions.size, calls: gateway.#toolCalls, lastConnectionAt: gateway.#shareServer?.lastConnectionAt }),
    });
    try {
      await gateway.#discoverAll(options.onBackendStatus);
    } catch (error) {
      await gateway.stop();
      throw error;
    }
    gateway.#resolveReady();
    for (const backend of gateway.#backends) if (backend.catalogue !== undefined) gateway.#warm.fill(backend);
    return gateway;
  }

  /** The share token clients connect with. */
  get token(): string {
    return (this.#listener as ShareListener).token;
  }

  /** Settles if the share fails underneath us (and, with the watchdog, cannot be rebuilt). */
  get failed(): Promise<Error> {
    return this.#health?.failed ?? (this.#listener as ShareListener).failed;
  }

  /** Number of connected client sessions. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Undefined while serving with every required backend ready; else why not (for /readyz). */
  notReady(): string | undefined {
    if (this.#stopping !== undefined) return 'stopping';
    const missing = this.#backends.filter((b) => b.config.required && (b.catalogue === undefined || b.unavailable !== undefined)).map((b) => b.id);
    return missing.length === 0 ? undefined : `required backend(s) not ready: ${missing.join(', ')}`;
  }

  /** The gateway, its backends and sessions now (for /status and `mcp-gateway status`). */
  status(): StatusReport {
    return {
      name: this.config.aggregator.name,
      uptimeSeconds: Math.round((performance.now() - this.#startedAt) / 1000),
      sessions: [...this.#sessions].map((s) => ({ id: s.id, inFlight: s.busy })),
      backends: this.#backends.map((b) => {
        const state = b.unavailable !== undefined ? 'failed' : b.catalogue === undefined ? 'not ready' : 'ready';
        const stats = this.metrics?.backendStats(b.id) ?? { calls: 0, errors: 0, connections: 0, p50Ms: undefined, p99Ms: undefined };
        return { id: b.id, state, ...stats };
      }),
    };
  }

  /**
   * Applies a new config to the running gateway. Backends whose settings are unchanged keep their
   * processes and sessions; new and changed ones are discovered while the old keep serving, then
   * swapped in; removed (and replaced) ones get no new calls, and their calls in flight finish
   * before their connections close. Sessions are told with list_changed. Settings that only a
   * restart can apply are reported, not applied.
   */
  async reload(next: GatewayConfig): Promise<{ added: string[]; changed: string[]; removed: string[]; needRestart: string[] }> {
    const needRestart = restartOnlyChanges(this.config, next);
    const current = new Map(this.#backends.map((b) => [b.id, b]));
    const fresh: Backend[] = [];
    const backends = next.backends.map((config) => {
      const existing = current.get(config.id);
      if (existing !== undefined && JSON.stringify(existing.config) === JSON.stringify(config)) return existing;
      const backend = new Backend(config);
      fresh.push(backend);
      return backend;
    });
    const retired = this.#backends.filter((b) => !backends.includes(b));
    // Discovered before anything changes; one that fails is retried in the background (its names
    // are missing until it arrives), whether required or not: the gateway keeps serving.
    await Promise.all(
      fresh.map(async (backend) => {
        try {
          await this.#discover(backend, undefined);
        } catch (error) {
          this.logger.warn({ backend: backend.id, err: describeError(error) }, 'a backend of the new config failed to start; retrying in the background');
          this.#scheduleRetry(backend, 1);
        }
      }),
    );
    const running = this.config;
    this.config = { ...next, shareToken: running.shareToken, orchestrator: running.orchestrator, logFile: running.logFile, metrics: running.metrics, zrokShare: running.zrokShare, resilience: running.resilience } as GatewayConfig;
    this.#backends = backends;
    for (const backend of retired) this.#retire(backend);
    const gone = new Set(retired.map((b) => b.id));
    for (const session of this.#sessions) session.retireBackends(gone);
    this.#catalogueChanged(['tools', 'prompts', 'resources']);
    for (const backend of fresh) if (backend.catalogue !== undefined) this.#warm.fill(backend);
    const ids = (list: Backend[]): string[] => list.map((b) => b.id);
    const changed = ids(fresh).filter((id) => current.has(id));
    return { added: ids(fresh).filter((id) => !current.has(id)), changed, removed: ids(retired).filter((id) => !changed.includes(id)), needRestart };
  }

  /** A backend a reload removed or replaced: its shared connection and warm processes go. */
  #retire(backend: Backend): void {
    const shared = this.#shared.get(backend);
    if (shared !== undefined) {
      this.#shared.delete(backend);
      void shared.then((connection) => connection.close(), () => undefined);
    }
    void this.#warm.stop(backend.id);
  }

  /** Tool calls forwarded since start. */
  get toolInvocations(): number {
    return this.#toolCalls;
  }

  countToolCall(): void {
    this.#toolCalls++;
  }

  buildCatalogue(view: (backend: Backend) => BackendCatalogue | undefined): Catalogue {
    return Catalogue.build(this.#backends, this.config.aggregator.separator, false, view);
  }

  subscribedElsewhere(uri: string, session: GatewaySession): boolean {
    for (const other of this.#sessions) if (other !== session && other.subscribed(uri)) return true;
    return false;
  }

  catalogue(): Catalogue {
    return this.#catalogue;
  }

  initializeResult(requested: string): Record<string, unknown> {
    const capabilities: Record<string, unknown> = { tools: { listChanged: true } };
    const ready = this.#backends.filter((b) => b.catalogue !== undefined);
    const pending = this.#backends.some((b) => b.catalogue === undefined);
    if (pending || ready.some((b) => b.catalogue?.capabilities['prompts'] !== undefined)) capabilities['prompts'] = { listChanged: true };
    if (pending || ready.some((b) => b.catalogue?.capabilities['resources'] !== undefined)) {
      const subscribe = ready.some((b) => (b.catalogue?.capabilities['resources'] as { subscribe?: boolean } | undefined)?.subscribe === true);
      capabilities['resources'] = { listChanged: true, ...(subscribe ? { subscribe: true } : {}) };
    }
    if (ready.some((b) => b.catalogue?.capabilities['logging'] !== undefined)) capabilities['logging'] = {};
    if (ready.some((b) => b.catalogue?.capabilities['completions'] !== undefined)) capabilities['completions'] = {};
    const tasks = tasksCapability(ready.map((b) => b.catalogue?.capabilities ?? {}));
    if (tasks !== undefined) capabilities['tasks'] = tasks;
    const instructions = ready
      .filter((b) => b.catalogue?.instructions !== undefined)
      .map((b) => (ready.length === 1 ? (b.catalogue?.instructions as string) : `## ${b.config.name}\n${b.catalogue?.instructions as string}`))
      .join('\n\n');
    return {
      protocolVersion: SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION,
      capabilities,
      serverInfo: { name: this.config.aggregator.name, version: this.config.aggregator.version },
      ...(instructions === '' ? {} : { instructions }),
    };
  }

  openSessionConnection(backend: Backend, session: GatewaySession, handlers: UpstreamHandlers): Promise<UpstreamConnection> {
    const init = session.clientInit;
    const params = {
      protocolVersion: typeof init['protocolVersion'] === 'string' ? init['protocolVersion'] : LATEST_PROTOCOL_VERSION,
      capabilities: init['capabilities'] ?? {},
      clientInfo: init['clientInfo'] ?? DISCOVERY_CLIENT,
    };
    return this.#open(backend, params, handlers, backend.id, this.logger.child({ session: session.id }), this.#warm.take(backend)).then((opened) => opened.connection);
  }

  sharedConnection(backend: Backend): Promise<UpstreamConnection> {
    let pending = this.#shared.get(backend);
    if (pending === undefined) {
      pending = this.#openShared(backend).then(async ({ connection, result }) => {
        if (backend.catalogue === undefined) await backend.discover(connection, result, this.config.aggregator.callTimeoutMs);
        return connection;
      });
      this.#shared.set(backend, pending);
      pending.catch(() => this.#shared.delete(backend));
    }
    return pending;
  }

  claimShared(backend: Backend, session: GatewaySession): () => void {
    return this.#routing.claim(backend, session);
  }

  listChanged(backend: Backend, connection: UpstreamConnection, kind: ListKind): void {
    void backend.refresh(connection, kind, this.config.aggregator.callTimeoutMs, this.logger).then((changed) => {
      if (changed) this.#catalogueChanged([kind]);
    });
  }

  backendCrashed(backend: Backend): void {
    this.logger.warn({ backend: backend.id }, 'backend exited unexpectedly; the next call restarts it');
    if (backend.recordCrash()) {
      this.logger.error({ backend: backend.id, reason: backend.unavailable }, 'backend marked failed; calls fail fast while it is retried');
      this.#scheduleRecovery(backend, 1);
    }
  }

  /** A failed backend is probed with backoff; when it starts again, clients hear list_changed. */
  #scheduleRecovery(backend: Backend, attempt: number): void {
    this.#after(attempt, () => {
      this.#discoverOnce(backend).then(
        () => {
          backend.recovered();
          this.metrics?.backendRestarted(backend.id);
          this.logger.info({ backend: backend.id }, 'backend recovered');
          this.#catalogueChanged(['tools', 'prompts', 'resources']);
        },
        (error: unknown) => {
          this.logger.warn({ backend: backend.id, err: describeError(error), attempt }, 'backend still failing');
          this.#scheduleRecovery(backend, attempt + 1);
        },
      );
    }, backend);
  }

  /** Runs `retry` after the backoff for `attempt` (1 s, 2 s, 4 s … 30 s), unless we are stopping. */
  #after(attempt: number, retry: () => void, backend?: Backend): void {
    if (this.#stopping !== undefined) return;
    const timer = setTimeout(() => {
      this.#retries.delete(timer);
      // A backend a reload removed is retried no more.
      if (backend === undefined || this.#backends.includes(backend)) retry();
    }, Math.min(RETRY_MIN_MS * 2 ** (attempt - 1), RETRY_MAX_MS));
    this.#retries.add(timer);
  }

  /** Learns a session backend's catalogue over a connection of its own, closed afterwards. */
  async #discoverOnce(backend: Backend): Promise<void> {
    const noop: UpstreamHandlers = { onRequest: () => undefined, onNotification: () => undefined, onClose: () => undefined };
    const opened = await this.#open(backend, DISCOVERY_INIT, noop, backend.id);
    try {
      await backend.discover(opened.connection, opened.result, this.config.aggregator.callTimeoutMs);
    } finally {
      // A server that ignores the end of its input is stopped only after a grace period (2 s):
      // serving need not wait for that, stopping the gateway does.
      const closing: Promise<void> = opened.connection.close().then(
        () => void this.#closingDiscoveries.delete(closing),
        () => void this.#closingDiscoveries.delete(closing),
      );
      this.#closingDiscoveries.add(closing);
    }
  }

  sessionClosed(session: GatewaySession): void {
    if (this.#sessions.delete(session)) this.metrics?.sessionClosed();
    this.#idleWatches.get(session)?.stop();
    this.#idleWatches.delete(session);
    this.#onSessionClosed.get(session)?.();
    this.#onSessionClosed.delete(session);
    this.logger.info({ session: session.id, sessions: this.#sessions.size }, 'session closed');
  }

  /**
   * Stops accepting, lets calls in flight finish within `shutdown_grace`, then ends every
   * session and backend and removes the share.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      for (const timer of this.#retries) clearTimeout(timer);
      this.#health?.stop();
      await this.#listener?.close();
      const deadline = Date.now() + this.config.shutdownGraceMs;
      while ([...this.#sessions].some((s) => s.busy > 0) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await this.#endpoint?.close();
      await Promise.allSettled([...this.#sessions].map((s) => s.close('the gateway is shutting down')));
      await Promise.allSettled([...this.#shared.values()].map(async (c) => (await c).close()));
      await Promise.allSettled([...this.#closingDiscoveries]);
      await this.#warm.stop();
      this.#shareServer?.close();
    })();
    return this.#stopping;
  }

  async #listen(token: string | undefined): Promise<void> {
    const endpoint = new McpHttpEndpoint({
      logger: this.logger,
      maxBodyBytes: this.config.maxMessageBytes,
      openSession: (label) => {
        const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
        this.#accept(label, serverSide);
        return Promise.resolve(clientSide);
      },
    });
    const shareServer = new ShareServer({
      endpoint,
      logger: this.logger,
      onSessionStream: (socket, head) =>
        this.#accept(randomBytes(4).toString('hex'), StreamTransport.overSocket(socket, head, this.#clientStreamOptions())),
    });
    this.#endpoint = endpoint;
    this.#shareServer = shareServer;
    const { accessGrants, open } = this.config.zrokShare;
    const listen = {
      onConnection: shareServer.onConnection,
      onStdioHandover: (handover: StdioHandover) => this.#acceptHandover(handover),
      accessGrants,
      open,
    };
    this.#listener = await this.#provider.listen(token === undefined ? listen : { ...listen, token });
  }

  /**
   * A local client's own stdin and stdout, handed over by `mcp-tools run`: the session reads
   * and writes them directly. Its stdin ending is a half-close: what it asked is still answered.
   */
  #acceptHandover(handover: StdioHandover): void {
    const input = new Socket({ fd: handover.input, readable: true, writable: false });
    const output = new Socket({ fd: handover.output, readable: false, writable: true });
    const state: { session?: GatewaySession | undefined; clientEnded: boolean } = { clientEnded: false };
    const release = (): void => {
      transport.endOutput();
      input.destroy();
    };
    const transport = new StreamTransport({
      input,
      output,
      ...this.#clientStreamOptions(),
      onInputEnd: () => {
        state.clientEnded = true;
        if (state.session === undefined) void transport.close();
        else state.session.closeWhenIdle();
      },
      onEnd: release,
    });
    const ended = (): void => {
      release();
      handover.end(state.clientEnded ? 0 : 1, state.clientEnded ? 'client closed stdin' : `share '${this.token}' closed the session`);
    };
    state.session = this.#accept(randomBytes(4).toString('hex'), transport);
    if (state.session === undefined) transport.onclose = ended;
    else this.#onSessionClosed.set(state.session, ended);
    void handover.abandoned.then(() => (state.session === undefined ? transport.close() : state.session.close()));
  }

  /**
   * How a client's byte stream is read and written: messages up to `max_message_bytes`, bad input
   * answered, and at most one buffer of answers it leaves unread before we stop reading its
   * requests; past two messages' worth the session is closed.
   */
  #clientStreamOptions() {
    const max = this.config.maxMessageBytes;
    return { maxLineBytes: max, maxQueuedBytes: 2 * max, answerBadInput: true, pauseInputWhileCongested: true, ...(this.metrics === undefined ? {} : { meter: this.metrics.meter }) };
  }

  #accept(id: string, transport: Transport): GatewaySession | undefined {
    const max = this.config.maxSessions;
    if (this.#sessions.size >= max) {
      this.logger.warn({ max }, 'session refused: max_sessions reached');
      this.metrics?.refused('session_limit');
      void refuseSession(transport, `the gateway already serves its maximum of ${max} sessions (max_sessions)`);
      return undefined;
    }
    const session = new GatewaySession(id, transport, this);
    this.#sessions.add(session);
    this.metrics?.sessionOpened();
    this.logger.info({ session: id, sessions: this.#sessions.size }, 'session opened');
    this.#watchIdle(session);
    session.start().catch((error: unknown) => {
      this.logger.warn({ session: id, err: describeError(error) }, 'session failed to start');
      void session.close();
    });
    return session;
  }

  /** `session_idle_timeout`: a session with nothing in flight and no message either way that long is closed. */
  #watchIdle(session: GatewaySession): void {
    const timeoutMs = this.config.sessionIdleTimeoutMs;
    if (timeoutMs === 0) return;
    const watch = new IdleWatch(timeoutMs, () => session.activity, (idleMs) => {
      this.logger.info({ session: session.id, idle_ms: Math.round(idleMs), session_idle_timeout: formatDuration(timeoutMs) }, 'session idle: closing it and its backends');
      void session.close();
    });
    this.#idleWatches.set(session, watch);
  }

  #open(backend: Backend, params: Record<string, unknown>, handlers: UpstreamHandlers, label: string, logger: Logger = this.logger, prestarted?: StdioUpstream) {
    const metrics = this.metrics;
    // Counted once open; its close (ours, or the backend's own) counted once.
    const counted: UpstreamHandlers =
      metrics === undefined
        ? handlers
        : {
            ...handlers,
            onClose: (unexpected) => {
              if (opened) metrics.connectionClosed(backend.id, unexpected);
              opened = false;
              handlers.onClose(unexpected);
            },
          };
    let opened = false;
    return openUpstream(
      backend.config.transport,
      { label, logger, provider: this.#dialProvider, maxLineBytes: this.config.maxMessageBytes },
      { params, timeoutMs: this.config.aggregator.connectTimeoutMs, era: backend.era },
      counted,
      prestarted,
    ).then((result) => {
      backend.era = result.era;
      if (metrics !== undefined && !result.connection.closed) {
        opened = true;
        metrics.connectionOpened(backend.id);
      }
      return result;
    });
  }

  async #openShared(backend: Backend): Promise<{ connection: UpstreamConnection; result: Record<string, unknown> }> {
    // The handlers are needed to open the connection, and they need the connection in turn.
    const opened: { connection?: UpstreamConnection } = {};
    const handlers: UpstreamHandlers = {
      ...this.#routing.handlers(backend, () => opened.connection),
      onClose: (unexpected) => {
        this.#shared.delete(backend);
        if (unexpected && this.#stopping === undefined) this.backendCrashed(backend);
      },
    };
    const result = await this.#open(backend, DISCOVERY_INIT, handlers, backend.id);
    opened.connection = result.connection;
    return result;
  }

  /** Notifications of shared backends that concerned no single session, since start. */
  get droppedNotifications(): number {
    return this.#routing.droppedNotifications;
  }

  async #discoverAll(report: GatewayOptions['onBackendStatus']): Promise<void> {
    const results = await Promise.allSettled(this.#backends.map((backend) => this.#discover(backend, report)));
    const failures = results.flatMap((result, i) => (result.status === 'rejected' && this.#backends[i]?.config.required === true ? [describeError(result.reason)] : []));
    if (failures.length > 0) throw new GatewayError('UPSTREAM_START_FAILED', failures.join('; '));
    this.#catalogue = Catalogue.build(this.#backends, this.config.aggregator.separator, true);
    for (const warning of this.#catalogue.shadowed) this.logger.warn(warning);
    for (const name of this.#catalogue.tools.keys()) {
      if (!CLIENT_TOOL_NAME_RULE.test(name)) {
        this.logger.warn({ tool: name }, `tool name '${name}' breaks the common client rule ^[a-zA-Z0-9_-]{1,64}$; some clients will reject it (choose another separator or namespace)`);
      }
    }
  }

  async #discover(backend: Backend, report: GatewayOptions['onBackendStatus'], attempt = 0): Promise<void> {
    const started = performance.now();
    report?.({ id: backend.id, state: 'connecting' });
    try {
      if (backend.config.isolation === 'shared') {
        await this.sharedConnection(backend);
      } else {
        await this.#discoverOnce(backend);
      }
      report?.({ id: backend.id, state: 'ready', tools: backend.catalogue?.tools.length ?? 0, seconds: (performance.now() - started) / 1000 });
    } catch (error) {
      const reason = describeError(error);
      report?.({ id: backend.id, state: 'failed', reason, required: backend.config.required });
      if (backend.config.required) throw error;
      this.#scheduleRetry(backend, attempt + 1);
    }
  }

  /** A backend that is not required keeps being retried, with backoff, until it arrives. */
  #scheduleRetry(backend: Backend, attempt: number): void {
    this.#after(attempt, () => {
      void this.#discover(backend, undefined, attempt).then(() => {
        if (backend.catalogue !== undefined) {
          this.logger.info({ backend: backend.id }, 'backend arrived');
          this.#catalogueChanged(['tools', 'prompts', 'resources']);
        }
      });
    }, backend);
  }

  #catalogueChanged(kinds: ListKind[]): void {
    const catalogue = Catalogue.build(this.#backends, this.config.aggregator.separator, false);
    for (const collision of catalogue.collisions) this.logger.warn(collision);
    this.#catalogue = catalogue;
    for (const session of this.#sessions) session.catalogueChanged(kinds);
  }
}

/** Settings a running gateway cannot change: named for the log, kept as they were. */
function restartOnlyChanges(running: GatewayConfig, next: GatewayConfig): string[] {
  const fields: [string, unknown, unknown][] = [
    ['share_token', running.shareToken, next.shareToken],
    ['orchestrator', running.orchestrator, next.orchestrator],
    ['log_file', running.logFile, next.logFile],
    ['metrics', running.metrics, next.metrics],
    ['zrok.share', running.zrokShare, next.zrokShare],
    ['resilience', running.resilience, next.resilience],
  ];
  return fields.filter(([, a, b]) => JSON.stringify(a) !== JSON.stringify(b)).map(([name]) => name);
}
