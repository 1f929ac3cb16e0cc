// The gateway fixture: a temp MCP_GATEWAY_HOME for local shares, configs written into it, the
// gateways and bridges started from it, and one cleanup() for after() that stops them all (and
// whatever backend they leave), then removes the directory.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CONFORMANCE_FIXTURE, EVERYTHING_BIN, descendants, isAlive, startBridge, startGateway, type RunningShare } from './cli.js';

/** Our dynamic fixture server (tools added at run time, sleep, crash, blob…). */
export const DYNAMIC_FIXTURE = fileURLToPath(new URL('../fixtures/dynamic-server.js', import.meta.url));

/** One `backends:` entry (YAML, with its newline) running `node script ...args` over stdio; `extra` is indented lines. */
export function stdioBackend(id: string, script: string, args: readonly string[] = [], extra = ''): string {
  const argv = [script, ...args].map((arg) => JSON.stringify(arg)).join(', ');
  return `  - id: ${id}\n    transport: { type: stdio, command: ${JSON.stringify(process.execPath)}, args: [${argv}] }\n${extra}`;
}

/** A backend entry for server-everything over stdio. */
export const everythingBackend = (id: string, extra = ''): string => stdioBackend(id, EVERYTHING_BIN, ['stdio'], extra);

/** A backend entry for our dynamic fixture. */
export const dynamicBackend = (id: string, extra = ''): string => stdioBackend(id, DYNAMIC_FIXTURE, [], extra);

/** Options for {@link ShareHome.startGateway}. */
export interface GatewayStart {
  /** File name of the config in the home (default `gateway-N.yml`). */
  name?: string;
  /** More arguments after `run <config>`. */
  args?: string[];
  /** More environment, over the home's. */
  env?: NodeJS.ProcessEnv;
}

/** A temp MCP_GATEWAY_HOME and the shares started in it. */
export class ShareHome {
  /** The directory, MCP_GATEWAY_HOME. */
  readonly dir: string;
  /** MCP_GATEWAY_HOME and MCP_SHARE_PROVIDER=local, plus what create() was given. */
  readonly env: NodeJS.ProcessEnv;
  readonly #shares: RunningShare[] = [];
  #configs = 0;

  private constructor(dir: string, env: NodeJS.ProcessEnv) {
    this.dir = dir;
    this.env = { MCP_GATEWAY_HOME: dir, MCP_SHARE_PROVIDER: 'local', ...env };
  }

  /** Makes the directory (`mcpgw-<name>-XXXXXX` in the temp dir). */
  static async create(name: string, env: NodeJS.ProcessEnv = {}): Promise<ShareHome> {
    return new ShareHome(await mkdtemp(join(tmpdir(), `mcpgw-${name}-`)), env);
  }

  /** Writes a config into the home; returns its path. */
  async writeConfig(yaml: string, name = `gateway-${++this.#configs}.yml`): Promise<string> {
    const path = join(this.dir, name);
    await writeFile(path, yaml);
    return path;
  }

  /** Writes `yaml` as a config (or takes `{ file }` as it is) and starts `mcp-gateway run` on it. */
  async startGateway(config: string | { file: string }, options: GatewayStart = {}): Promise<RunningShare> {
    const path = typeof config === 'string' ? await this.writeConfig(config, options.name) : config.file;
    return this.#track(await startGateway(path, { ...this.env, ...options.env }, options.args));
  }

  /** Starts `mcp-bridge <args>` on the home. */
  async startBridge(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunningShare> {
    return this.#track(await startBridge(args, { ...this.env, ...env }));
  }

  /**
   * Stops every share started here that still runs, kills whatever backend outlived it (so that
   * one failing test leaves no process to the next; whether stop leaves none is for tests to
   * say), and removes the directory.
   */
  async cleanup(): Promise<void> {
    await Promise.all(this.#shares.splice(0).map(stopAndReap));
    await rm(this.dir, { recursive: true, force: true });
  }

  #track(share: RunningShare): RunningShare {
    this.#shares.push(share);
    return share;
  }
}

/** Stops a share (SIGTERM), then SIGKILLs the descendants it had that are still alive. */
export async function stopAndReap(share: RunningShare): Promise<void> {
  const running = share.proc.exitCode === null && share.proc.signalCode === null;
  const backends = running ? descendants(share.proc.pid as number) : [];
  await share.stop();
  for (const pid of backends) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}

/** The first stdout line of a child, as JSON (fixtures announce their address so). */
export async function firstJsonLine<T>(child: ChildProcess): Promise<T> {
  if (child.stdout === null) throw new Error('the child has no stdout pipe');
  const lines = createInterface({ input: child.stdout });
  const line = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`exited with ${code} before its first line`)));
  });
  lines.close();
  return JSON.parse(line) as T;
}

/** Our conformance fixture as a streamable HTTP server (port 0 unless given), with its URL. */
export async function startHttpFixture(port = 0): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, [CONFORMANCE_FIXTURE, '--http', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  return { proc, url: (await firstJsonLine<{ url: string }>(proc)).url };
}
