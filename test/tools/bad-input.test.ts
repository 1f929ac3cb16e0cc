import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { LocalShareProvider } from '../../src/share/local/index.js';
import { EVERYTHING_BIN, runCli, startHttpFront, type RunningCli, type RunningShare } from '../helpers/cli.js';
import { ShareHome } from '../helpers/share-home.js';

/** Sends raw bytes and resolves with everything received until the peer closes. */
function rawExchange(socket: Socket, bytes: string, timeoutMs = 20_000): Promise<{ text: string; closedAfterMs: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    socket.once('close', () => resolve({ text, closedAfterMs: Date.now() - started }));
    socket.once('error', () => undefined);
    setTimeout(() => reject(new Error(`still open after ${timeoutMs} ms; got ${JSON.stringify(text)}`)), timeoutMs).unref();
    socket.write(bytes);
  });
}

describe('bad input on the HTTP surfaces', () => {
  let home: ShareHome;
  let env: NodeJS.ProcessEnv;
  let bridge: RunningShare;
  let http: RunningCli;
  let url: URL;

  before(async () => {
    home = await ShareHome.create('bad');
    env = home.env;
    bridge = await home.startBridge([process.execPath, EVERYTHING_BIN, 'stdio']);
    ({ cli: http, url } = await startHttpFront(bridge.token, env));
  });
  after(async () => {
    http.proc.kill('SIGTERM');
    await http.exited;
    await home.cleanup();
  });

  const post = (body: string, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body });

  it('answers malformed and misplaced requests with the spec’s errors', async () => {
    const malformed = await post('{"jsonrpc": "2.0", "id": 1, "method": ');
    assert.equal(malformed.status, 400);
    assert.equal(((await malformed.json()) as { error: { code: number } }).error.code, -32700);
    const noSession = await post('{"jsonrpc":"2.0","id":1,"method":"tools/list"}');
    assert.equal(noSession.status, 400);
    const unknownSession = await post('{"jsonrpc":"2.0","id":1,"method":"tools/list"}', { 'mcp-session-id': 'no-such-session' });
    assert.equal(unknownSession.status, 404);
    // Every path is the MCP endpoint (as the newest original serves it): a GET with no session is a bad request there.
    assert.equal((await fetch(new URL('/elsewhere', url))).status, 400);
    const tooBig = await post(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { pad: 'x'.repeat(17 * 1024 * 1024) } }));
    assert.equal(tooBig.status, 413);
  });

  it('closes a client that never finishes its headers, and keeps serving others', { timeout: 30_000 }, async () => {
    const slow = connect(Number(url.port), url.hostname);
    await new Promise((resolve) => slow.once('connect', resolve));
    const { closedAfterMs } = await rawExchange(slow, 'POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    assert.ok(closedAfterMs < 15_000, `closed after ${closedAfterMs} ms`);
    const list = await runCli('mcp-tools', ['list', bridge.token], env);
    assert.equal(list.code, 0);
  });

  it('answers garbage on the share itself with 400 and keeps serving', async () => {
    const socket = (await (await new LocalShareProvider(home.dir).dial(bridge.token)).connect()) as Socket;
    const { text } = await rawExchange(socket, 'THIS IS NOT HTTP\r\n\r\n');
    assert.match(text, /^HTTP\/1\.1 400/);
    const call = await runCli('mcp-tools', ['call', bridge.token, 'echo', '{"message":"still serving"}'], env);
    assert.equal(call.stdout, 'Echo: still serving');
  });
});
