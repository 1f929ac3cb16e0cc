import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { binPath, connectThroughTools, isAlive, waitFor } from '../helpers/cli.js';
import { text } from '../helpers/mcp.js';

const RAW = fileURLToPath(new URL('../fixtures/raw-server.js', import.meta.url));
/** Low enough to run out within a few dozen sessions, high enough for node to load the CLI. */
const LIMIT = 128;

/** A CLI under `ulimit -n limit` (node raises only the soft limit: this sets both), with its token. */
async function startLimited(name: 'mcp-gateway' | 'mcp-bridge', args: string[], env: NodeJS.ProcessEnv) {
  const proc = spawn('sh', ['-c', `ulimit -n ${LIMIT}; exec "$0" "$@"`, process.execPath, binPath(name), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  await waitFor(() => stdout.includes('\n') || proc.exitCode !== null, 30_000, 'share token');
  if (proc.exitCode !== null) throw new Error(`${name} exited: ${stderr}`);
  const token = (JSON.parse(stdout.split('\n')[0] as string) as { share_token: string }).share_token;
  return { proc, token, stderr: () => stderr };
}

/**
 * Opens sessions (one call each) until one fails, checks the product survived and logged it,
 * closes them all, and checks a new session is served.
 */
async function exhaustAndRecover(share: Awaited<ReturnType<typeof startLimited>>, env: NodeJS.ProcessEnv, runArgs: string[], tool: string, idle: RegExp): Promise<void> {
  const clients: { client: Client; transport: StdioClientTransport }[] = [];
  try {
    let failure: unknown;
    for (let i = 0; i < 60 && failure === undefined; i++) {
      try {
        const opened = await connectThroughTools(share.token, env, {}, runArgs);
        clients.push(opened);
        assert.equal(text(await opened.client.callTool({ name: tool, arguments: { text: `n${i}` } })), `n${i}`);
      } catch (error) {
        failure = error;
      }
    }
    assert.ok(failure !== undefined, 'descriptors ran out within 60 sessions');
    // Give a crash the time to happen.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.ok(isAlive(share.proc.pid as number), `it died: ${share.stderr().slice(-2000)}`);
    await waitFor(() => /EMFILE|ENFILE/.test(share.stderr()), 5_000, 'the failure to be logged');

    await Promise.allSettled(clients.splice(0).map(({ client }) => client.close()));
    await waitFor(() => idle.test(share.stderr().split('\n').slice(-3).join('\n')), 10_000, 'sessions to close');
    const later = await connectThroughTools(share.token, env, {}, runArgs);
    clients.push(later);
    assert.equal(text(await later.client.callTool({ name: tool, arguments: { text: 'later' } })), 'later');
    assert.ok(isAlive(share.proc.pid as number));
  } finally {
    await Promise.allSettled(clients.map(({ client }) => client.close()));
  }
}

describe('exhaustion: running out of descriptors', () => {
  const homes: string[] = [];
  const procs: Awaited<ReturnType<typeof startLimited>>['proc'][] = [];
  const newHome = async (): Promise<string> => {
    const home = await mkdtemp(join(tmpdir(), 'mcpgw-exhaust-'));
    homes.push(home);
    return home;
  };

  after(async () => {
    for (const proc of procs) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await new Promise((resolve) => proc.once('exit', resolve));
      }
    }
    await Promise.all(homes.map((home) => rm(home, { recursive: true, force: true })));
  });

  it('the gateway fails the calls it cannot start a backend for, keeps serving, and recovers', async () => {
    const home = await newHome();
    const config = join(home, 'gateway.yml');
    // A backend of node builtins only: it starts under the limit it inherits.
    await writeFile(config, `backends:\n  - id: dyn\n    transport: { type: stdio, command: "${process.execPath}", args: ["${RAW}"] }\n    warm: 1\n`);
    const env = { MCP_GATEWAY_HOME: home, MCP_SHARE_PROVIDER: 'local' };
    const gateway = await startLimited('mcp-gateway', ['run', config], env);
    procs.push(gateway.proc);
    await exhaustAndRecover(gateway, env, [], 'dyn_echo', /"sessions":0/);
  });

});
