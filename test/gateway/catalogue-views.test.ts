// Per-session catalogues: what a session lists is what its own backend processes offer its client.
// A session backend's list_changed changes that session's view only; a shared backend's, everyone's;
// before a session's process starts, the discovery view stands in.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { connectThroughTools, waitFor, type RunningShare } from '../helpers/cli.js';
import { text } from '../helpers/mcp.js';
import { ShareHome, dynamicBackend, everythingBackend } from '../helpers/share-home.js';

interface Watched {
  client: Client;
  /** tools/list_changed notifications received. */
  changes: number;
}

async function watched(token: string, env: NodeJS.ProcessEnv, capabilities: Record<string, unknown> = {}): Promise<Watched> {
  const { client } = await connectThroughTools(token, env, { capabilities });
  const w: Watched = { client, changes: 0 };
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => void w.changes++);
  return w;
}

const toolNames = async (client: Client): Promise<string[]> => (await client.listTools()).tools.map((t) => t.name);

describe('mcp-gateway: a catalogue per session', () => {
  let home: ShareHome;
  let gateway: RunningShare;

  before(async () => {
    home = await ShareHome.create('views');
    gateway = await home.startGateway(`backends:\n${dynamicBackend('dyn')}${dynamicBackend('sh', '    isolation: shared\n')}${everythingBackend('ev')}`);
  });

  after(() => home.cleanup());

  it('shows a tool added by a session’s own process to that session only', async () => {
    const [a, b] = await Promise.all([watched(gateway.token, home.env), watched(gateway.token, home.env)]);
    try {
      assert.equal(text(await a.client.callTool({ name: 'dyn_add_tool', arguments: { name: 'fresh' } })), 'added fresh');
      await waitFor(() => a.changes > 0, 10_000, 'tools/list_changed for A');
      assert.ok((await toolNames(a.client)).includes('dyn_fresh'));
      assert.equal(text(await a.client.callTool({ name: 'dyn_fresh', arguments: {} })), 'I am fresh');
      // B's own process (started by this call) offers no such tool.
      assert.equal(text(await b.client.callTool({ name: 'dyn_echo', arguments: { text: 'b' } })), 'b');
      assert.ok(!(await toolNames(b.client)).includes('dyn_fresh'));
      await assert.rejects(b.client.callTool({ name: 'dyn_fresh', arguments: {} }), /Unknown tool: dyn_fresh/);
      assert.equal(b.changes, 0, 'B was not told of A’s change');
    } finally {
      await Promise.allSettled([a.client.close(), b.client.close()]);
    }
  });

  it('shows a tool added to a shared backend to every session', async () => {
    const [a, b] = await Promise.all([watched(gateway.token, home.env), watched(gateway.token, home.env)]);
    try {
      await a.client.callTool({ name: 'sh_add_tool', arguments: { name: 'common' } });
      await waitFor(() => a.changes > 0 && b.changes > 0, 10_000, 'tools/list_changed for both');
      assert.ok((await toolNames(a.client)).includes('sh_common'));
      assert.ok((await toolNames(b.client)).includes('sh_common'));
      assert.equal(text(await b.client.callTool({ name: 'sh_common', arguments: {} })), 'I am common');
    } finally {
      await Promise.allSettled([a.client.close(), b.client.close()]);
    }
  });

  it('replaces the discovery view with what the session’s process offers its client', async () => {
    // Discovery declares every client capability, so server-everything lists its sampling tools;
    // for a client without sampling, its own process does not offer them.
    const plain = await watched(gateway.token, home.env);
    const sampler = await watched(gateway.token, home.env, { sampling: {}, tasks: { requests: { sampling: { createMessage: {} } } } });
    try {
      assert.ok((await toolNames(plain.client)).includes('ev_trigger-sampling-request-async'), 'the discovery view before its process starts');
      await plain.client.callTool({ name: 'ev_echo', arguments: { message: 'start' } });
      await waitFor(() => plain.changes > 0, 10_000, 'tools/list_changed once its own process listed');
      assert.ok(!(await toolNames(plain.client)).includes('ev_trigger-sampling-request-async'));
      await assert.rejects(plain.client.callTool({ name: 'ev_trigger-sampling-request-async', arguments: {} }), /Unknown tool/);
      // The sampling client keeps it, before and after its own process starts.
      await sampler.client.callTool({ name: 'ev_echo', arguments: { message: 'start' } });
      assert.ok((await toolNames(sampler.client)).includes('ev_trigger-sampling-request-async'));
    } finally {
      await Promise.allSettled([plain.client.close(), sampler.client.close()]);
    }
  });
});
