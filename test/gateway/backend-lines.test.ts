import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { connectThroughTools, startGateway, waitFor, type RunningShare } from '../helpers/cli.js';
import { text } from '../helpers/mcp.js';

const RAW = fileURLToPath(new URL('../fixtures/raw-server.js', import.meta.url));
const MiB = 1024 * 1024;

/** The most memory the process ever had resident, in bytes. */
function peakRss(pid: number): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

describe('backend lines: max_message_bytes bounds what a backend writes too', () => {
  let home: string;
  let env: NodeJS.ProcessEnv;
  let gateway: RunningShare;
  let client: Client;

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'mcpgw-lines-'));
    const config = join(home, 'gateway.yml');
    await writeFile(
      config,
      `max_message_bytes: ${MiB}\naggregator: { connection: { call_timeout: 10s } }\n` +
        `backends:\n  - { id: raw, transport: { type: stdio, command: "${process.execPath}", args: ["${RAW}"] } }\n`,
    );
    env = { MCP_GATEWAY_HOME: home, MCP_SHARE_PROVIDER: 'local' };
    gateway = await startGateway(config, env);
    ({ client } = await connectThroughTools(gateway.token, env));
  });

  after(async () => {
    await client.close();
    await gateway.stop();
    await rm(home, { recursive: true, force: true });
  });

  it('ends a backend writing an endless line: the call fails, memory stays flat, the next call starts a new one', async () => {
    assert.equal(text(await client.callTool({ name: 'raw_echo', arguments: { text: 'before' } })), 'before');
    const pid = gateway.proc.pid as number;
    const peakBefore = peakRss(pid);
    const started = Date.now();
    await assert.rejects(client.callTool({ name: 'raw_flood', arguments: { bytes: 200 * MiB } }));
    assert.ok(Date.now() - started < 5_000, `the call failed after ${Date.now() - started} ms, not at once`);
    const grew = peakRss(pid) - peakBefore;
    assert.ok(grew < 50 * MiB, `the gateway's peak RSS grew by ${(grew / MiB).toFixed(0)} MiB for a 200 MiB line`);
    await waitFor(() => /exceeds|over \d+ bytes/.test(gateway.stderr()), 5_000, 'a log line saying why the backend was stopped');
    assert.equal(text(await client.callTool({ name: 'raw_echo', arguments: { text: 'after' } })), 'after');
  });
});
