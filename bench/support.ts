// Process bookkeeping for the benchmark: everything it starts is registered here and stopped on
// the way out, also on Ctrl-C, with a last sweep over our own descendants in /proc.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { LocalShareProvider, type ShareConnector } from '../src/share/index.js';
import { openSessionStream, type SessionStream } from '../src/mcp/session-stream.js';
import { StreamTransport } from '../src/mcp/stream-transport.js';
import { descendants, isAlive } from '../test/helpers/cli.js';

type CleanupTask = () => unknown;

const tasks: CleanupTask[] = [];
let cleaning: Promise<number[]> | undefined;

/** Registers something to stop at the end (run last-in, first-out); returns an unregister function. */
export function onCleanup(task: CleanupTask): () => void {
  tasks.push(task);
  return () => {
    const index = tasks.indexOf(task);
    if (index !== -1) tasks.splice(index, 1);
  };
}

/** Runs one registered task now and forgets it. */
export async function runAndForget(unregister: () => void, task: CleanupTask): Promise<void> {
  unregister();
  await withTimeout(Promise.resolve().then(task), 10_000).catch(() => undefined);
}

/** Stops everything registered, then SIGTERM/SIGKILLs any descendant process still alive; returns the stragglers. */
export function cleanupAll(): Promise<number[]> {
  cleaning ??= (async () => {
    while (tasks.length > 0) {
      const task = tasks.pop() as CleanupTask;
      await withTimeout(Promise.resolve().then(task), 10_000).catch(() => undefined);
    }
    return sweepDescendants();
  })();
  return cleaning;
}

/** Kills any process below ours that is still alive (a safety net; normally there are none). */
export async function sweepDescendants(): Promise<number[]> {
  const left = descendants(process.pid).filter(isAlive);
  for (const pid of left) signal(pid, 'SIGTERM');
  const deadline = Date.now() + 3_000;
  while (Date.now() < deadline && left.some(isAlive)) await sleep(50);
  for (const pid of left.filter(isAlive)) signal(pid, 'SIGKILL');
  return left;
}

let stopping = false;

/** True once Ctrl-C or SIGTERM arrived: nothing new should be started. */
export function isStopping(): boolean {
  return stopping;
}

/** Makes Ctrl-C and SIGTERM clean up before exiting. */
export function installSignalHandlers(): void {
  const onSignal = (name: NodeJS.Signals): void => {
    stopping = true;
    process.stderr.write(`\nbench: ${name}, stopping every process it started…\n`);
    // A second sweep catches anything a step still in flight started during the first.
    void cleanupAll()
      .then(() => sweepDescendants())
      .finally(() => process.exit(name === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects when `promise` has not settled within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what = 'operation'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A temporary directory removed at cleanup. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A free loopback TCP port: listen on 0, note the port, close. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** Polls until something accepts TCP connections on 127.0.0.1:`port`. */
export async function waitForPort(port: number, timeoutMs = 30_000, exited?: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (exited?.() === true) throw new Error(`the process meant to listen on port ${port} exited`);
    if (Date.now() > deadline) throw new Error(`nothing listened on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** A process started by the benchmark, stopped at cleanup. */
export interface Tracked {
  proc: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

/**
 * Spawns a process, keeps the last 64 KB of its output for error messages, and registers its stop.
 * `protocolStdout`: its stdout carries the protocol the benchmark measures, so it is not copied.
 */
export function spawnTracked(command: string, args: string[], options: SpawnOptions & { protocolStdout?: boolean } = {}): Tracked {
  if (stopping) throw new Error('the benchmark is stopping');
  const { protocolStdout = false, ...spawnOptions } = options;
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOptions });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-65_536);
  };
  if (!protocolStdout) proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  const unregister = onCleanup(stop);
  return {
    proc,
    output: () => output,
    stop: () => runAndForget(unregister, stop),
  };
}

/** The resident set size of a process in bytes (VmRSS), or NaN when it is gone. */
export function rssBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? Number.NaN : Number(match[1]) * 1024;
  } catch {
    return Number.NaN;
  }
}

/** Resolves a file inside node_modules from the compiled bench directory. */
export function nodeModule(relative: string): string {
  return fileURLToPath(new URL(`../../node_modules/${relative}`, import.meta.url));
}

/** A compiled file of the benchmark (e.g. `fixtures/big-server.js`). */
export function benchFile(relative: string): string {
  return fileURLToPath(new URL(relative, import.meta.url));
}

/** A file of bench/ in the source tree that the build does not copy (e.g. shell scripts). */
export function benchSource(relative: string): string {
  return fileURLToPath(new URL(`../../bench/${relative}`, import.meta.url));
}

/** Dials a share once; each `connect()` then opens an in-process session stream client. */
export async function sessionDialer(home: string, token: string): Promise<{ connect(name?: string): Promise<Client>; stream(): Promise<SessionStream> }> {
  const connector: ShareConnector = await new LocalShareProvider(home).dial(token);
  onCleanup(() => connector.close());
  return {
    async connect(name = 'bench-session') {
      const { socket, head } = await openSessionStream(connector);
      return socketClient(socket, name, head);
    },
    stream: () => openSessionStream(connector),
  };
}

/** An SDK client speaking newline-delimited JSON-RPC over a connected socket. */
export async function socketClient(socket: Duplex, name: string, head?: Buffer): Promise<Client> {
  const client = new Client({ name, version: '1.0.0' });
  await client.connect(StreamTransport.overSocket(socket, head));
  return client;
}
