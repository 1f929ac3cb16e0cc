// The continuation table of src/gateway/input-required.ts on its own, against a recording
// session port: bounded by max_concurrent_calls, expiring with call_timeout, states bound to
// their session and round.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModernSessionPort } from '../../src/gateway/era-client.js';
import { InputRequired } from '../../src/gateway/input-required.js';
import { mintState, verifyState } from '../../src/gateway/request-state.js';
import { createLogger } from '../../src/log.js';
import type { JsonRpcId } from '../../src/mcp/jsonrpc.js';
import type { RawResponse } from '../../src/mcp/upstream.js';
import { envelope } from '../helpers/modern.js';

type Obj = Record<string, unknown>;

/** A session port that records what the table does to its session. */
function recordingPort(options: { callTimeoutMs?: number; maxSuspended?: number } = {}) {
  const posted: Obj[] = [];
  const relayed = new Map<string, RawResponse>();
  const suspended = new Map<JsonRpcId, string>();
  let abandoned!: (key: string) => void;
  const abandon = new Promise<string>((resolve) => (abandoned = resolve));
  const port: ModernSessionPort = {
    id: 'session-a',
    logger: createLogger({ name: 'test', level: 'silent' }),
    callTimeoutMs: options.callTimeoutMs ?? 60_000,
    maxSuspended: options.maxSuspended ?? 64,
    maxSubscriptions: 1024,
    post: (message) => posted.push(message),
    answered: () => undefined,
    route: () => undefined,
    adopt: () => undefined,
    setLogLevel: () => undefined,
    self: () => ({}),
    suspend: (clientId, key) => (suspended.set(clientId, key), true),
    abandon: (key) => abandoned(key),
    answerRelayed: (relayId, response) => relayed.set(relayId, response),
  };
  return { port, posted, relayed, suspended, abandon };
}

const sampling = (id: string) => ({ jsonrpc: '2.0' as const, id, method: 'sampling/createMessage', params: { messages: [], maxTokens: 5 } });
const call = (clientId: JsonRpcId) => ({ clientId, method: 'tools/call', params: { name: 'ev_sample', arguments: {}, _meta: envelope() } });
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('input_required continuations', () => {
  it('asks once per turn, for every request the backend sent in it, under a signed state', async () => {
    const { port, posted, suspended } = recordingPort();
    const table = new InputRequired(port, 'gw~test~', () => undefined);
    table.serverRequest('gw-1', sampling('b1'), 7, call(7), () => undefined);
    const key = suspended.get(7) as string;
    table.serverRequest('gw-2', sampling('b2'), key, undefined, () => undefined);
    await turn();
    assert.equal(posted.length, 1);
    const result = posted[0]?.['result'] as { resultType: string; inputRequests: Obj; requestState: string };
    assert.equal(posted[0]?.['id'], 7);
    assert.equal(result.resultType, 'input_required');
    assert.deepEqual(Object.keys(result.inputRequests), ['gw-1', 'gw-2']);
    assert.deepEqual(verifyState(result.requestState), { session: 'session-a', call: key, round: 1, target: 'tools/call ev_sample' });
    table.dispose();
  });

  it('refuses what goes beyond max_concurrent_calls', async () => {
    const { port, relayed } = recordingPort({ maxSuspended: 1 });
    const table = new InputRequired(port, 'gw~test~', () => undefined);
    table.serverRequest('gw-1', sampling('b1'), 1, call(1), () => undefined);
    table.serverRequest('gw-2', sampling('b2'), 2, call(2), () => undefined);
    await turn();
    assert.equal(relayed.has('gw-1'), false);
    assert.match(String((relayed.get('gw-2')?.error as { message?: string } | undefined)?.message), /max_concurrent_calls/);
    table.dispose();
  });

  it('gives a call up after call_timeout without a retry: the backend hears it, the state is dead', async () => {
    const { port, posted, relayed, abandon } = recordingPort({ callTimeoutMs: 50 });
    const table = new InputRequired(port, 'gw~test~', () => undefined);
    table.serverRequest('gw-1', sampling('b1'), 3, call(3), () => undefined);
    await turn();
    const state = (posted[0]?.['result'] as { requestState: string }).requestState;
    const key = await abandon;
    assert.equal(table.owns(key), false);
    assert.ok(relayed.get('gw-1')?.error !== undefined, "the backend's request is answered with an error");
    const retried = table.retry(4, 'tools/call', { name: 'ev_sample', requestState: state, inputResponses: {} }, { version: '2026-07-28', capabilities: {}, clientInfo: undefined, logLevel: undefined });
    assert.equal(retried, true);
    assert.equal((posted.at(-1)?.['error'] as { code: number }).code, -32602);
  });

  it("does not take a state minted for another session, nor one that is not ours", () => {
    const { port, posted } = recordingPort();
    const table = new InputRequired(port, 'gw~test~', () => undefined);
    const foreign = mintState({ session: 'session-b', call: 'gw~test~input-1', round: 1, target: 'tools/call ev_sample' });
    assert.equal(table.retry(1, 'tools/call', { name: 'ev_sample', requestState: foreign }, { version: '2026-07-28', capabilities: {}, clientInfo: undefined, logLevel: undefined }), true);
    assert.equal((posted.at(-1)?.['error'] as { code: number }).code, -32602);
    // A backend's own state (2026-07-28 backends mint theirs) passes on untouched.
    assert.equal(table.retry(2, 'tools/call', { name: 'ev_sample', requestState: 'opaque-backend-state' }, { version: '2026-07-28', capabilities: {}, clientInfo: undefined, logLevel: undefined }), false);
  });
});
