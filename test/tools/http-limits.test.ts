// mcp-tools http under attack (issue 17, findings 8 and 9): a rejected initialize opens no share
// session, sessions are bounded in number and expire when idle, and Host and Origin are checked
// even with --allow-remote. Sessions to the share are counted as the bridge's server processes.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { DYNAMIC_FIXTURE, ShareHome } from '../helpers/share-home.js';
import { descendants, runCli, startHttpFront, waitFor, type RunningCli, type RunningShare } from '../helpers/cli.js';

const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'limits', version: '1' } },
});
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request with exactly these headers (fetch would not let a test set Host). */
function send(url: URL, method: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.once('error', reject);
    req.end(body);
  });
}

const initialize = (url: URL, extra: Record<string, string> = {}): Promise<Answer> => send(url, 'POST', { ...MCP_HEADERS, ...extra }, INITIALIZE);

describe('mcp-tools http: sessions and origins', () => {
  let home: ShareHome;
  let bridge: RunningShare;
  const clis: RunningCli[] = [];
  const sessions = (): number => descendants(bridge.proc.pid as number).length;

  before(async () => {
    home = await ShareHome.create('http-limits');
    bridge = await home.startBridge([process.execPath, DYNAMIC_FIXTURE]);
  });
  after(async () => {
    for (const cli of clis) cli.proc.kill('SIGTERM');
    await Promise.all(clis.map((cli) => cli.exited));
    await home.cleanup();
  });

  async function front(args: string[]): Promise<URL> {
    const { cli, url } = await startHttpFront(bridge.token, home.env, ['--json-response', ...args]);
    clis.push(cli);
    return url;
  }

  it('opens a share session only for an initialize the endpoint accepts (406, 415, batch: none)', async () => {
    const url = await front([]);
    const before = sessions();
    for (let i = 0; i < 10; i++) {
      assert.equal((await initialize(url, { accept: 'application/json' })).status, 406);
      assert.equal((await initialize(url, { 'content-type': 'text/plain' })).status, 415);
      const ping = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' });
      assert.equal((await send(url, 'POST', MCP_HEADERS, `[${INITIALIZE},${ping}]`)).status, 400);
    }
    assert.equal(sessions(), before, '30 rejected initializes left share sessions open');
    const accepted = await initialize(url);
    assert.equal(accepted.status, 200);
    assert.match(accepted.body, /"serverInfo"/);
    assert.equal(sessions(), before + 1);
    await send(url, 'DELETE', { 'mcp-session-id': accepted.headers['mcp-session-id'] as string, 'mcp-protocol-version': '2025-06-18' });
    await waitFor(() => sessions() === before, 5_000, 'the deleted session to end');
  });

  it('refuses a session beyond --max-sessions with 503, and takes one again once another ends', async () => {
    const url = await front(['--max-sessions', '2']);
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const answer = await initialize(url);
      assert.equal(answer.status, 200);
      ids.push(answer.headers['mcp-session-id'] as string);
    }
    const refused = await initialize(url);
    assert.equal(refused.status, 503);
    assert.match(refused.body, /Too many sessions: this endpoint serves at most 2/);
    await send(url, 'DELETE', { 'mcp-session-id': ids[0] as string, 'mcp-protocol-version': '2025-06-18' });
    await waitFor(async () => (await initialize(url)).status === 200, 5_000, 'a free session slot');
  });

  it('closes a session idle for --session-idle-timeout, and its share session with it', async () => {
    const url = await front(['--session-idle-timeout', '300ms']);
    const before = sessions();
    const answer = await initialize(url);
    const id = answer.headers['mcp-session-id'] as string;
    assert.equal(sessions(), before + 1);
    await waitFor(() => sessions() === before, 5_000, 'the idle session to be closed');
    const late = await send(url, 'POST', { ...MCP_HEADERS, 'mcp-session-id': id, 'mcp-protocol-version': '2025-06-18' }, JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'ping' }));
    assert.equal(late.status, 404);
  });

  it('rejects a negative --session-idle-timeout with one line', async () => {
    const { code, stderr } = await runCli('mcp-tools', ['http', bridge.token, '--session-idle-timeout', '-1s'], home.env);
    assert.equal(code, 1);
    assert.equal(stderr, "mcp-tools: invalid --session-idle-timeout '-1s': must not be negative (0 disables it)\n");
  });

  it('keeps checking Origin and Host under --allow-remote; --allow-host and --allow-origin widen them', async () => {
    const open = await front(['--bind', '0.0.0.0:0', '--allow-remote']);
    const port = open.port;
    const local = new URL(`http://127.0.0.1:${port}/mcp`);
    assert.equal((await initialize(local, { origin: 'http://attacker.example' })).status, 403, 'a foreign web page');
    assert.equal((await initialize(local, { host: `attacker.example:${port}` })).status, 403, 'a rebinding Host');
    assert.equal((await initialize(local, { host: `10.1.2.3:${port}` })).status, 403, 'a remote Host nobody allowed');
    assert.equal((await initialize(local)).status, 200, 'loopback without Origin');

    const widened = await front(['--bind', '0.0.0.0:0', '--allow-remote', '--allow-host', 'mcp.example', '--allow-origin', 'https://app.example']);
    const at = new URL(`http://127.0.0.1:${widened.port}/mcp`);
    const named = `mcp.example:${widened.port}`;
    assert.equal((await initialize(at, { host: named })).status, 200);
    assert.equal((await initialize(at, { host: named, origin: `http://${named}` })).status, 200);
    assert.equal((await initialize(at, { origin: 'https://app.example' })).status, 200);
    assert.equal((await initialize(at, { origin: 'https://other.example' })).status, 403);
    assert.equal((await initialize(at, { host: `other.example:${widened.port}` })).status, 403);
  });
});
