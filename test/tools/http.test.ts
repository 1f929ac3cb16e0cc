import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { tapProgress, text } from '../helpers/mcp.js';
import { EVERYTHING_BIN, runCli, startHttpFront, type RunningCli, type RunningShare } from '../helpers/cli.js';
import { ShareHome } from '../helpers/share-home.js';


function withSampling(client: Client): Client {
  client.setRequestHandler(CreateMessageRequestSchema, () => ({ model: 'm', role: 'assistant', content: { type: 'text', text: 'sampled over http' } }));
  return client;
}

describe('mcp-tools http', () => {
  let home: ShareHome;
  let env: NodeJS.ProcessEnv;
  let bridge: RunningShare;
  const clis: RunningCli[] = [];
  const clients: Client[] = [];

  before(async () => {
    home = await ShareHome.create('http');
    env = home.env;
    bridge = await home.startBridge([process.execPath, EVERYTHING_BIN, 'stdio']);
  });

  after(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    for (const cli of clis) cli.proc.kill('SIGTERM');
    await Promise.all(clis.map((cli) => cli.exited));
    await home.cleanup();
  });

  it('serves streamable HTTP on /mcp: tools, progress, sampling on the request stream', async () => {
    const { cli, url } = await startHttpFront(bridge.token, env);
    clis.push(cli);
    assert.equal(url.pathname, '/mcp');
    assert.equal(url.hostname, '127.0.0.1');
    const client = withSampling(new Client({ name: 'http-test', version: '1' }, { capabilities: { sampling: {} } }));
    clients.push(client);
    const transport = new StreamableHTTPClientTransport(url);
    await client.connect(transport);
    assert.equal(text(await client.callTool({ name: 'echo', arguments: { message: 'over http' } })), 'Echo: over http');
    assert.match(text(await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'p' } })), /sampled over http/);

    const { seen, restore } = tapProgress(transport);
    await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } }, undefined, { onprogress: () => undefined });
    restore();
    assert.deepEqual(seen.map((p) => p.progress), [1, 2, 3]);

    // Host and Origin that are not the bound loopback name are refused (DNS-rebinding protection).
    const init = { jsonrpc: '2.0', id: 1, method: 'ping' };
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const foreignOrigin = await fetch(url, { method: 'POST', headers: { ...headers, origin: 'http://evil.example' }, body: JSON.stringify(init) });
    assert.equal(foreignOrigin.status, 403);
  });

  it('serves streamable HTTP at / too, as the newest original’s clients expect', async () => {
    const { cli, url } = await startHttpFront(bridge.token, env);
    clis.push(cli);
    const client = new Client({ name: 'http-root-test', version: '1' });
    clients.push(client);
    await client.connect(new StreamableHTTPClientTransport(new URL('/', url)));
    assert.equal(text(await client.callTool({ name: 'echo', arguments: { message: 'at the root' } })), 'Echo: at the root');
  });

  it('refuses a foreign Host header with 403', async () => {
    const { cli, url } = await startHttpFront(bridge.token, env);
    clis.push(cli);
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: '/mcp', method: 'POST', headers: { host: 'evil.example:80', 'content-type': 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.once('error', reject);
      req.end('{"jsonrpc":"2.0","id":1,"method":"ping"}');
    });
    assert.equal(status, 403);
  });

  it('serves the legacy SSE pair /sse + /message', async () => {
    const { cli, url } = await startHttpFront(bridge.token, env);
    clis.push(cli);
    const client = withSampling(new Client({ name: 'sse-test', version: '1' }, { capabilities: { sampling: {} } }));
    clients.push(client);
    await client.connect(new SSEClientTransport(new URL('/sse', url)));
    assert.equal(text(await client.callTool({ name: 'echo', arguments: { message: 'over sse' } })), 'Echo: over sse');
    assert.match(text(await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'p' } })), /sampled over http/);
  });

  it('answers with plain JSON under --json-response', async () => {
    const { cli, url } = await startHttpFront(bridge.token, env, ['--json-response']);
    clis.push(cli);
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const body = (await res.json()) as { result?: { serverInfo?: { name?: string } } };
    assert.equal(body.result?.serverInfo?.name, 'mcp-servers/everything');
    assert.ok(res.headers.get('mcp-session-id'));
  });

  it('serves many stateless clients from one share session under --stateless', async () => {
    const { cli, url } = await startHttpFront(bridge.token, env, ['--stateless']);
    clis.push(cli);
    const results = await Promise.all(
      ['a', 'b', 'c'].map(async (name) => {
        const client = new Client({ name, version: '1' });
        clients.push(client);
        await client.connect(new StreamableHTTPClientTransport(url));
        return text(await client.callTool({ name: 'echo', arguments: { message: name } }));
      }),
    );
    assert.deepEqual(results, ['Echo: a', 'Echo: b', 'Echo: c']);
  });

  it('refuses a non-loopback bind without --allow-remote', async () => {
    const { code, stdout, stderr } = await runCli('mcp-tools', ['http', bridge.token, '--bind', '0.0.0.0:0'], env);
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.match(stderr, /^mcp-tools: refusing to bind 0\.0\.0\.0.*--allow-remote[^\n]*\n$/);
  });
});
