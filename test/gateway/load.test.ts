import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { openShareTransport } from '../../src/mcp/share-transport.js';
import { LocalShareProvider } from '../../src/share/local/index.js';
import type { RunningShare } from '../helpers/cli.js';
import { text } from '../helpers/mcp.js';
import { ShareHome, dynamicBackend } from '../helpers/share-home.js';

const CLIENTS = 20;
const CALLS = 50;
const CRASHING_CLIENT = 7;

describe('load: 20 clients × 50 calls through the gateway with a crash midway', () => {
  let home: ShareHome;
  let gateway: RunningShare;

  before(async () => {
    home = await ShareHome.create('load');
    gateway = await home.startGateway(`backends:\n${dynamicBackend('dyn')}`);
  });
  after(() => home.cleanup());

  it('delivers every answer to the client that asked, none mixed up, none lost but the crashed call', { timeout: 120_000 }, async () => {
    const connector = await new LocalShareProvider(home.dir).dial(gateway.token);
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
