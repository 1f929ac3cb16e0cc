// Every resource of a gateway is bounded and released, checked from outside its process: open
// descriptors after many sessions of each kind, and memory under a client that never reads.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { type Socket, connect, createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { MAX_SUBSCRIPTIONS } from '../../src/gateway/session.js';
import { openSessionStream } from '../../src/mcp/session-stream.js';
import { openShareTransport } from '../../src/mcp/share-transport.js';
import { LocalShareProvider, type ShareConnector } from '../../src/share/index.js';
import { LineSplitter } from '../../src/wire/lines.js';
import { socketFd } from '../../src/wire/socket-fd.js';
import { FD_PASSING_SKIP } from '../helpers/addons.js';
import { binPath, waitFor, type RunningShare } from '../helpers/cli.js';
import { text } from '../helpers/mcp.js';
import { ShareHome, dynamicBackend, everythingBackend } from '../helpers/share-home.js';
const SESSIONS = 100;
/** Sessions opened at once: enough to overlap, few enough for a 2-core machine. */
const AT_ONCE = 10;
const INITIALIZE = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bounds', version: '1' } } };

function openDescriptors(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Resident and peak resident memory of a process, in bytes. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Runs `session` for 0..count-1, `AT_ONCE` at a time. */
async function inBatches(count: number, session: (i: number) => Promise<void>): Promise<void> {
  for (let start = 0; start < count; start += AT_ONCE) {
    await Promise.all(Array.from({ length: Math.min(AT_ONCE, count - start) }, (_, k) => session(start + k)));
  }
}

/** The first answer line read from a socket. */
function firstLine(socket: Socket | NodeJS.ReadableStream, head: Buffer = Buffer.alloc(0)): Promise<string> {
  return new Promise((resolve, reject) => {
    const splitter = new LineSplitter();
    let done = false;
    const onLine = (line: Buffer): void => {
      if (done) return;
      done = true;
      resolve(line.toString('utf8'));
    };
    splitter.push(head, onLine);
    socket.on('data', (chunk: Buffer) => splitter.push(chunk, onLine));
    socket.once('close', () => (done ? undefined : reject(new Error('closed before answering'))));
  });
}

/** One session over our session stream (what `mcp-tools list` and `run --no-handover` open), closed by the client. */
async function streamSession(connector: ShareConnector): Promise<void> {
  const { socket, head } = await openSessionStream(connector);
  const answer = firstLine(socket, head);
  socket.write(`${JSON.stringify(INITIALIZE)}\n`);
  assert.match(await answer, /"protocolVersion"/);
  socket.destroy();
}

/** One streamable HTTP session on the share's own HTTP surface: initialize, then DELETE. */
async function httpSession(socketPath: string): Promise<void> {
  const post = await new Promise<{ status: number; session: string | undefined; body: string }>((resolve, reject) => {
    const req = request(
      { socketPath, path: '/mcp', method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', host: 'localhost' } },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        res.once('end', () => resolve({ status: res.statusCode ?? 0, session: res.headers['mcp-session-id'] as string | undefined, body }));
      },
    );
    req.once('error', reject);
    req.end(JSON.stringify(INITIALIZE));
  });
  assert.equal(post.status, 200, post.body);
  assert.match(post.body, /"protocolVersion"/);
  assert.ok(post.session !== undefined, 'a session id');
  await new Promise<void>((resolve, reject) => {
    const req = request({ socketPath, path: '/mcp', method: 'DELETE', headers: { 'mcp-session-id': post.session, host: 'localhost' } }, (res) => {
      res.resume();
      res.once('end', () => resolve());
    });
    req.once('error', reject);
    req.end();
  });
}

/** Two connected sockets: `ours` (to hand over) and the `peer` the test keeps. */
async function socketPair(path: string): Promise<{ ours: Socket; peer: Socket }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const ours = connect(path);
  await new Promise((resolve) => ours.once('connect', resolve));
  const peer = await accepted;
  // Stops listening; close() would wait for the connection it accepted to end.
  server.close();
  ours.pause();
  return { ours, peer };
}

/**
 * One session whose stdin and stdout are handed over, as `mcp-tools run` does with its own: the
 * client's ends are sockets here, so the test can hold the other ends. Ended by the client's EOF.
 */
