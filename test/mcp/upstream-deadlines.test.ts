import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { silentLogger } from '../../src/log.js';
import { UpstreamConnection } from '../../src/mcp/upstream.js';

/** An UpstreamConnection to a scripted backend that answers only when told to. */
async function scriptedBackend(): Promise<{ connection: UpstreamConnection; received: JSONRPCMessage[]; answer: (id: unknown) => Promise<void> }> {
  const [ours, theirs] = InMemoryTransport.createLinkedPair();
  const received: JSONRPCMessage[] = [];
  theirs.onmessage = (message) => received.push(message);
  await theirs.start();
  const connection = new UpstreamConnection(ours, 'scripted', silentLogger());
  await connection.start({ onRequest: () => undefined, onNotification: () => undefined, onClose: () => undefined });
  const answer = (id: unknown): Promise<void> => theirs.send({ jsonrpc: '2.0', id, result: { answered: id } } as JSONRPCMessage);
  return { connection, received, answer };
}

/** Calls `method` and resolves with what it ended in, and when (ms after the call). */
function timedCall(connection: UpstreamConnection, method: string, timeoutMs: number): Promise<{ outcome: unknown; afterMs: number }> {
  const started = performance.now();
  return new Promise((resolve) => connection.call(method, {}, { timeoutMs }, (outcome) => resolve({ outcome, afterMs: performance.now() - started })));
}

const idOf = (received: JSONRPCMessage[], method: string): unknown => (received.find((m) => 'method' in m && m.method === method) as { id?: unknown } | undefined)?.id;

describe('UpstreamConnection deadlines (one timer for all pending requests)', () => {
  it('times out a short request made after a long one at its own deadline, and still delivers the long one', async () => {
    const { connection, received, answer } = await scriptedBackend();
    const long = timedCall(connection, 'long', 5_000);
    const short = timedCall(connection, 'short', 100);
    const shortEnd = await short;
    assert.ok(shortEnd.outcome instanceof Error, 'the short one timed out');
    assert.match(shortEnd.outcome.message, /did not answer short within 100 ms/);
    assert.ok(shortEnd.afterMs >= 99 && shortEnd.afterMs < 2_000, `timed out after ${shortEnd.afterMs} ms`);
    const cancelled = received.find((m) => 'method' in m && m.method === 'notifications/cancelled') as { params?: { requestId?: unknown; reason?: unknown } } | undefined;
    assert.deepEqual(cancelled?.params, { requestId: idOf(received, 'short'), reason: 'timeout' }, 'the backend is told');
    await answer(idOf(received, 'long'));
    const longEnd = await long;
    assert.deepEqual((longEnd.outcome as { result?: unknown }).result, { answered: idOf(received, 'long') });
    await connection.close();
  });

  it('times out each of several pending requests in turn (the timer is set again after each sweep)', async () => {
    const { connection } = await scriptedBackend();
    // The second request is made once the first has timed out: the sweep that ended it must set
    // the timer again for the second.
    const a = await timedCall(connection, 'first', 80);
    const b = await timedCall(connection, 'second', 80);
    assert.ok(a.outcome instanceof Error && b.outcome instanceof Error);
    assert.match(a.outcome.message, /first within 80 ms/);
    assert.match(b.outcome.message, /second within 80 ms/);
    assert.ok(b.afterMs >= 79 && b.afterMs < 2_000, `second timed out after ${b.afterMs} ms`);
    await connection.close();
  });

  it('never times out a request answered in time, and drops the late answer of one that timed out', async () => {
    const { connection, received, answer } = await scriptedBackend();
    const answered = Array.from({ length: 20 }, (_, i) => timedCall(connection, `quick${i}`, 150));
    const late = timedCall(connection, 'late', 150);
    for (let i = 0; i < 20; i++) await answer(idOf(received, `quick${i}`));
    for (const call of await Promise.all(answered)) assert.ok(!(call.outcome instanceof Error), 'answered in time');
    const lateEnd = await late;
    assert.ok(lateEnd.outcome instanceof Error && /late within 150 ms/.test(lateEnd.outcome.message));
    await answer(idOf(received, 'late')); // dropped: must not throw or call back twice
    const after = await timedCall(connection, 'after', 100);
    assert.ok(after.outcome instanceof Error && /after within 100 ms/.test(after.outcome.message), 'later requests still time out');
    await connection.close();
  });
});
