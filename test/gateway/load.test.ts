import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { openShareTransport } from '../../src/mcp/share-transport.js';
import { LocalShareProvider } from '../../src/share/local/index.js';
import { startGateway, type RunningShare } from '../helpers/cli.js';
import { text } from '../helpers/mcp.js';

const DYNAMIC = fileURLToPath(new URL('../fixtures/dynamic-server.js', import.meta.url));
const CLIENTS = 20;
const CALLS = 50;
const CRASHING_CLIENT = 7;

describe('load: 20 clients × 50 calls through the gateway with a crash midway', () => {
  let home: string;
  let gateway: RunningShare;

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'mcpgw-load-'));
    const config = join(home, 'load.yml');
    await writeFile(config, `backends:\n  - id: dyn\n    transport: { type: stdio, command: "${process.execPath}", args: ["${DYNAMIC}"] }\n`);
    gateway = await startGateway(config, { MCP_GATEWAY_HOME: home, MCP_SHARE_PROVIDER: 'local' });
  });
  after(async () => {
    await gateway.stop();
    await rm(home, { recursive: true, force: true });
  });

  it('delivers every answer to the client that asked, none mixed up, none lost but the crashed call', { timeout: 120_000 }, async () => {
    const connector = await new LocalShareProvider(home).dial(gateway.token);
    const outcomes = await Promise.all(
      Array.from({ length: CLIENTS }, async (_, c) => {
        const client = new Client({ name: `load-${c}`, version: '1' });
        await client.connect(await openShareTransport(connector));
        const answers: string[] = [];
        let errors = 0;
        for (let call = 0; call < CALLS; call++) {
          if (c === CRASHING_CLIENT && call === CALLS / 2) {
            await client.callTool({ name: 'dyn_crash', arguments: {} }).catch(() => errors++);
            continue;
          }
          try {
            answers.push(text(await client.callTool({ name: 'dyn_echo', arguments: { text: `client ${c} call ${call}` } })));
          } catch {
            errors++;
          }
        }
        await client.close();
        return { c, answers, errors };
      }),
    );
    for (const { c, answers, errors } of outcomes) {
      const expected = Array.from({ length: CALLS }, (_, call) => `client ${c} call ${call}`).filter((_, call) => !(c === CRASHING_CLIENT && call === CALLS / 2));
      assert.deepEqual(answers, expected, `client ${c} got exactly its own answers, in order`);
      assert.equal(errors, c === CRASHING_CLIENT ? 1 : 0, `client ${c} errors`);
    }
  });
});
