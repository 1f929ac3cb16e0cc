import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { GatewayError, describeError, isGatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { LineSplitter } from '../wire/lines.js';
import { guardedCommand } from '../wire/native.js';
import { type Era, discoveredAsInitialized, envelopeFor, refusedForModern } from './era.js';
import { StreamTransport } from './stream-transport.js';
import { type RawResponse, UpstreamConnection } from './upstream.js';

/** How to start a stdio MCP server. */
export interface StdioServerSpec {
  command: string;
  args: readonly string[];
  /** Merged over the inherited environment (or, with `inheritEnv: false`, the whole environment). */
  env?: Readonly<Record<string, string>>;
  /** false: the process gets `env` and nothing of ours (`env_policy: closed`). Default true. */
  inheritEnv?: boolean;
  cwd?: string;
}

/** How a child ended: an exit code, a signal, or a spawn error (e.g. ENOENT). */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** Grace periods of the stop sequence: stdin closed → SIGTERM → SIGKILL. */
export const DEFAULT_STOP_GRACE_MS = 2_000;

/** A running stdio MCP server process. */
export class StdioUpstream {
  readonly child: ChildProcess;
  /** Settles once the process has exited (or failed to spawn). */
  readonly exited: Promise<ChildExit>;
  #exit: ChildExit | undefined;
  /** The transport over its stdio, once made. */
  #transport: StreamTransport | undefined;
  /** Where its stderr lines go; a process started ahead moves to its session's logger. */
  #logger: Logger;

  /**
   * @param options.socket when given, the process reads and writes this socket directly as its
   *   stdin and stdout, taking the parent out of the data path (no relay hop at all).
   * @param options.stdio the same with two descriptors: a client's own stdin and stdout.
   */
  constructor(spec: StdioServerSpec, options: { logger: Logger; label: string; socket?: Socket; stdio?: readonly [number, number] }) {
    const { label } = options;
    this.#logger = options.logger;
    const direct = options.stdio ?? (options.socket === undefined ? undefined : [options.socket, options.socket]);
    const env = spec.inheritEnv === false ? { ...spec.env } : spec.env === undefined ? process.env : { ...process.env, ...spec.env };
    const [command, args] = guardedCommand(spec.command, spec.args, env, spec.cwd);
    this.child = spawn(command, args, {
      cwd: spec.cwd,
      env,
      stdio: direct === undefined ? ['pipe', 'pipe', 'pipe'] : [direct[0], direct[1], 'pipe'],
      // Its own process group, so stop() reaches grandchildren (npx, shells) and a terminal's
      // Ctrl-C reaches only us: we stop children in order instead of racing them.
      detached: true,
    });
    this.exited = new Promise<ChildExit>((resolve) => {
      this.child.once('error', (error) => {
        this.#exit = { code: null, signal: null, error };
        resolve(this.#exit);
      });
      this.child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        // Its stdin is no use any more.
        this.#transport?.endOutput();
        resolve(this.#exit);
      });
    });
    // A dead reader must not crash us with EPIPE; the exit is reported through `exited`.
    this.child.stdin?.on('error', () => undefined);
    const splitter = new LineSplitter();
    this.child.stderr?.on('data', (chunk: Buffer) => {
      splitter.push(chunk, (line) => this.#logger.info({ process: label, stderr: line.toString('utf8') }, 'server stderr'));
    });
  }

  /** Logs its stderr with `logger` from now on (a warm process, to the session that took it). */
  logTo(logger: Logger): void {
    this.#logger = logger;
  }

  /** True once the process has exited. */
  get hasExited(): boolean {
    return this.#exit !== undefined;
  }

  /**
   * A Transport over the child's stdio; closing it stops the process, and so does a line over
   * `maxLineBytes` (reported through onerror as LIMIT_EXCEEDED).
   */
  transport(options: { maxLineBytes?: number } = {}): StreamTransport {
    const { stdin, stdout } = this.child;
    // A spawn that failed for want of descriptors (EMFILE, ENFILE) leaves them undefined, not null.
    if (stdin == null || stdout == null) {
      const reason = this.#exit?.error === undefined ? 'child has no stdio' : `could not start: ${describeError(this.#exit.error)}`;
      throw new GatewayError('UPSTREAM_START_FAILED', reason);
    }
    // Closing waits for the process to be gone, so nobody stops before its children do.
    const onEnd = async (): Promise<void> => {
      await this.stop();
    };
    const limit = options.maxLineBytes === undefined ? {} : { maxLineBytes: options.maxLineBytes, closeOnOversize: true };
    this.#transport = new StreamTransport({ input: stdout, output: stdin, onEnd, ...limit });
    return this.#transport;
  }

  /** Ends the process: close stdin, then SIGTERM, then SIGKILL, each after `graceMs`. */
  async stop(graceMs = DEFAULT_STOP_GRACE_MS): Promise<ChildExit> {
    if (this.#exit !== undefined) return this.#exit;
    // A process holding a client's socket as stdin has no pipe of ours to close: go to SIGTERM.
    // (and one that could not be spawned has none at all: undefined)
    if (this.child.stdin != null) {
      if (this.#transport === undefined) this.child.stdin.end();
      else this.#transport.endOutput();
      if (await this.#waitExit(graceMs)) return this.exited;
    }
    this.#signal('SIGTERM');
    if (await this.#waitExit(graceMs)) return this.exited;
    this.#signal('SIGKILL');
    return this.exited;
  }

  #signal(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      this.child.kill(signal);
    }
  }

  async #waitExit(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    const result = await Promise.race([this.exited.then(() => true as const), timeout]);
    clearTimeout(timer);
    return result;
  }
}

/** Why a server failed the start-up check, in one line. */
export function describeExit(spec: StdioServerSpec, exit: ChildExit): string {
  if (exit.error !== undefined) {
    const code = (exit.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `'${spec.command}' was not found (is it installed and on PATH?)`;
    if (code === 'EACCES') return `'${spec.command}' is not executable`;
    return `'${spec.command}' could not start: ${describeError(exit.error)}`;
  }
  if (exit.signal !== null) return `'${spec.command}' was killed by ${exit.signal}`;
  return `'${spec.command}' exited with code ${exit.code ?? '?'}`;
}

/** Protocol version our start-up check offers a 2025 server. */
const CHECK_PROTOCOL_VERSION = '2025-06-18';
/** The longest the start-up check waits for `server/discover` (most 2025 servers answer -32601 at once). */
export const PROBE_TIMEOUT_MS = 5_000;
/** Who the start-up check says it is. */
const CHECK_CLIENT = { capabilities: {}, clientInfo: { name: 'mcp-gateway-probe', version: '0' } };
/** What the start-up check learnt: the server's era and what it said (a discover result in initialize's shape). */
export interface StartupCheck {
  era: Era;
  result: Record<string, unknown>;
}

/**
 * Starts the server once and checks that it answers `server/discover` (2026-07-28) or else
 * `initialize` (2025), so a typo or a program that is not an MCP server fails at start-up with a
 * clear reason instead of on the first client. The probe gets at most half the time: a 2025 server
 * that ignores it still has the rest for `initialize`; one that exits on it is started again.
 */
export async function probeStdioServer(spec: StdioServerSpec, options: { logger: Logger; timeoutMs: number }): Promise<StartupCheck> {
  const deadline = performance.now() + options.timeoutMs;
  return (await checkOnce(spec, options, deadline, true)) ?? ((await checkOnce(spec, options, deadline, false)) as StartupCheck);
}

/** One process's check; undefined when it exited on `server/discover` (to be asked initialize anew). */
async function checkOnce(spec: StdioServerSpec, options: { logger: Logger; timeoutMs: number }, deadline: number, discover: boolean): Promise<StartupCheck | undefined> {
  const upstream = new StdioUpstream(spec, { logger: options.logger, label: 'probe' });
  const connection = new UpstreamConnection(upstream.transport(), 'probe', options.logger);
  const left = (): number => Math.max(1, Math.round(deadline - performance.now()));
  const ask = async (method: string, params: Record<string, unknown>, timeoutMs: number): Promise<RawResponse | undefined> => {
    try {
      return await connection.request(method, params, { timeoutMs });
    } catch (error) {
      if (isGatewayError(error, 'UPSTREAM_TIMEOUT')) return undefined;
      throw error;
    }
  };
  const probe = async (timeoutMs: number): Promise<StartupCheck | undefined> => {
    const result = discoveredAsInitialized((await ask('server/discover', { _meta: envelopeFor(CHECK_CLIENT) }, timeoutMs).catch(() => undefined))?.result);
    return result === undefined ? undefined : { era: 'modern', result };
  };
  try {
    await connection.start({ onRequest: () => undefined, onNotification: () => undefined, onClose: () => undefined });
    if (discover) {
      const modern = await probe(Math.max(1, Math.round(Math.min(PROBE_TIMEOUT_MS, options.timeoutMs / 2))));
      if (modern !== undefined) return modern;
      if (connection.closed) return undefined;
    }
    const answer = await ask('initialize', { protocolVersion: CHECK_PROTOCOL_VERSION, ...CHECK_CLIENT }, left()).catch(() => undefined);
    if (answer === undefined && connection.closed) {
      const exit = await upstream.exited;
      throw new GatewayError('UPSTREAM_START_FAILED', `${describeExit(spec, exit)} before answering initialize`);
    }
    if (answer === undefined) {
      throw new GatewayError('UPSTREAM_TIMEOUT', `'${spec.command}' did not answer initialize within ${options.timeoutMs} ms (is it an MCP stdio server?)`);
    }
    if (answer.result !== undefined) return { era: 'legacy', result: answer.result };
    // A modern server slower to start than the probe's half: it names 2026-07-28 in its refusal.
    const modern = refusedForModern(answer.error) ? await probe(left()) : undefined;
    if (modern !== undefined) return modern;
    throw new GatewayError('UPSTREAM_START_FAILED', `'${spec.command}' refused initialize: ${answer.error?.message ?? 'unknown error'}`);
  } finally {
    await upstream.stop(500);
  }
}
