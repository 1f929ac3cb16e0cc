// `icons`, `title`, `_meta`, `structuredContent`, `outputSchema` (and fields no revision defines)
// pass through the gateway untouched: tools/list and tools/call through it equal the same
// requests made straight to the server, but for the namespaced tool name.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { z } from 'zod';
import { connectThroughTools, startGateway, type RunningShare } from '../helpers/cli.js';
import { RICH_RESULT, RICH_TOOL } from '../fixtures/rich-tool-data.js';

const RICH = fileURLToPath(new URL('../fixtures/rich-tools.js', import.meta.url));
/** Keeps every field of a result: the SDK's own schemas would strip the unknown ones. */
const RAW = z.record(z.string(), z.unknown());

describe('mcp-gateway passes optional and unknown fields of tools untouched', () => {
  let home: string;
  let gateway: RunningShare;
  let viaGateway: Client;
  let direct: Client;

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'mcpgw-fields-'));
    const path = join(home, 'gateway.yml');
    await writeFile(path, `backends:\n  - id: rich\n    transport: { type: stdio, command: "${process.execPath}", args: ["${RICH}"] }\n`);
    const env = { MCP_GATEWAY_HOME: home, MCP_SHARE_PROVIDER: 'local' };
    gateway = await startGateway(path, env);
    ({ client: viaGateway } = await connectThroughTools(gateway.token, env));
    direct = new Client({ name: 'direct', version: '1.0.0' });
    await direct.connect(new StdioClientTransport({ command: process.execPath, args: [RICH] }));
  });

  after(async () => {
    await Promise.allSettled([viaGateway.close(), direct.close()]);
    await gateway.stop();
    await rm(home, { recursive: true, force: true });
  });

  it('lists the tool as the server does, but for its name', async () => {
    const straight = (await direct.request({ method: 'tools/list', params: {} }, RAW))['tools'] as Record<string, unknown>[];
    // The comparison means something only if the server's own answer carries the fields.
    assert.deepEqual(straight, [RICH_TOOL]);
    const through = (await viaGateway.request({ method: 'tools/list', params: {} }, RAW))['tools'];
    assert.deepEqual(through, [{ ...RICH_TOOL, name: 'rich_weather' }]);
  });

  it('returns the call result as the server does', async () => {
    const params = { name: 'weather', arguments: { city: 'Oslo' }, _meta: { 'example.com/request': 1 } };
    const straight = await direct.request({ method: 'tools/call', params }, RAW);
    assert.deepEqual(straight, RICH_RESULT);
    const through = await viaGateway.request({ method: 'tools/call', params: { ...params, name: 'rich_weather' } }, RAW);
    assert.deepEqual(through, RICH_RESULT);
  });
});
