import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { requestSent, tapProgress, text } from '../helpers/mcp.js';
import { EVERYTHING_BIN, connectThroughTools, descendants, isAlive, startHttpFront, waitFor, type RunningShare } from '../helpers/cli.js';
import { ShareHome } from '../helpers/share-home.js';

/** Server-everything children of the bridge process. */
function serverProcesses(bridge: RunningShare): number[] {
  return descendants(bridge.proc.pid as number);
}

describe('mcp-bridge + mcp-tools run, end to end with server-everything', () => {
  let home: ShareHome;
  let env: NodeJS.ProcessEnv;
  let bridge: RunningShare;
  let client: Client;
  let transport: Transport;
  const clients: Client[] = [];

  before(async () => {
    home = await ShareHome.create('e2e');
    env = home.env;
    bridge = await home.startBridge([process.execPath, EVERYTHING_BIN, 'stdio']);
    ({ client, transport } = await connectThroughTools(bridge.token, env, { capabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } } }));
    clients.push(client);
    client.setRequestHandler(CreateMessageRequestSchema, (request) => ({
      model: 'test-model',
      role: 'assistant',
      content: { type: 'text', text: `sampled: ${JSON.stringify(request.params.messages[0]?.content)}` },
    }));
    client.setRequestHandler(ElicitRequestSchema, () => ({ action: 'accept', content: { name: 'Ada Lovelace' } }));
    client.setRequestHandler(ListRootsRequestSchema, () => ({ roots: [{ uri: 'file:///tmp/e2e-root', name: 'e2e root' }] }));
  });

  after(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await home.cleanup();
  });

  it('prints exactly one share_token line on stdout', () => {
    assert.equal(bridge.stdoutLines.length, 1);
    assert.match(bridge.token, /^[a-z0-9]{12}$/);
  });

  it('passes server info and instructions through initialize', () => {
    assert.equal(client.getServerVersion()?.name, 'mcp-servers/everything');
    assert.match(client.getInstructions() ?? '', /Everything Server/);
  });

  it('lists and calls tools', async () => {
    const { tools } = await client.listTools();
    assert.ok(tools.some((t) => t.name === 'echo'));
    assert.equal(text(await client.callTool({ name: 'echo', arguments: { message: 'through the share' } })), 'Echo: through the share');
    assert.match(text(await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } })), /42/);
  });

  it('lists, reads and templates resources', async () => {
    const { resources } = await client.listResources();
    const first = resources[0];
    assert.ok(first !== undefined);
    const read = await client.readResource({ uri: first.uri });
    assert.equal(read.contents[0]?.uri, first.uri);
    const { resourceTemplates } = await client.listResourceTemplates();
    assert.ok(resourceTemplates.some((t) => t.uriTemplate === 'demo://resource/dynamic/text/{resourceId}'));
    const dynamic = await client.readResource({ uri: 'demo://resource/dynamic/text/7' });
    assert.match(JSON.stringify(dynamic.contents), /7/);
  });

  it('lists and gets prompts, and completes prompt arguments', async () => {
    const { prompts } = await client.listPrompts();
    assert.ok(prompts.some((p) => p.name === 'args-prompt'));
    const prompt = await client.getPrompt({ name: 'args-prompt', arguments: { city: 'Lisbon' } });
    assert.match(JSON.stringify(prompt.messages), /Lisbon/);
    const completion = await client.complete({ ref: { type: 'ref/prompt', name: 'completable-prompt' }, argument: { name: 'department', value: 'Eng' } });
    assert.ok(completion.completion.values.includes('Engineering'));
  });

  it('sets the log level and forwards log messages', async () => {
    await client.setLoggingLevel('debug');
    const received = new Promise<string>((resolve) => {
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => resolve(String(n.params.data)));
    });
    await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
    assert.match(await received, /message/i);
    await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
  });

  it('answers ping', async () => {
    assert.deepEqual(await client.ping(), {});
  });

  it('delivers every progress notification, including the last', async () => {
    const { seen, restore } = tapProgress(transport);
    try {
      const result = await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.5, steps: 5 } }, undefined, {
        onprogress: () => undefined,
      });
      assert.match(text(result), /completed/i);
    } finally {
      restore();
    }
    assert.deepEqual(seen.map((p) => p.progress), [1, 2, 3, 4, 5]);
    assert.equal(seen.at(-1)?.total, 5);
  });

  it('cancels a call and keeps the session usable', async () => {
    const controller = new AbortController();
    const sent = requestSent(transport, 'tools/call');
    const call = client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 20, steps: 4 } }, undefined, { signal: controller.signal });
    // Once the request is on the wire, the cancellation follows it on the same stream: the server
    // reads the call first, whatever the timing.
    await sent;
    controller.abort('user cancelled');
    await assert.rejects(call, /cancel/i);
    assert.equal(text(await client.callTool({ name: 'echo', arguments: { message: 'still here' } })), 'Echo: still here');
  });

  it('relays sampling, elicitation and roots requests to the client that caused them', async () => {
    assert.match(text(await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hello model' } })), /sampled:.*hello model/);
    assert.match(text(await client.callTool({ name: 'trigger-elicitation-request', arguments: {} })), /Ada Lovelace/);
    assert.match(text(await client.callTool({ name: 'get-roots-list', arguments: {} })), /e2e-root/);
  });

  it('gives each client its own server process and ends it when the client leaves', async () => {
    await waitFor(() => serverProcesses(bridge).length === 1, 5_000, 'one server process');
    const second = await connectThroughTools(bridge.token, env);
    assert.equal(text(await second.client.callTool({ name: 'echo', arguments: { message: 'two' } })), 'Echo: two');
    const both = serverProcesses(bridge);
    assert.equal(both.length, 2, `expected two server processes, saw ${both.join(',')}`);
    await second.client.close();
    await waitFor(() => serverProcesses(bridge).length === 1, 10_000, 'second server process to end');
    assert.equal(text(await client.callTool({ name: 'echo', arguments: { message: 'one' } })), 'Echo: one');
  });

  it('leaves no process and no socket behind after SIGTERM', async () => {
    const children = serverProcesses(bridge);
    assert.ok(children.length > 0);
    const { code } = await bridge.stop();
    assert.equal(code, 0);
    await waitFor(() => children.every((pid) => !isAlive(pid)), 10_000, 'children to exit');
    await assert.rejects(stat(join(home.dir, 'shares', `${bridge.token}.sock`)), { code: 'ENOENT' });
  });
});

