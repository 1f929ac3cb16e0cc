import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { connectThroughTools, waitFor, type RunningShare } from '../helpers/cli.js';
import { text } from '../helpers/mcp.js';
import { ShareHome, firstJsonLine, startHttpFixture } from '../helpers/share-home.js';

const SSE_ONLY = fileURLToPath(new URL('../fixtures/sse-only-server.js', import.meta.url));

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Answers everything with a 307 to `target`. */
function redirector(target: string): Server {
  return createServer((req, res) => {
    req.resume();
    res.writeHead(307, { location: target }).end();
  });
}

/**
 * A forward proxy (CONNECT tunnels and absolute-form requests) that records each target and
 * always connects to 127.0.0.1, so that "localhost" targets reach the fixture whatever it resolves to.
 */
function proxy(seen: string[]): Server {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const target = new URL(req.url ?? '/');
    seen.push(target.host);
    const upstream = request({ host: '127.0.0.1', port: target.port, path: `${target.pathname}${target.search}`, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    req.pipe(upstream);
  });
  server.on('connect', (req, socket: Socket, head: Buffer) => {
    seen.push(req.url ?? '');
    const port = Number((req.url ?? '').split(':').pop());
    const upstream = connect(port, '127.0.0.1', () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    for (const s of [socket, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.once('close', () => sockets.delete(s));
    }
  });
  server.once('close', () => sockets.forEach((s) => s.destroy()));
  return server;
}

void describe('http backends: protocol, environment proxies and redirects as the newest original has them', () => {
  let home: ShareHome;
  let gateway: RunningShare;
  let client: Client;
  let fixture: { proc: ChildProcess; url: string };
  let sseOnly: ChildProcess;
  const servers: Server[] = [];
  const proxied: string[] = [];
  let fixturePort: string;

  before(async () => {
    home = await ShareHome.create('httpb');
    fixture = await startHttpFixture();
    fixturePort = new URL(fixture.url).port;
    sseOnly = spawn(process.execPath, [SSE_ONLY], { stdio: ['ignore', 'pipe', 'inherit'] });
    const { port: ssePort } = await firstJsonLine<{ port: number }>(sseOnly);
    const moved = redirector(fixture.url);
    const forward = proxy(proxied);
    servers.push(moved, forward);
    const movedUrl = `http://127.0.0.1:${await listen(moved)}/mcp`;
    const proxyUrl = `http://127.0.0.1:${await listen(forward)}`;
    const viaLocalhost = fixture.url.replace('127.0.0.1', 'localhost');
    const http = (endpoint: string, extra = ''): string => `{ type: http, endpoint: "${endpoint}", allow_insecure: true${extra} }`;
    const config = `backends:
  - id: legacy
    required: false
    transport: ${http(`http://127.0.0.1:${ssePort}/sse`)}
  - id: sse
    transport: ${http(`http://127.0.0.1:${ssePort}/sse`, ', protocol: sse')}
  - id: moved
    required: false
    transport: ${http(movedUrl)}
  - id: followed
    transport: ${http(movedUrl, ', allow_redirects: true')}
  - id: direct
    transport: ${http(fixture.url)}
  - id: proxied
    transport: ${http(viaLocalhost, ', allow_environment_proxy: true')}
`;
    const proxyEnv = { HTTP_PROXY: proxyUrl, http_proxy: proxyUrl, HTTPS_PROXY: proxyUrl, NO_PROXY: '', no_proxy: '', NODE_USE_ENV_PROXY: '1' };
    gateway = await home.startGateway(config, { env: proxyEnv });
    ({ client } = await connectThroughTools(gateway.token, home.env));
  });

  after(async () => {
    await client.close();
    await home.cleanup();
    fixture.proc.kill('SIGTERM');
    sseOnly.kill('SIGTERM');
    for (const server of servers) server.close();
  });

  const backendsListed = async (): Promise<Set<string>> => new Set((await client.listTools()).tools.map((t) => t.name.split('_')[0] ?? ''));

  void it('an absent protocol means streamable HTTP only: a legacy SSE endpoint needs protocol: sse', async () => {
    const listed = await backendsListed();
    assert.ok(!listed.has('legacy'), 'no fallback to SSE');
    assert.ok(listed.has('sse'));
    assert.equal(text(await client.callTool({ name: 'sse_fs_read_file', arguments: { path: 'a.txt' } })), 'contents of a.txt');
    assert.ok(listed.has('direct'), 'a streamable endpoint works without protocol');
  });

  void it('follows no redirect without allow_redirects, and says so', async () => {
    const listed = await backendsListed();
    assert.ok(!listed.has('moved'));
    assert.ok(listed.has('followed'));
    await waitFor(() => /moved[\s\S]*allow_redirects: true/.test(gateway.stderr()), 10_000, 'the redirect refusal in the log');
  });

  void it('uses environment proxies only with allow_environment_proxy', async () => {
    const listed = await backendsListed();
    assert.ok(listed.has('proxied') && listed.has('direct'));
    assert.ok(proxied.includes(`localhost:${fixturePort}`), `the opted-in backend went through the proxy: ${proxied.join(', ')}`);
    assert.ok(!proxied.some((target) => target.startsWith('127.0.0.1')), `no other backend did: ${proxied.join(', ')}`);
  });
});
