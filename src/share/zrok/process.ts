import { spawn, type ChildProcess } from 'node:child_process';
import { LineSplitter } from '../../wire/lines.js';
import { guardedCommand } from '../../wire/native.js';

/** One stdout line of `zrok2 … --subordinate`: a JSON object whose `msg` says what it is. */
export type ZrokLine = Record<string, unknown>;

/** How a `--subordinate` zrok2 start ended: its boot line, or why there was none. */
export type BootOutcome =
  | { ok: true; line: ZrokLine }
  | { ok: false; reason: 'error-line' | 'exit' | 'timeout' | 'not-installed'; text: string };

/** What is needed to run one zrok2 command. */
export interface ZrokCommand {
  binary: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

const STDERR_TAIL_LINES = 20;

// Children still running when this process exits get SIGTERM (never SIGKILL): zrok2 then
// releases its share or access itself, where a kill would leak it on the zrok network. Killed
// with no chance to do that (SIGKILL), we leave the parent guard to do it (where it is built).
const running = new Set<ZrokProcess>();
let exitHookInstalled = false;
function track(process_: ZrokProcess): void {
  running.add(process_);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const p of running) p.signal('SIGTERM');
    });
  }
}

/**
 * A long-running `zrok2 share|access private … --subordinate`: reports its boot line (or why
 * there was none) and its exit, and stops it the only safe way: SIGTERM, SIGKILL only after a
 * long grace.
 */
export class ZrokProcess {
  /** The boot line, or why none came; a process still running after a failure is the caller's to stop(). */
  readonly booted: Promise<BootOutcome>;
  /** Settles once the process has gone (or never started); never rejects. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The most recent `error` line (or stderr `[ERROR]` line): why it stopped, if it did. */
  lastError: string | undefined;
  /** How it exited, once it has. */
  exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly #child: ChildProcess;
  /** Started under the parent guard, in a group of its own: signals go to the group. */
  readonly #group: boolean;
  readonly #stderrTail: string[] = [];
  #settleBoot: (outcome: BootOutcome) => void = () => undefined;
  #stopping: Promise<void> | undefined;

  constructor(command: ZrokCommand, bootTimeoutMs: number) {
    this.booted = new Promise((resolve) => {
      const timer = setTimeout(() => settle({ ok: false, reason: 'timeout', text: `no boot line within ${Math.round(bootTimeoutMs / 1000)} s` }), bootTimeoutMs);
      const settle = (outcome: BootOutcome): void => {
        clearTimeout(timer);
        this.#settleBoot = () => undefined;
        resolve(outcome);
      };
      this.#settleBoot = settle;
    });
    // Under the parent guard (Linux, optional package) as the leader of its own process group: it
    // gets SIGTERM, then SIGKILL, should we die without stopping it.
    const [binary, args] = guardedCommand(command.binary, command.args, command.env);
    this.#group = binary !== command.binary;
    this.#child = spawn(binary, args, { env: command.env, stdio: ['ignore', 'pipe', 'pipe'], detached: this.#group });
    track(this);
    this.exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => resolve({ code, signal }));
      // A spawn failure emits 'error' and no 'exit'.
      this.#child.once('error', (err: NodeJS.ErrnoException) => {
        if (this.#child.pid !== undefined) return;
        const notInstalled = err.code === 'ENOENT' || err.code === 'EACCES';
        this.#settleBoot({ ok: false, reason: notInstalled ? 'not-installed' : 'exit', text: err.message });
        resolve({ code: null, signal: null });
      });
    });
    void this.exited.then(({ code, signal }) => {
      this.exitStatus = { code, signal };
      running.delete(this);
      this.lastError ??= this.#stderrError();
      this.#settleBoot({ ok: false, reason: 'exit', text: this.lastError ?? `zrok2 exited (${signal ?? `code ${String(code)}`})` });
    });

    const lines = new LineSplitter();
    this.#child.stdout?.on('data', (chunk: Buffer) => lines.push(chunk, (line) => this.#onLine(line)));
    const errLines = new LineSplitter();
    this.#child.stderr?.on('data', (chunk: Buffer) =>
      errLines.push(chunk, (line) => {
        this.#stderrTail.push(line.toString('utf8'));
        if (this.#stderrTail.length > STDERR_TAIL_LINES) this.#stderrTail.shift();
      }),
    );
  }

  /** The child's process id, while it runs. */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** True once the process has exited (or never started). */
  get hasExited(): boolean {
    return this.#child.exitCode !== null || this.#child.signalCode !== null || this.#child.pid === undefined;
  }

  /** SIGTERM, then SIGKILL only if it is still there after `graceMs`; resolves once it has exited. */
  stop(graceMs: number): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.hasExited) return;
      this.signal('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
      const first = await Promise.race([this.exited, graceOver]);
      clearTimeout(timer);
      if (first === 'timeout') {
        this.signal('SIGKILL');
        await this.exited;
      }
    })();
    return this.#stopping;
  }

  /** Sends `signal` to the process (and, under the guard, to its group: the guard passes none on). */
  signal(signal: NodeJS.Signals): void {
    const pid = this.#child.pid;
    if (this.hasExited || pid === undefined) return;
    try {
      if (this.#group) process.kill(-pid, signal);
      else this.#child.kill(signal);
    } catch {
      // gone meanwhile
    }
  }

  #onLine(raw: Buffer): void {
    let line: unknown;
    try {
      line = JSON.parse(raw.toString('utf8'));
    } catch {
      return; // not one of the subordinate lines
    }
    if (typeof line !== 'object' || line === null) return;
    const record = line as ZrokLine;
    // Other slog lines are interleaved with ours: only boot and error matter here.
    if (record['msg'] === 'boot') this.#settleBoot({ ok: true, line: record });
    else if (record['msg'] === 'error') {
      this.lastError = oneLine(String(record['error']));
      this.#settleBoot({ ok: false, reason: 'error-line', text: this.lastError });
    }
  }

  #stderrError(): string | undefined {
    return stderrErrorLine(this.#stderrTail.join('\n'));
  }
}

/** Runs a short zrok2 command (create/delete share) to completion; never rejects. */
export function runZrok(
  command: ZrokCommand,
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string; notInstalled: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(command.binary, command.args, { env: command.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) return;
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: err.message, notInstalled: err.code === 'ENOENT' || err.code === 'EACCES' });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, notInstalled: false });
    });
  });
}

/** The `[ERROR]` (or panic) line of a zrok2 stderr, without its prefix. */
export function stderrErrorLine(stderr: string): string | undefined {
  const lines = stderr.split('\n').map((l) => l.trim());
  const error = lines.find((l) => l.startsWith('[ERROR]') || l.startsWith('panic:') || l.startsWith('Error:')) ?? lines.find((l) => l !== '');
  return error === undefined ? undefined : oneLine(error.replace(/^\[ERROR\]:?\s*/, ''));
}

function oneLine(text: string): string {
  const first = text.split('\n').find((l) => l.trim() !== '') ?? text;
  return first.trim();
}