async function handedOverSession(connector: ShareConnector, dir: string, i: number): Promise<void> {
  const input = await socketPair(join(dir, `in-${i}.sock`));
  const output = await socketPair(join(dir, `out-${i}.sock`));
  const handed = await connector.handOverStdio?.(socketFd(input.ours) as number, socketFd(output.ours) as number);
  assert.ok(handed !== undefined, 'the gateway took the descriptors');
  // As mcp-tools does: our copies go, the gateway's are the only ones left.
  input.ours.destroy();
  output.ours.destroy();
  const answer = firstLine(output.peer);
  input.peer.write(`${JSON.stringify(INITIALIZE)}\n`);
  assert.match(await answer, /"protocolVersion"/);
  input.peer.end();
  assert.deepEqual(await handed.ended, { exitCode: 0, reason: 'client closed stdin' });
  input.peer.destroy();
  output.peer.destroy();
}

/** One `mcp-tools run` process (the stdio handover where it is built): initialize, then stdin closed. */
async function runSession(token: string, env: NodeJS.ProcessEnv): Promise<void> {
  const child = spawn(process.execPath, [binPath('mcp-tools'), 'run', token], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'ignore'] });
  const answer = firstLine(child.stdout);
  child.stdin.write(`${JSON.stringify(INITIALIZE)}\n`);
  assert.match(await answer, /"protocolVersion"/);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stdin.end();
  assert.equal(await exited, 0);
}

describe('gateway resource bounds', () => {
  let shareHome: ShareHome;
  let home: string;
  let env: NodeJS.ProcessEnv;
  let gateway: RunningShare;
  let connector: ShareConnector;
  let pid: number;

  before(async () => {
    shareHome = await ShareHome.create('bounds');
    ({ dir: home, env } = shareHome);
    // Shared: the backend processes live as long as the gateway, so what sessions leave behind
    // shows. server-everything makes tools/list answers some 10 KB long.
    const shared = '    isolation: shared\n';
    gateway = await shareHome.startGateway(`backends:\n${dynamicBackend('dyn', shared)}${everythingBackend('ev', shared)}`);
    pid = gateway.proc.pid as number;
    connector = await new LocalShareProvider(home).dial(gateway.token);
    // Everything opened once per gateway (the shared backend, the HTTP endpoint) is open before counting.
    await streamSession(connector);
    await httpSession(new LocalShareProvider(home).socketPath(gateway.token));
  });
  after(() => shareHome.cleanup());

  /** Runs SESSIONS sessions and waits for the gateway's descriptors to come back to where they were. */
  async function assertReleased(session: (i: number) => Promise<void>, count = SESSIONS): Promise<void> {
    const before = openDescriptors(pid);
    await inBatches(count, session);
    // Closing is asynchronous on the gateway's side: wait for it, then compare exactly.
    // (Fewer than before is fine: something of the previous test may have been closing still.)
    await waitFor(() => openDescriptors(pid) <= before, 10_000, 'the gateway to release its descriptors').catch(() => undefined);
    const now = openDescriptors(pid);
    assert.ok(now <= before, `the gateway had ${before} descriptors open before ${count} sessions and ${now} after`);
  }

  it(`leaves no descriptor behind after ${SESSIONS} session streams the client closed`, async () => {
    await assertReleased(() => streamSession(connector));
  });

  it(`leaves no descriptor behind after ${SESSIONS} streamable HTTP sessions on the share`, async () => {
    const path = new LocalShareProvider(home).socketPath(gateway.token);
    await assertReleased(() => httpSession(path));
  });

  it(`leaves no descriptor behind after ${SESSIONS} sessions whose stdio was handed over`, { skip: FD_PASSING_SKIP ?? false }, async () => {
    await assertReleased((i) => handedOverSession(connector, home, i));
  });

  // The whole path once more through real processes, fewer of them (each is a Node start-up).
  it('leaves no descriptor behind after mcp-tools run sessions, handed over and relayed', { timeout: 60_000 }, async () => {
    await assertReleased((i) => runSession(gateway.token, i % 2 === 0 ? env : { ...env, MCP_GATEWAY_FD_PASSING: '0' }), 10);
  });

  it('stays small while a client sends 100,000 requests and never reads, and another is served meanwhile', { timeout: 120_000 }, async () => {
    const start = memory(pid);
    const { socket } = await openSessionStream(connector);
    socket.pause();
    socket.on('error', () => undefined);
    const requests = [JSON.stringify(INITIALIZE)];
    for (let i = 2; i < 100_002; i++) requests.push(JSON.stringify({ jsonrpc: '2.0', id: i, method: 'tools/list' }));
    socket.write(`${requests.join('\n')}\n`);

    const client = new Client({ name: 'bounds-reader', version: '1' });
    await client.connect(await openShareTransport(connector));
    for (let call = 0; call < 200; call++) {
      assert.equal(text(await client.callTool({ name: 'dyn_echo', arguments: { text: `call ${call}` } })), `call ${call}`);
    }
    const end = memory(pid);
    const growth = end.peak - start.rss;
    assert.ok(growth < 100 * 1024 * 1024, `the gateway grew by ${(growth / 1024 / 1024).toFixed(1)} MB (peak ${(end.peak / 1024 / 1024).toFixed(1)} MB)`);
    // The reader is still served after the other one goes.
    socket.destroy();
    assert.equal(text(await client.callTool({ name: 'dyn_echo', arguments: { text: 'after' } })), 'after');
    await client.close();
  });
});

