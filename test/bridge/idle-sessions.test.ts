import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ZROK2_STANDIN, enabledHome, settledStandins } from '../fixtures/zrok2/harness.js';
import { isAlive, runCli, startBridge, waitFor, type RunningShare } from '../helpers/cli.js';
import { text } from '../helpers/mcp.js';
import { DYNAMIC_FIXTURE, firstJsonLine } from '../helpers/share-home.js';

// mcp-bridge --session-idle-timeout: an HTTP client session (the original's clients speak HTTP
// through a zrok access) with nothing in flight and no message either way that long is ended,
// and its server process stopped; a long call is not idleness.
describe('mcp-bridge --session-idle-timeout', () => {
  let root: string;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let bridge: RunningShare;
  let access: ChildProcess;
  let url: URL;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mcpgw-bridge-idle-'));
    home = await enabledHome(root, 'idle');
    env = { ZROK2_BIN: ZROK2_STANDIN, HOME: home, MCP_GATEWAY_HOME: join(home, '.mcp-gateway'), MCP_SHARE_PROVIDER: 'zrok' };
    bridge = await startBridge(['--session-idle-timeout', '1s', process.execPath, DYNAMIC_FIXTURE], env);
    access = spawn(ZROK2_STANDIN, ['access', 'private', bridge.token, '--bind', '127.0.0.1:0', '--subordinate'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'ignore'] });
    url = new URL(`http://${(await firstJsonLine<{ bind_address: string }>(access)).bind_address}/mcp`);
  });

  after(async () => {
    access.kill('SIGTERM');
    await bridge.stop();
    assert.deepEqual(await settledStandins(home, 10_000), []);
    await rm(root, { recursive: true, force: true });
  });

  const connect = async (): Promise<Client> => {
    const client = new Client({ name: 'idle-test', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(url));
    return client;
  };

  it('stops the server process of an idle HTTP session, and logs it', async () => {
    const client = await connect();
    const pid = Number(text(await client.callTool({ name: 'whoami', arguments: {} })).split(' ')[0]);
    assert.ok(isAlive(pid));
    await waitFor(() => !isAlive(pid), 10_000, 'the idle session to be ended');
    await waitFor(() => /session idle: stopping its server process/.test(bridge.stderr()), 5_000, 'the log line');
    await assert.rejects(client.callTool({ name: 'whoami', arguments: {} }), /404|not found/i, 'the session is gone');
    await client.close();
  });

  it('keeps a session whose call runs longer than the timeout', async () => {
    const client = await connect();
    const pid = Number(text(await client.callTool({ name: 'whoami', arguments: {} })).split(' ')[0]);
    assert.equal(text(await client.callTool({ name: 'sleep', arguments: { ms: 2500 } }, undefined, { timeout: 10_000 })), 'slept 2500');
    assert.ok(isAlive(pid), 'the same process answered, still running');
    assert.equal(text(await client.callTool({ name: 'whoami', arguments: {} })).split(' ')[0], String(pid));
    await client.close();
  });

  it('refuses a negative timeout in one line', async () => {
    const result = await runCli('mcp-bridge', ['--session-idle-timeout', '-1s', process.execPath, DYNAMIC_FIXTURE], env);
    assert.equal(result.code, 1);
    assert.match(result.stderr.trim(), /^mcp-bridge: invalid --session-idle-timeout '-1s': must not be negative/);
  });
});
