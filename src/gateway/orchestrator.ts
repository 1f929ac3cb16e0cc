import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { GatewayError, describeError } from '../errors.js';
import type { Logger } from '../log.js';

/** The lifecycle states the orchestrator understands (sent as plain strings on the wire). */
export type GatewayState = 'starting' | 'running' | 'stopping' | 'failed';

/** One gateway → orchestrator message, as the loader encodes and decodes it (snake_case, one member set). */
export interface GatewayMessage {
  register?: { share_token: string; pid: number };
  heartbeat?: { share_token: string; active_connections: number; tool_invocations: number };
  /** `error` is left out when empty, as Go's encoder does (it decodes as '' either way). */
  status?: { share_token: string; state: string; error?: string };
  pong?: { version: string };
  shutdown_ack?: { accepted: boolean };
  /** Filled in on decode only: which member of the oneof is present. */
  payload?: 'register' | 'heartbeat' | 'status' | 'pong' | 'shutdown_ack';
}

/** One orchestrator → gateway message, as the loader encodes and decodes it. */
export interface OrchestratorMessage {
  register_response?: { accepted: boolean; error: string };
  heartbeat_ack?: Record<string, never>;
  ping?: Record<string, never>;
  shutdown?: { reason: string };
  /** Filled in on decode only: which member of the oneof is present. */
  payload?: 'register_response' | 'heartbeat_ack' | 'ping' | 'shutdown';
}

/** The loaded GatewayIPC service: the definition a server registers and the one method a client calls. */
export interface GatewayIpc {
  service: protoLoader.ServiceDefinition;
  connect: protoLoader.MethodDefinition<GatewayMessage, OrchestratorMessage>;
}

// tsc does not copy .proto files: look next to the compiled file first (should a build step copy
// it), then in the source tree, which is where it sits from dist/src/gateway/ and in a package.
const PROTO_CANDIDATES = [
  new URL('./orchestrator.proto', import.meta.url),
  new URL('../../../src/gateway/orchestrator.proto', import.meta.url),
];

// keepCase: the field names stay those of the .proto; defaults: absent scalars decode as 0/''/false.
const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true };

let cached: GatewayIpc | undefined;

function isService(definition: protoLoader.AnyDefinition): definition is protoLoader.ServiceDefinition {
  return !('format' in definition);
}

/** Loads (once) the GatewayIPC definition from orchestrator.proto; throws PROTOCOL_ERROR if the file is missing. */
export function loadGatewayIpc(): GatewayIpc {
  if (cached !== undefined) return cached;
  const file = PROTO_CANDIDATES.map((url) => fileURLToPath(url)).find((path) => existsSync(path));
  if (file === undefined) throw new GatewayError('PROTOCOL_ERROR', 'orchestrator.proto is missing from this installation');
  const definition = protoLoader.loadSync(file, LOADER_OPTIONS);
  const service = definition['GatewayIPC'];
  const connect = service !== undefined && isService(service) ? service['Connect'] : undefined;
  if (service === undefined || !isService(service) || connect === undefined) {
    throw new GatewayError('PROTOCOL_ERROR', 'orchestrator.proto does not define GatewayIPC.Connect');
  }
  // The decoded shape is fixed by the .proto and LOADER_OPTIONS, which the interfaces above mirror.
  cached = { service, connect: connect as unknown as GatewayIpc['connect'] };
  return cached;
}

/** What the gateway reports in each heartbeat. */
export interface OrchestratorCounters {
  activeConnections: number;
  toolInvocations: number;
}

/** Options for {@link OrchestratorClient}. */
export interface OrchestratorClientOptions {
  /** The orchestrator's unix socket (made absolute). */
  socketPath: string;
  /** Sent in register, heartbeat and status; never logged. */
  shareToken: string;
  heartbeatIntervalMs: number;
  /** Answered to every ping. */
  version: string;
  logger: Logger;
  /** Read at every heartbeat. */
  counters: () => OrchestratorCounters;
  /** Called once, after shutdown_ack was queued, when the orchestrator asks the gateway to stop. */
  onShutdown: (reason: string) => void;
  /** Pause between connection attempts; default 5000, as in the Go gateway. */
  reconnectMs?: number;
}

