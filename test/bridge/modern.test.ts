// mcp-bridge of a server that speaks 2026-07-28 only: its start-up check must accept
// server/discover (the server refuses initialize), and the bridge stays transparent, so an SDK v2
// client pinned to that revision works through `mcp-tools run`, input_required rounds included.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/client';
import type { RunningShare } from '../helpers/cli.js';
import { text } from '../helpers/mcp.js';
import { MODERN_FIXTURE, connectV2ThroughTools } from '../helpers/era-fixtures.js';
import { ShareHome } from '../helpers/share-home.js';

describe('mcp-bridge of a 2026-07-28-only server, used by an SDK v2 client pinned to 2026-07-28', () => {
  let home: ShareHome;
  let bridge: RunningShare;
  let client: Client;

  before(async () => {
    home = await ShareHome.create('bridge-modern');
    bridge = await home.startBridge([process.execPath, MODERN_FIXTURE]);
    client = await connectV2ThroughTools(bridge.token, home.env, { pin: '2026-07-28' });
  });

  after(async () => {
    await client.close();
    await home.cleanup();
  });

  it('starts: the check accepts server/discover from a server that refuses initialize', () => {
    assert.match(bridge.stderr(), /server\/discover \(2026-07-28\)/);
  });

  it('lists and calls tools, input_required rounds included', async () => {
    const names = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes('echo') && names.includes('ask'), names.join(','));
    assert.equal(text(await client.callTool({ name: 'echo', arguments: { text: 'through the bridge' } })), 'through the bridge');
    assert.equal(text(await client.callTool({ name: 'era', arguments: {} })), 'modern');
    assert.equal(text(await client.callTool({ name: 'ask', arguments: {} })), 'elicited: accept Grace; roots: file:///srv/root; sampled: hello from the client');
  });

  it('reads the resource and gets the prompt', async () => {
    const read = await client.readResource({ uri: 'modern://info' });
    assert.equal((read.contents[0] as { text?: string }).text, 'served by the modern fixture');
    const prompt = await client.getPrompt({ name: 'greeting', arguments: { name: 'Ada' } });
    assert.deepEqual(prompt.messages[0]?.content, { type: 'text', text: 'Hello, Ada!' });
  });
});
