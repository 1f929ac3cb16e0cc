import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { connectThroughTools, waitFor, type RunningShare } from '../helpers/cli.js';
import { callAndSeeStart, text } from '../helpers/mcp.js';
import { DYNAMIC_FIXTURE, ShareHome, dynamicBackend, stdioBackend } from '../helpers/share-home.js';

describe('mcp-gateway behaviour with our dynamic fixture', () => {
  let home: ShareHome;
  let env: NodeJS.ProcessEnv;
  let gateway: RunningShare;
  let client: Client;
  let readyFlag: string;
  let listChanged = 0;

  before(async () => {
    home = await ShareHome.create('behave');
    env = home.env;
    readyFlag = join(home.dir, 'late-backend-may-start');
    const config = `
max_sessions: 1
aggregator:
  name: behaviour
  separator: ":"
  connection: { connect_timeout: 10s, call_timeout: 1s }
backends:
${dynamicBackend('dyn')}${stdioBackend('late', DYNAMIC_FIXTURE, ['--require-file', readyFlag], '    required: false\n')}`;
    gateway = await home.startGateway(config);
    ({ client } = await connectThroughTools(gateway.token, env));
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      listChanged++;
    });
  });

  after(async () => {
    await client.close();
    await home.cleanup();
  });

  it('warns at start-up about tool names that break the common client rule', async () => {
    const warning = (): string | undefined =>
      gateway
        .stderr()
        .split('\n')
        .find((line) => line.includes("tool name 'dyn:echo' breaks the common client rule"));
    // Log lines are written in batches (at most 200 ms apart).
    await waitFor(() => warning() !== undefined, 5_000, 'the tool-name warning');
    assert.equal((JSON.parse(warning() as string) as { level: number }).level, 40, 'a warning');
  });

  it('starts without a backend that is not required', async () => {
    const names = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes('dyn:echo'));
    assert.ok(!names.some((n) => n.startsWith('late:')));
  });

  it('refreshes the catalogue and notifies clients on list_changed', async () => {
    const before = listChanged;
    assert.equal(text(await client.callTool({ name: 'dyn:add_tool', arguments: { name: 'fresh' } })), 'added fresh');
    await waitFor(() => listChanged > before, 5_000, 'tools/list_changed');
    const names = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes('dyn:fresh'));
    assert.equal(text(await client.callTool({ name: 'dyn:fresh', arguments: {} })), 'I am fresh');
  });

  it('answers a call past call_timeout with a JSON-RPC error and cancels it at the backend', async () => {
    const started = Date.now();
    await assert.rejects(client.callTool({ name: 'dyn:sleep', arguments: { ms: 5_000 } }), /-32001|did not answer/);
    assert.ok(Date.now() - started < 3_000, 'the gateway answers at call_timeout, not when the backend does');
    // The session stays usable and the backend saw notifications/cancelled.
    assert.equal(text(await client.callTool({ name: 'dyn:cancellations', arguments: {} })), '1');
  });

  it('forwards a client cancellation to the backend', async () => {
    const controller = new AbortController();
    // Shorter than call_timeout (1 s): only the client's cancellation can count at the backend.
    const call = callAndSeeStart(client, { name: 'dyn:sleep', arguments: { ms: 900 } }, { signal: controller.signal });
    await call.started;
    controller.abort('changed my mind');
    await assert.rejects(call.result);
    await waitFor(async () => text(await client.callTool({ name: 'dyn:cancellations', arguments: {} })) === '2', 3_000, 'second cancellation');
  });

  it('refuses a session beyond max_sessions with a clear error', async () => {
    await assert.rejects(connectThroughTools(gateway.token, env), /maximum of 1 sessions/);
  });

  it('logs one line per call without arguments', async () => {
    // Log lines are written in batches (at most 200 ms apart).
    await waitFor(() => gateway.stderr().split('\n').filter((line) => line.includes('"msg":"call"')).length >= 3, 5_000, 'call log lines');
    const calls = gateway.stderr().split('\n').filter((line) => line.includes('"msg":"call"'));
    assert.ok(calls.length >= 3);
    assert.ok(calls.every((line) => !line.includes('"arguments"')));
    assert.ok(calls.some((line) => line.includes('"name":"dyn:echo"') || line.includes('"name":"dyn:add_tool"')));
  });

  it('announces a late backend with list_changed when it arrives', async () => {
    const before = listChanged;
    await writeFile(readyFlag, 'go');
    await waitFor(() => listChanged > before, 20_000, 'late backend to arrive');
    await waitFor(async () => (await client.listTools()).tools.some((t) => t.name === 'late:echo'), 5_000, 'late:echo listed');
    assert.equal(text(await client.callTool({ name: 'late:echo', arguments: { text: 'late but here' } })), 'late but here');
  });
});
