// Resource URIs no backend listed (nor matched by a template): forwarded, not refused. One
// backend that offers resources gets them; several are asked in config order until one answers
// other than "not found"; a backend's resource filter still applies.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { connectThroughTools, startGateway, type RunningShare } from '../helpers/cli.js';
import { text } from '../helpers/mcp.js';

const UNLISTED = fileURLToPath(new URL('../fixtures/unlisted-resources.js', import.meta.url));
const DYNAMIC = fileURLToPath(new URL('../fixtures/dynamic-server.js', import.meta.url));

function backend(id: string, args: string[], extra = ''): string {
  return `  - id: ${id}\n    transport: { type: stdio, command: "${process.execPath}", args: ${JSON.stringify([UNLISTED, ...args])} }\n${extra}`;
}

async function rejectsWith(promise: Promise<unknown>, code: number): Promise<void> {
  await assert.rejects(promise, (error: unknown) => error instanceof McpError && error.code === code);
}

/** The requests a fixture backend was asked, by its `seen` tool. */
async function seen(client: Client, id: string): Promise<string[]> {
  return JSON.parse(text(await client.callTool({ name: `${id}_seen`, arguments: {} }))) as string[];
}

async function serve(home: string, backends: string): Promise<{ gateway: RunningShare; client: Client }> {
  const path = join(home, `gateway-${Math.random().toString(36).slice(2)}.yml`);
  await writeFile(path, `backends:\n${backends}`);
  const env = { MCP_GATEWAY_HOME: home, MCP_SHARE_PROVIDER: 'local' };
  const gateway = await startGateway(path, env);
  const { client } = await connectThroughTools(gateway.token, env);
  return { gateway, client };
}

describe('mcp-gateway: resource URIs no backend listed', () => {
  let home: string;
  let several: { gateway: RunningShare; client: Client };
  let single: { gateway: RunningShare; client: Client };

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'mcpgw-unlisted-'));
    const tools = `  - id: t\n    transport: { type: stdio, command: "${process.execPath}", args: ["${DYNAMIC}"] }\n`;
    const c = backend('c', ['c://'], '    resources: { mode: deny, list: ["c://secret/*"] }\n');
    [several, single] = await Promise.all([
      serve(home, tools + backend('a', ['a://', '--sdk-not-found']) + backend('b', ['b://']) + c),
      serve(home, tools + backend('a', ['a://', '--sdk-not-found'])),
    ]);
  });

  after(async () => {
    await Promise.allSettled([several.client.close(), single.client.close()]);
    await Promise.allSettled([several.gateway.stop(), single.gateway.stop()]);
    await rm(home, { recursive: true, force: true });
  });

  it('asks the resource backends in config order until one answers other than not-found', async () => {
    const { client } = several;
    const read = await client.readResource({ uri: 'b://report' });
    assert.deepEqual(read.contents, [{ uri: 'b://report', mimeType: 'text/plain', text: 'served by b://' }]);
    // a said not found the SDK's way (-32602 "Resource … not found"); c was never asked.
    assert.ok((await seen(client, 'a')).includes('read b://report'));
    assert.ok((await seen(client, 'b')).includes('read b://report'));
    assert.ok(!(await seen(client, 'c')).includes('read b://report'));
  });

  it('stops at the first answer that is not "not found", errors included', async () => {
    const { client } = several;
    await rejectsWith(client.readResource({ uri: 'a://broken' }), -32603);
    assert.ok(!(await seen(client, 'b')).includes('read a://broken'));
  });

  it('answers the last backend\'s not-found when no backend serves the URI', async () => {
    await rejectsWith(several.client.readResource({ uri: 'nobody://here' }), -32002);
    assert.ok((await seen(several.client, 'c')).includes('read nobody://here'));
  });

  it('routes subscribe and unsubscribe the same way', async () => {
    const { client } = several;
    await client.subscribeResource({ uri: 'c://feed' });
    await client.unsubscribeResource({ uri: 'c://feed' });
    const asked = await seen(client, 'c');
    assert.ok(asked.includes('subscribe c://feed') && asked.includes('unsubscribe c://feed'));
  });

  it('never forwards a URI to a backend whose resource filter refuses it', async () => {
    const { client } = several;
    await rejectsWith(client.readResource({ uri: 'c://secret/key' }), -32002);
    assert.ok(!(await seen(client, 'c')).includes('read c://secret/key'));
  });

  it('passes the only resource backend\'s own answer, whatever it is', async () => {
    const { client } = single;
    assert.deepEqual((await client.readResource({ uri: 'a://x' })).contents, [{ uri: 'a://x', mimeType: 'text/plain', text: 'served by a://' }]);
    // Its not-found, as it wrote it: -32602 from an SDK server.
    await rejectsWith(client.readResource({ uri: 'nobody://here' }), -32602);
  });
});
