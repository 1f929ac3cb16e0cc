import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Agent, fetch as undiciFetch } from 'undici';
import { LocalShareProvider } from '../../src/share/local/index.js';
import { blobText } from '../fixtures/blob-text.js';
import { connectThroughTools, waitFor, type RunningShare } from '../helpers/cli.js';
import { text } from '../helpers/mcp.js';
import { ShareHome, dynamicBackend } from '../helpers/share-home.js';

/** Large enough to take the pass-through path (64 KiB and more), and to span many pipe reads. */
const LARGE = 1_000_000;

/**
 * Results of 64 KiB and more leave the gateway as the backend wrote them, only the id replaced
 * (src/mcp/passthrough.ts). The path must be invisible to clients: same bytes, right ids, tool
 * errors still errors, and the HTTP front (which takes parsed messages) served alike.
 */
describe('mcp-gateway large results', () => {
  let home: ShareHome;
  let gateway: RunningShare;
  let client: Client;
  let httpClient: Client;
  let agent: Agent;

  before(async () => {
    home = await ShareHome.create('large');
    const aggregator = 'aggregator:\n  name: large-results\n  connection: { connect_timeout: 20s, call_timeout: 30s }\n';
    gateway = await home.startGateway(`${aggregator}backends:\n${dynamicBackend('dyn', '    isolation: shared\n')}`);
    ({ client } = await connectThroughTools(gateway.token, home.env));
    // Plain streamable HTTP on the share's socket: what a client without our session stream does.
    agent = new Agent({ connect: { socketPath: new LocalShareProvider(home.dir).socketPath(gateway.token) } });
    httpClient = new Client({ name: 'large-http', version: '1.0.0' });
    await httpClient.connect(
      new StreamableHTTPClientTransport(new URL('http://localhost/mcp'), {
        fetch: (url, init) => undiciFetch(url, { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher: agent }),
      }),
    );
  });

  after(async () => {
    await client.close();
    await httpClient.close();
    await agent.close();
    await home.cleanup();
  });

  const blob = (on: Client, chars: number, fail = false): Promise<unknown> => on.callTool({ name: 'dyn_blob', arguments: { chars, fail } }, undefined, { timeout: 30_000 });

  it('passes a large result on whole, each answer to the request that asked for it', async () => {
    // Interleaved with small calls on the same shared backend, so ids must be mapped right.
    const [large, small, larger, echo] = await Promise.all([
      blob(client, LARGE),
      blob(client, 100),
      blob(client, 3 * LARGE),
      client.callTool({ name: 'dyn_echo', arguments: { text: 'between' } }),
    ]);
    assert.equal(text(large), blobText(LARGE));
    assert.equal(text(small), blobText(100));
    assert.equal(text(larger), blobText(3 * LARGE));
    assert.equal(text(echo), 'between');
  });

  it('keeps a large tool error an error, for the client and in the call log', async () => {
    const failed = (await blob(client, LARGE, true)) as { isError?: boolean };
    assert.equal(failed.isError, true);
    assert.equal(text(failed), blobText(LARGE));
    const blobCalls = (): string[] => gateway.stderr().split('\n').filter((line) => line.includes('"msg":"call"') && line.includes('"name":"dyn_blob"'));
    // Log lines are written in batches (at most 200 ms apart).
    await waitFor(() => blobCalls().some((line) => line.includes('"outcome":"tool_error"')), 5_000, 'the tool error in the call log');
    assert.ok(blobCalls().some((line) => line.includes('"outcome":"ok"')));
  });

  it('serves a large result alike to a client on the HTTP front', async () => {
    assert.equal(text(await blob(httpClient, LARGE)), blobText(LARGE));
    const failed = (await blob(httpClient, LARGE, true)) as { isError?: boolean };
    assert.equal(failed.isError, true);
  });
});
