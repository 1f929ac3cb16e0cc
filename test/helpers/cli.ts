import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Client, type ClientOptions } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { LineSplitter } from '../../src/wire/lines.js';

/** Absolute path of a compiled CLI entry point. */
export function binPath(name: 'mcp-bridge' | 'mcp-tools' | 'mcp-filesystem' | 'mcp-gateway'): string {
  return fileURLToPath(new URL(`../../src/cli/${name}.js`, import.meta.url));
}

/** Our conformance fixture server (stdio with --stdio, streamable HTTP with --http 0). */
export const CONFORMANCE_FIXTURE = fileURLToPath(new URL('../fixtures/conformance-server.js', import.meta.url));

/** The server-everything binary installed from npm. */
export const EVERYTHING_BIN = fileURLToPath(new URL('../../../node_modules/@modelcontextprotocol/server-everything/dist/index.js', import.meta.url));

/** A CLI process started by a test, with its output captured. */
export interface RunningCli {
  proc: ChildProcess;
  stdoutLines: string[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns a compiled CLI with node, capturing stdout lines and stderr. */
export function startCli(name: Parameters<typeof binPath>[0], args: string[], env: NodeJS.ProcessEnv = {}): RunningCli {
  const proc = spawn(process.execPath, [binPath(name), ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const stdoutLines: string[] = [];
  let stderr = '';
  const splitter = new LineSplitter();
  proc.stdout.on('data', (chunk: Buffer) => splitter.push(chunk, (line) => stdoutLines.push(line.toString('utf8'))));
  proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const stderrClosed = new Promise<void>((resolve) => proc.stderr.once('close', () => resolve()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => {
      // 'exit' can come before the last of stderr has been read: wait for the pipe to close
      // (at most a second, should a child of the CLI still hold it).
      const late = setTimeout(() => resolve({ code, signal }), 1_000);
      void stderrClosed.then(() => {
        clearTimeout(late);
        resolve({ code, signal });
      });
    }),
  );
  return { proc, stdoutLines, stderr: () => stderr, exited };
}

/** Runs a CLI to completion. */
export async function runCli(name: Parameters<typeof binPath>[0], args: string[], env: NodeJS.ProcessEnv = {}, stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = startCli(name, args, env);
  cli.proc.stdin?.end(stdin);
  const { code } = await cli.exited;
  return { code, stdout: cli.stdoutLines.join('\n'), stderr: cli.stderr() };
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A bridge or gateway that printed its share token. */
export interface RunningShare extends RunningCli {
  token: string;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts mcp-bridge and waits for its `{"share_token"}` line. */
export function startBridge(args: string[], env: NodeJS.ProcessEnv): Promise<RunningShare> {
  return startShare('mcp-bridge', args, env);
}

/** Starts `mcp-gateway run <config>` and waits for its `{"share_token"}` line. */
export function startGateway(configPath: string, env: NodeJS.ProcessEnv, extra: string[] = []): Promise<RunningShare> {
  return startShare('mcp-gateway', ['run', configPath, ...extra], env);
}

async function startShare(name: 'mcp-bridge' | 'mcp-gateway', args: string[], env: NodeJS.ProcessEnv): Promise<RunningShare> {
  const cli = startCli(name, args, env);
  const exitedEarly = cli.exited.then(({ code }) => {
    throw new Error(`${name} exited with ${code}: ${cli.stderr()}`);
  });
  await Promise.race([waitFor(() => cli.stdoutLines.length > 0, 30_000, 'share token'), exitedEarly]);
  exitedEarly.catch(() => undefined);
  const token = (JSON.parse(cli.stdoutLines[0] as string) as { share_token: string }).share_token;
  return {
    ...cli,
    token,
    stop: async () => {
      if (cli.proc.exitCode === null && cli.proc.signalCode === null) cli.proc.kill('SIGTERM');
      return cli.exited;
    },
  };
}

/** An SDK client speaking to a share through `mcp-tools run`. */
export async function connectThroughTools(
  token: string,
  env: NodeJS.ProcessEnv,
  options: ClientOptions = {},
  extraArgs: readonly string[] = [],
): Promise<{ client: Client; transport: StdioClientTransport }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [binPath('mcp-tools'), 'run', token, ...extraArgs],
    env: { ...(process.env as Record<string, string>), ...(env as Record<string, string>) },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'e2e-test', version: '1.0.0' }, options);
  await client.connect(transport);
  return { client, transport };
}

/** A process's NUL-separated command line, or undefined once it is gone. */
function cmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
}

/** True for an `mcp-parent-guard` process (see src/mcp/stdio-upstream.ts). */
export function isParentGuard(pid: number): boolean {
  return cmdline(pid)?.split('\0')[0]?.endsWith('/mcp-parent-guard') === true;
}

/**
 * Every live descendant pid of `pid`, read from /proc, parent guards left out, and so are children
 * still forked but not yet exec'd (their command line is their parent's): such a child becomes a
 * parent guard or a backend a moment later, and counting it would make waits pass too soon.
 */
export function descendants(pid: number): number[] {
  const result: number[] = [];
  const visit = (parent: number): void => {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${parent}/task`);
    } catch {
      return;
    }
    const own = cmdline(parent);
    for (const tid of tasks) {
      let children: string;
      try {
        children = readFileSync(`/proc/${parent}/task/${tid}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const child of children.split(' ').filter(Boolean).map(Number)) {
        // The parent guard (optional native package) stands between a gateway and each backend:
        // the backend is what tests count and signal.
        if (!isParentGuard(child) && cmdline(child) !== own) result.push(child);
        visit(child);
      }
    }
  };
  visit(pid);
  return result;
}

/** True while a process with this pid exists (and is not a zombie). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** Waits for an event with a timeout. */
export async function onceWithin(emitter: NodeJS.EventEmitter, event: string, ms: number): Promise<unknown[]> {
  return Promise.race([once(emitter, event), new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no '${event}' within ${ms} ms`)), ms))]);
}

/** Starts `mcp-tools http <token>` on a free loopback port and reads the URL it logs. */
export async function startHttpFront(token: string, env: NodeJS.ProcessEnv, extra: string[] = []): Promise<{ cli: RunningCli; url: URL }> {
  const cli = startCli('mcp-tools', ['http', token, '--bind', '127.0.0.1:0', ...extra], env);
  let url: string | undefined;
  await waitFor(() => {
    url = /"url":"([^"]+)"/.exec(cli.stderr())?.[1];
    return url !== undefined || cli.proc.exitCode !== null;
  }, 15_000, 'mcp-tools http to listen');
  if (url === undefined) throw new Error(`mcp-tools http did not start: ${cli.stderr()}`);
  return { cli, url: new URL(url) };
}
