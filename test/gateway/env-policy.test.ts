import assert from 'node:assert/strict';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { EVERYTHING_BIN, connectThroughTools, type RunningShare } from '../helpers/cli.js';
import { text } from '../helpers/mcp.js';
import { ShareHome } from '../helpers/share-home.js';

// server-everything's get-env answers with its whole process.env: what the backend was given.
void describe('transport.env_policy (stdio backends)', () => {
  let home: ShareHome;
  let gateway: RunningShare;
  let client: Client;

  before(async () => {
    home = await ShareHome.create('envpol', { GATEWAY_ONLY_SECRET: 'inherited-value' });
    // A command found only on the gateway's PATH: a closed environment has no PATH to find it on.
    const bin = join(home.dir, 'bin');
    await mkdir(bin);
    await symlink(process.execPath, join(bin, 'node-for-env-policy'));
    const backend = (id: string, policy: string): string => `
  - id: ${id}
    transport:
      type: stdio
      command: node-for-env-policy
      args: ["${EVERYTHING_BIN}", "stdio"]
      env: { CONFIGURED: "${id}" }
${policy}
    tools: { list: ["get-env"] }`;
    const config = `backends:${backend('closed', '      env_policy: closed')}${backend('additive', '      env_policy: additive')}${backend('dflt', '')}\n`;
    gateway = await home.startGateway(config, { env: { PATH: `${bin}:${process.env['PATH'] ?? ''}` } });
    ({ client } = await connectThroughTools(gateway.token, home.env));
  });

  after(async () => {
    await client.close();
    await home.cleanup();
  });

  const envOf = async (tool: string): Promise<Record<string, string>> =>
    JSON.parse(text(await client.callTool({ name: tool, arguments: {} }))) as Record<string, string>;

  void it('closed: exactly the configured entries, nothing inherited, and the command still found', async () => {
    assert.deepEqual(await envOf('closed_get-env'), { CONFIGURED: 'closed' });
  });

  void it('additive (explicit or default): the configured entries over the gateway environment', async () => {
    for (const id of ['additive', 'dflt']) {
      const env = await envOf(`${id}_get-env`);
      assert.equal(env['CONFIGURED'], id);
      assert.equal(env['GATEWAY_ONLY_SECRET'], 'inherited-value');
      assert.ok(env['PATH'] !== undefined);
    }
  });
});