interface Session {
  client: grpc.Client;
  call: grpc.ClientDuplexStream<GatewayMessage, OrchestratorMessage>;
  heartbeat: NodeJS.Timeout | undefined;
  /** Set by the first message from the orchestrator (normally register_response). */
  up: boolean;
  ended: Promise<void>;
  markEnded: () => void;
}

// How long stop() lets the orchestrator end its side before cancelling the stream.
const STOP_GRACE_MS = 1000;

/**
 * Managed mode: keeps one GatewayIPC.Connect stream open to the orchestrator. It registers,
 * reports status, heartbeats, answers ping and shutdown, and reconnects every `reconnectMs`
 * for as long as it runs. It never fails the gateway: without an orchestrator it warns once
 * per outage and keeps trying in the background.
 */
export class OrchestratorClient {
  readonly #options: OrchestratorClientOptions;
  readonly #logger: Logger;
  readonly #socketPath: string;
  readonly #reconnectMs: number;
  readonly #ipc: GatewayIpc;
  #status: { state: GatewayState; error: string } | undefined;
  #session: Session | undefined;
  #retry: NodeJS.Timeout | undefined;
  #started = false;
  #stopped = false;
  /** True once this outage has been warned about, so a long one is one line, not one per retry. */
  #outage = false;
  #everUp = false;
  #shutdownSignalled = false;