describe('gateway subscription bound', () => {
  let shareHome: ShareHome;
  let gateway: RunningShare;

  before(async () => {
    shareHome = await ShareHome.create('subs');
    gateway = await shareHome.startGateway(`backends:\n${everythingBackend('ev')}`);
  });
  after(() => shareHome.cleanup());

  it(`refuses a session's subscription past ${MAX_SUBSCRIPTIONS} resources, and takes one again after an unsubscribe`, { timeout: 60_000 }, async () => {
    const client = new Client({ name: 'subscriber', version: '1' });
    await client.connect(await openShareTransport(await new LocalShareProvider(shareHome.dir).dial(gateway.token)));
    try {
      const uri = (i: number): string => `demo://resource/static/document/${i}`;
      for (let i = 0; i < MAX_SUBSCRIPTIONS; i += 64) {
        await Promise.all(Array.from({ length: 64 }, (_, j) => client.subscribeResource({ uri: uri(i + j) })));
      }
      await assert.rejects(client.subscribeResource({ uri: uri(MAX_SUBSCRIPTIONS) }), new RegExp(`too many resource subscriptions in this session \\(at most ${MAX_SUBSCRIPTIONS}\\)`));
      await client.subscribeResource({ uri: uri(0) }); // already subscribed: no new one
      await client.unsubscribeResource({ uri: uri(1) });
      await client.subscribeResource({ uri: uri(MAX_SUBSCRIPTIONS) });
    } finally {
      await client.close();
    }
  });
});

describe('gateway output bound', () => {
  let shareHome: ShareHome;
  let gateway: RunningShare;

  before(async () => {
    shareHome = await ShareHome.create('bound');
    // 64 KiB messages: a session may leave 128 KiB of answers unread.
    gateway = await shareHome.startGateway(`max_message_bytes: 65536\nbackends:\n${dynamicBackend('dyn')}`);
  });
  after(() => shareHome.cleanup());

  it('closes a session that leaves more than 2 x max_message_bytes unread, says why, and serves others', async () => {
    const connector = await new LocalShareProvider(shareHome.dir).dial(gateway.token);
    const { socket } = await openSessionStream(connector);
    socket.pause();
    socket.on('error', () => undefined);
    const text50k = 'x'.repeat(50_000);
    const calls = Array.from({ length: 40 }, (_, i) => JSON.stringify({ jsonrpc: '2.0', id: i + 2, method: 'tools/call', params: { name: 'dyn_echo', arguments: { text: text50k } } }));
    socket.write(`${[JSON.stringify(INITIALIZE), ...calls].join('\n')}\n`);
    // 40 answers of 50 KB, 2 MB, were asked for and none is read: the gateway ends the session
    // (the paused client cannot see its end, so the gateway's log tells).
    await waitFor(() => /"sessions":0,"msg":"session closed"/.test(gateway.stderr()), 10_000, 'the session to close');
    assert.match(gateway.stderr(), /the peer is not reading: \d+ bytes of output queued \(limit 131072\)","msg":"closing the session"/);
    socket.destroy();
    const client = new Client({ name: 'bound-other', version: '1' });
    await client.connect(await openShareTransport(connector));
    assert.equal(text(await client.callTool({ name: 'dyn_echo', arguments: { text: 'still here' } })), 'still here');
    await client.close();
  });
});
