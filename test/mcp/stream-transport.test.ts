import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import fc from 'fast-check';
import { StdioUpstream } from '../../src/mcp/stdio-upstream.js';
import { StreamTransport } from '../../src/mcp/stream-transport.js';
import { createLogger } from '../../src/log.js';
import { cut } from '../helpers/bytes.js';

const logger = createLogger({ level: 'silent', name: 'test' });

/** Lines a socket receives, and whether it has seen the end. */
function collect(socket: Socket): { lines: string[]; ended: Promise<void> } {
  const lines: string[] = [];
  let rest = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    lines.push(...parts);
  });
  return { lines, ended: new Promise((resolve) => socket.once('end', () => resolve())) };
}

async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('StreamTransport', () => {
  let dir: string;
  let server: Server;
  let accepted: ((socket: Socket) => void) | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcpgw-transport-'));
    server = createServer((socket) => accepted?.(socket));
    await new Promise<void>((resolve) => server.listen(join(dir, 's.sock'), resolve));
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  /** A connected pair: the transport's side (accepted by our server) and the peer's. */
  async function pair(): Promise<{ ours: Socket; peer: Socket }> {
    const ours = new Promise<Socket>((resolve) => (accepted = resolve));
    const peer = connect(join(dir, 's.sock'));
    await new Promise((resolve) => peer.once('connect', resolve));
    return { ours: await ours, peer };
  }

  interface OpenOptions {
    maxLineBytes?: number;
    maxQueuedBytes?: number;
    pauseInputWhileCongested?: boolean;
    head?: Buffer;
    intercept?: (parts: Buffer[], bytes: number) => boolean;
    interceptAt?: number;
  }

  async function open(options: OpenOptions = {}) {
    const { ours, peer } = await pair();
    const { head, intercept, interceptAt, ...limits } = options;
    const transport = StreamTransport.overSocket(ours, head, { answerBadInput: true, ...limits });
    if (intercept !== undefined) transport.interceptLines(interceptAt ?? 1000, intercept);
    const received: JSONRPCMessage[] = [];
    transport.onmessage = (message) => received.push(message);
    await transport.start();
    return { transport, ours, peer, received, fromUs: collect(peer) };
  }

  it('carries messages both ways unchanged, however the bytes are cut, with \\n or \\r\\n', async () => {
    const message = fc.record({ jsonrpc: fc.constant('2.0' as const), id: fc.integer(), method: fc.string({ minLength: 1, maxLength: 20 }), params: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 300 })) });
    await fc.assert(
      fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 12 }), fc.boolean(), async (messages, points, crlf) => {
        const { transport, peer, received, fromUs } = await open();
        transport.onmessage = (m) => {
          received.push(m);
          transport.post(m);
        };
        const bytes = Buffer.from(messages.map((m) => `${JSON.stringify(m)}${crlf ? '\r\n' : '\n'}`).join(''));
        for (const chunk of cut(bytes, points)) {
          peer.write(chunk);
          await new Promise((resolve) => setImmediate(resolve));
        }
        await until(() => fromUs.lines.length === messages.length, 'the echoes');
        const expected = messages.map((m) => JSON.stringify(m));
        assert.deepEqual(received.map((m) => JSON.stringify(m)), expected);
        assert.deepEqual(fromUs.lines, expected);
        await transport.close();
        peer.destroy();
      }),
      { numRuns: 25 },
    );
  });

  it('answers garbage with -32700 and an oversized line with -32600 and its id, and goes on', async () => {
    const { peer, received, fromUs, transport } = await open({ maxLineBytes: 1000 });
    const big = JSON.stringify({ jsonrpc: '2.0', method: 'tools/call', params: { pad: 'x'.repeat(5000) }, id: 7 });
    peer.write(`{"jsonrpc":"2.0","id":1,"method":"a"}\n{"broken":\n`);
    // The long line arrives in pieces, as from a real client.
    peer.write(big.slice(0, 3000));
    await new Promise((resolve) => setTimeout(resolve, 20));
    peer.write(`${big.slice(3000)}\n{"jsonrpc":"2.0","id":2,"method":"b"}\n`);
    await until(() => received.length === 2 && fromUs.lines.length === 2, 'the answers');
    assert.deepEqual(received.map((m) => (m as { id: number }).id), [1, 2]);
    const answers = fromUs.lines.map((line) => JSON.parse(line) as { id: unknown; error: { code: number; message: string } });
    assert.deepEqual(answers.map((a) => [a.id, a.error.code]), [[null, -32700], [7, -32600]]);
    assert.match(answers[1]?.error.message ?? '', /exceeds 1000 bytes/);
    await transport.close();
    peer.destroy();
  });

  it('reads the bytes already read past a handshake first', async () => {
    const head = Buffer.from('{"jsonrpc":"2.0","id":1,"method":"first"}\n{"jsonrpc":"2.0","id":2,');
    const { peer, received, transport } = await open({ head });
    peer.write('"method":"second"}\n');
    await until(() => received.length === 2, 'both messages');
    assert.deepEqual(received.map((m) => (m as { method: string }).method), ['first', 'second']);
    await transport.close();
    peer.destroy();
  });

  it('keeps order and loses nothing while the reader is slow, an 8 MB line included', async () => {
    const { peer, transport, fromUs } = await open();
    peer.pause();
    const big = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 'big', result: { text: 'y'.repeat(8 * 1024 * 1024) } }));
    for (let i = 0; i < 3000; i++) {
      assert.equal(transport.post({ jsonrpc: '2.0', id: i, result: { pad: 'z'.repeat(500) } }), true);
      if (i === 1500) assert.equal(transport.sendLine([big.subarray(0, 100), big.subarray(100)]), true);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    peer.resume();
    await until(() => fromUs.lines.length === 3001, 'every line', 30_000);
    const ids = fromUs.lines.map((line) => (JSON.parse(line) as { id: unknown }).id);
    assert.deepEqual(ids, [...Array.from({ length: 1501 }, (_, i) => i), 'big', ...Array.from({ length: 1499 }, (_, i) => i + 1501)]);
    assert.equal(fromUs.lines[1501], big.toString('utf8'));
    await transport.close();
    peer.destroy();
  });

  it('offers lines of the intercepted size as bytes, unparsed', async () => {
    const taken: string[] = [];
    const { peer, received, transport } = await open({
      intercept: (parts, bytes) => {
        const line = Buffer.concat(parts);
        assert.equal(line.length, bytes);
        taken.push(line.toString('utf8'));
        return true;
      },
    });
    const long = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { text: 'é'.repeat(2000) } });
    peer.write(`${long}\n{"jsonrpc":"2.0","id":2,"result":{}}\n`);
    await until(() => received.length === 1 && taken.length === 1, 'both lines');
    assert.equal(taken[0], long);
    assert.equal((received[0] as { id: number }).id, 2);
    await transport.close();
    peer.destroy();
  });

  it('hands a long line that arrives in pieces over as pieces, and still limits its size', async () => {
    const taken: { text: string; pieces: number }[] = [];
    const { peer, received, fromUs, transport } = await open({
      maxLineBytes: 150_000,
      interceptAt: 1000,
      intercept: (parts, bytes) => {
        const text = Buffer.concat(parts).toString('utf8');
        assert.equal(Buffer.byteLength(text), bytes);
        // Lines the interceptor refuses are parsed as usual.
        if (text.includes('"refused"')) return false;
        taken.push({ text, pieces: parts.length });
        return true;
      },
    });
    const line = (id: number | string, size: number): string => JSON.stringify({ jsonrpc: '2.0', id, result: { text: 'ü'.repeat(size) } });
    const sendInPieces = async (text: string, pieces: number): Promise<void> => {
      const bytes = Buffer.from(text);
      const step = Math.ceil(bytes.length / pieces);
      for (let at = 0; at < bytes.length; at += step) {
        peer.write(bytes.subarray(at, at + step));
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
    };
    await sendInPieces(`${line(1, 30_000)}\r\n`, 4);
    await sendInPieces(`${line('refused', 20_000)}\n`, 3);
    await sendInPieces(`${line(3, 100_000)}\n`, 5);
    peer.write('{"jsonrpc":"2.0","id":4,"result":{}}\n');
    await until(() => taken.length === 1 && received.length === 2 && fromUs.lines.length === 1, 'every line');
    assert.equal(taken[0]?.text, line(1, 30_000));
    assert.ok((taken[0]?.pieces ?? 0) > 1, 'read in pieces, handed over in pieces');
    assert.deepEqual(received.map((m) => (m as { id: unknown }).id), ['refused', 4]);
    const answer = JSON.parse(fromUs.lines[0] ?? '') as { id: unknown; error: { code: number } };
    assert.deepEqual([answer.id, answer.error.code], [3, -32600]);
    await transport.close();
    peer.destroy();
  });

  it('close() delivers everything written, then the end of the stream', async () => {
    const { peer, transport, fromUs } = await open();
    for (let i = 0; i < 200; i++) transport.post({ jsonrpc: '2.0', method: 'note', params: { i } });
    await transport.close();
    await fromUs.ended;
    assert.equal(fromUs.lines.length, 200);
    assert.equal(transport.post({ jsonrpc: '2.0', method: 'late' }), false);
    peer.destroy();
  });

  it('closes when the peer goes away, and writes after that fail without throwing', async () => {
    const { peer, transport } = await open();
    const closed = new Promise<void>((resolve) => (transport.onclose = resolve));
    peer.destroy();
    await closed;
    assert.equal(transport.post({ jsonrpc: '2.0', method: 'nobody' }), false);
    await transport.close();
  });

  it("ends a child's stdin when closed, so the child exits by itself", async () => {
    const upstream = new StdioUpstream({ command: process.execPath, args: ['-e', 'process.stdin.pipe(process.stdout)'] }, { logger, label: 'echo' });
    const transport = upstream.transport();
    const echoed = new Promise<JSONRPCMessage>((resolve) => (transport.onmessage = resolve));
    await transport.start();
    await transport.send({ jsonrpc: '2.0', id: 1, method: 'ping' });
    assert.deepEqual(await echoed, { jsonrpc: '2.0', id: 1, method: 'ping' });
    await transport.close();
    // Exit code 0, no signal: stdin's end reached the child, no SIGTERM was needed (a node child
    // without a handler dies of it).
    assert.deepEqual(await upstream.exited, { code: 0, signal: null });
  });

  it('reports a child that died instead of crashing on its broken stdin', async () => {
    const upstream = new StdioUpstream({ command: process.execPath, args: ['-e', 'process.exit(3)'] }, { logger, label: 'dies' });
    const transport = upstream.transport();
    const closed = new Promise<void>((resolve) => (transport.onclose = resolve));
    transport.onerror = () => undefined;
    await transport.start();
    await upstream.exited;
    for (let i = 0; i < 50; i++) transport.post({ jsonrpc: '2.0', id: i, method: 'ping' });
    await closed;
    assert.equal(transport.post({ jsonrpc: '2.0', id: 50, method: 'ping' }), false, 'a closed transport takes nothing more');
    await transport.close();
    assert.equal(upstream.hasExited, true);
  });

  it('stops reading a peer that does not read its answers, and reads again once it does', async () => {
    const { transport, ours, peer, received, fromUs } = await open({ pauseInputWhileCongested: true });
    peer.pause();
    // Every request is answered with 64 KiB: the answers back up long before the requests end.
    transport.onmessage = (m) => {
      received.push(m);
      transport.post({ jsonrpc: '2.0', id: (m as { id: number }).id, result: { pad: 'a'.repeat(64 * 1024) } });
    };
    const requests = 2000;
    const paused = new Promise<void>((resolve) => ours.once('pause', () => resolve()));
    for (let i = 0; i < requests; i++) peer.write(`{"jsonrpc":"2.0","id":${i},"method":"m"}\n`);
    await paused;
    assert.ok(received.length < requests, `read ${received.length} of ${requests} requests while nothing was read back`);
    peer.resume();
    await until(() => fromUs.lines.length === requests, 'every answer', 30_000);
    assert.equal(received.length, requests);
    await transport.close();
    peer.destroy();
  });

  it('closes with a reason when a peer leaves more than maxQueuedBytes unread', async () => {
    const { transport, peer } = await open({ maxQueuedBytes: 1024 * 1024 });
    peer.pause();
    const errors: string[] = [];
    transport.onerror = (error) => errors.push(error.message);
    const closed = new Promise<void>((resolve) => (transport.onclose = resolve));
    let written = 0;
    while (transport.post({ jsonrpc: '2.0', method: 'note', params: { pad: 'b'.repeat(16 * 1024) } })) written++;
    await closed;
    // The socket's own buffer takes some; the queue holds at most the bound and one message more.
    assert.ok(written * 16 * 1024 < 4 * 1024 * 1024, `${written} messages were taken`);
    assert.match(errors.join('\n'), /the peer is not reading: \d+ bytes of output queued \(limit 1048576\)/);
    peer.destroy();
  });
});