  constructor(options: OrchestratorClientOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'orchestrator' });
    this.#socketPath = resolvePath(options.socketPath);
    this.#reconnectMs = options.reconnectMs ?? 5000;
    // Fail at construction, not in the background, if the installation lacks the .proto.
    this.#ipc = loadGatewayIpc();
  }

  /** Starts connecting in the background; never throws because the orchestrator is absent. */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#connect();
  }

  /** Reports a state now if connected, and again after every reconnect (right after register). */
  setStatus(state: GatewayState, error?: string): void {
    this.#status = { state, error: error ?? '' };
    const session = this.#session;
    if (session !== undefined) this.#write(session, { status: this.#statusMessage(this.#status) });
  }

  /** Half-closes the stream (flushing what was queued, such as a 'stopping' status) and stops retrying. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    const session = this.#session;
    if (session === undefined) return;
    clearInterval(session.heartbeat);
    if (session.call.writable) session.call.end();
    let timer: NodeJS.Timeout | undefined;
    // A well-behaved orchestrator ends its side when ours ends; do not wait forever for one that does not.
    await Promise.race([session.ended, new Promise<void>((done) => (timer = setTimeout(done, STOP_GRACE_MS)))]);
    clearTimeout(timer);
    session.call.cancel();
    session.client.close();
    this.#session = undefined;
  }

  #connect(): void {
    this.#retry = undefined;
    if (this.#stopped) return;
    let client: grpc.Client;
    try {
      client = new grpc.Client(`unix:${this.#socketPath}`, grpc.credentials.createInsecure(), {
        // A fresh channel per attempt with its own subchannels: our retry pace, not grpc's backoff.
        'grpc.use_local_subchannel_pool': 1,
      });
    } catch (error) {
      this.#down(false, describeError(error));
      return;
    }
    const { connect } = this.#ipc;
    const call = client.makeBidiStreamRequest(connect.path, connect.requestSerialize, connect.responseDeserialize);
    let markEnded = (): void => undefined;
    const ended = new Promise<void>((done) => (markEnded = done));
    const session: Session = { client, call, heartbeat: undefined, up: false, ended, markEnded };
    this.#session = session;
    call.on('data', (message: OrchestratorMessage) => this.#receive(session, message));
    // A gRPC stream always ends with 'status'; 'error' repeats non-OK ones and only needs a listener.
    call.on('error', () => undefined);
    call.on('status', (status: grpc.StatusObject) => this.#ended(session, status));

    // Writes queue until the channel is ready, so register is first on the wire whatever the timing.
    this.#write(session, { register: { share_token: this.#options.shareToken, pid: process.pid } });
    if (this.#status !== undefined) this.#write(session, { status: this.#statusMessage(this.#status) });
    session.heartbeat = setInterval(() => this.#heartbeat(session), this.#options.heartbeatIntervalMs);
    session.heartbeat.unref();
  }

  #receive(session: Session, message: OrchestratorMessage): void {
    if (session !== this.#session) return;
    if (!session.up) {
      session.up = true;
      this.#logger.info({ socket: this.#socketPath }, this.#everUp ? 'reconnected to the orchestrator' : 'connected to the orchestrator');
      this.#everUp = true;
      this.#outage = false;
    }
    switch (message.payload) {
      case 'register_response': {
        const response = message.register_response;
        if (response?.accepted === true) this.#logger.debug('registration accepted');
        else this.#logger.error({ error: response?.error ?? '' }, 'the orchestrator refused registration');
        break;
      }
      case 'heartbeat_ack':
        this.#logger.trace('heartbeat acknowledged');
        break;
      case 'ping':
        this.#write(session, { pong: { version: this.#options.version } });
        break;
      case 'shutdown':
        this.#shutdown(session, message.shutdown?.reason ?? '');
        break;
      default:
        this.#logger.debug('ignored an orchestrator message of an unknown kind');
    }
  }

  #shutdown(session: Session, reason: string): void {
    this.#write(session, { shutdown_ack: { accepted: true } });
    if (this.#shutdownSignalled) return;
    this.#shutdownSignalled = true;
    this.#logger.info({ reason }, 'the orchestrator asked the gateway to stop');
    try {
      this.#options.onShutdown(reason);
    } catch (error) {
      this.#logger.error({ err: describeError(error) }, 'shutdown handler failed');
    }
  }

  #heartbeat(session: Session): void {
    let counters: OrchestratorCounters;
    try {
      counters = this.#options.counters();
    } catch (error) {
      this.#logger.debug({ err: describeError(error) }, 'counters unavailable; heartbeat skipped');
      return;
    }
    this.#write(session, {
      heartbeat: {
        share_token: this.#options.shareToken,
        active_connections: counters.activeConnections,
        tool_invocations: counters.toolInvocations,
      },
    });
  }

  #ended(session: Session, status: grpc.StatusObject): void {
    clearInterval(session.heartbeat);
    session.markEnded();
    if (session !== this.#session) return;
    if (this.#stopped) return; // stop() finishes the teardown
    session.client.close();
    this.#session = undefined;
    this.#down(session.up, status.details);
  }

  #down(wasUp: boolean, detail: string): void {
    if (this.#outage) {
      this.#logger.debug({ detail }, 'orchestrator still unreachable');
    } else {
      this.#outage = true;
      const seconds = this.#reconnectMs / 1000;
      const message = wasUp
        ? `lost the orchestrator; serving on and reconnecting every ${seconds}s`
        : `orchestrator unreachable; serving on and retrying every ${seconds}s`;
      this.#logger.warn({ socket: this.#socketPath, detail }, message);
    }
    this.#retry = setTimeout(() => this.#connect(), this.#reconnectMs);
    this.#retry.unref();
  }

  #write(session: Session, message: GatewayMessage): void {
    if (session !== this.#session || !session.call.writable) return;
    session.call.write(message);
  }

  #statusMessage(status: { state: GatewayState; error: string }): NonNullable<GatewayMessage['status']> {
    const message = { share_token: this.#options.shareToken, state: status.state };
    return status.error === '' ? message : { ...message, error: status.error };
  }
}