describe('mcp-bridge --max-sessions', () => {
  let home: ShareHome;
  let bridge: RunningShare;

  before(async () => {
    home = await ShareHome.create('bridge-max');
    bridge = await home.startBridge(['--max-sessions', '1', process.execPath, EVERYTHING_BIN, 'stdio']);
  });
  after(() => home.cleanup());

  it('refuses a client beyond the limit with an error that says why, on every way in, and serves one again once a session ends', async () => {
    const first = await connectThroughTools(bridge.token, home.env);
    try {
      await waitFor(() => serverProcesses(bridge).length === 1, 10_000, 'the first session’s server');
      const refusal = /the bridge already serves its maximum of 1 sessions \(--max-sessions\)/;
      // Handed over (refused, the client relays, and its session stream is refused) and relayed.
      await assert.rejects(connectThroughTools(bridge.token, home.env), refusal);
      await assert.rejects(connectThroughTools(bridge.token, home.env, {}, ['--no-handover']), refusal);
      // Streamable HTTP, through mcp-tools http.
      const { cli, url } = await startHttpFront(bridge.token, home.env);
      try {
        const http = new Client({ name: 'refused-http', version: '1' });
        await assert.rejects(http.connect(new StreamableHTTPClientTransport(url)), refusal);
      } finally {
        cli.proc.kill('SIGTERM');
        await cli.exited;
      }
      assert.equal(serverProcesses(bridge).length, 1, 'no server process was started for a refused client');
      assert.match(bridge.stderr(), /session refused: --max-sessions reached/);
    } finally {
      await first.client.close();
    }
    await waitFor(() => serverProcesses(bridge).length === 0, 10_000, 'the first session’s server to exit');
    const again = await connectThroughTools(bridge.token, home.env);
    assert.equal(text(await again.client.callTool({ name: 'echo', arguments: { message: 'served' } })), 'Echo: served');
    await again.client.close();
  });
});
