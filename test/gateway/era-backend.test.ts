// The translation of input_required for a 2025 client, against a scripted 2026-07-28 backend: what
// the retry carries (the answers keyed as asked, requestState byte for byte) and the errors the
// gateway itself answers (a capability the client lacks, the client's own error).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { silentLogger } from '../../src/log.js';
import { type RawResponse, UpstreamConnection } from '../../src/mcp/upstream.js';
import { type InputClient, callWithInput } from '../../src/gateway/era-backend.js';

type Params = Record<string, unknown>;

/** A modern backend answering each tools/call with the next of `answers`; `calls` records what it got. */
async function scriptedModernBackend(answers: Params[]): Promise<{ connection: UpstreamConnection; calls: Params[] }> {
  const [ours, theirs] = InMemoryTransport.createLinkedPair();
  const calls: Params[] = [];
  theirs.onmessage = (message) => {
    const m = message as { id?: number; params?: Params };
    if (m.id === undefined) return;
    calls.push(m.params ?? {});
    void theirs.send({ jsonrpc: '2.0', id: m.id, result: answers.shift() ?? { content: [] } });
  };
  await theirs.start();
  const connection = new UpstreamConnection(ours, 'scripted', silentLogger());
  await connection.start({ onRequest: () => undefined, onNotification: () => undefined, onClose: () => undefined });
  connection.speakModern({ capabilities: {}, clientInfo: { name: 'c', version: '1' } });
  return { connection, calls };
}

/** A 2025 client with these capabilities, answering each method with `answer(method)`. */
function client(capabilities: Params, answer: (method: string) => RawResponse): InputClient & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    takesInputRequired: () => false,
    capabilities: () => capabilities,
    ask: (method, _params, reply) => {
      asked.push(method);
      queueMicrotask(() => reply(answer(method)));
      return () => undefined;
    },
  };
}

function call(connection: UpstreamConnection, input: InputClient, params: Params = { name: 't', arguments: {} }): Promise<RawResponse> {
  return new Promise((resolve, reject) =>
    callWithInput(connection, 'tools/call', params, { timeoutMs: 5_000 }, input, (outcome) => (outcome instanceof Error ? reject(outcome) : resolve(outcome as RawResponse))),
  );
}

const ROOTS = { method: 'roots/list' };
const ELICIT = { method: 'elicitation/create', params: { message: 'name?', requestedSchema: { type: 'object', properties: {} } } };

describe('input_required from a modern backend, for a 2025 client', () => {
  it('retries with the answers keyed as asked and requestState byte for byte, until the final result', async () => {
    const state = ' opaque ✓ "state"\n with spaces ';
    const { connection, calls } = await scriptedModernBackend([
      { resultType: 'input_required', inputRequests: { r: ROOTS, e: ELICIT }, requestState: state },
      { resultType: 'input_required', inputRequests: { again: ROOTS } },
      { content: [{ type: 'text', text: 'done' }], resultType: 'complete' },
    ]);
    const input = client({ roots: {}, elicitation: {} }, (method) => ({ result: method === 'roots/list' ? { roots: [{ uri: 'file:///x' }] } : { action: 'accept', content: {} } }));
    const final = await call(connection, input, { name: 't', arguments: { a: 1 }, _meta: { custom: 1 } });
    assert.deepEqual(final.result?.['content'], [{ type: 'text', text: 'done' }]);
    assert.deepEqual([...input.asked].sort(), ['elicitation/create', 'roots/list', 'roots/list']);
    assert.equal(calls.length, 3);
    assert.equal(calls[1]?.['requestState'], state);
    assert.deepEqual(calls[1]?.['inputResponses'], { r: { roots: [{ uri: 'file:///x' }] }, e: { action: 'accept', content: {} } });
    assert.deepEqual(calls[1]?.['arguments'], { a: 1 }, 'the original request again');
    assert.equal(calls[2]?.['requestState'], undefined, 'a round without state sends none');
    assert.equal((calls[2]?.['_meta'] as Params)['custom'], 1);
    await connection.close();
  });

  it('answers an error naming the capability the client did not declare, without asking it', async () => {
    const { connection } = await scriptedModernBackend([{ resultType: 'input_required', inputRequests: { e: ELICIT } }]);
    const input = client({ roots: {} }, () => ({ result: {} }));
    const final = await call(connection, input);
    assert.equal(final.error?.code, -32600);
    assert.match(final.error?.message ?? '', /backend 'scripted' needs elicitation\/create from the client, which did not declare the 'elicitation' capability/);
    assert.deepEqual(input.asked, []);
    assert.equal((final as { jsonrpc?: string }).jsonrpc, '2.0', 'a whole message, as the session passes it on');
    await connection.close();
  });

  it('answers an error when the client answers an input request with one', async () => {
    const { connection } = await scriptedModernBackend([{ resultType: 'input_required', inputRequests: { r: ROOTS } }]);
    const input = client({ roots: {} }, () => ({ error: { code: -32603, message: 'no roots here' } }));
    const final = await call(connection, input);
    assert.match(final.error?.message ?? '', /the client answered roots\/list \(asked by backend 'scripted'\) with an error: no roots here/);
    await connection.close();
  });

  it('passes input_required through untouched to a client that speaks 2026-07-28 itself', async () => {
    const asked = { resultType: 'input_required', inputRequests: { r: ROOTS }, requestState: 's' };
    const { connection } = await scriptedModernBackend([asked]);
    const input = client({ roots: {} }, () => ({ result: { roots: [] } }));
    const final = await call(connection, input, { name: 't', _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } });
    assert.deepEqual(final.result, asked);
    assert.deepEqual(input.asked, []);
    await connection.close();
  });
});
