import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { META } from '../../src/mcp/era.js';
import { ModernListens } from '../../src/mcp/listen.js';
import type { RawMessage, RawResponse, RequestOptions, ResponseCallback } from '../../src/mcp/upstream.js';

/** A listen as the connection would have sent it: its id, filter, options and where its end goes. */
interface Sent {
  id: number;
  notifications: Record<string, unknown>;
  options: RequestOptions;
  end: ResponseCallback;
}

/** ModernListens over a stand-in connection that records each listen (the server answers none by itself). */
function standIn(): { listens: ModernListens; sent: Sent[] } {
  const sent: Sent[] = [];
  const listens = new ModernListens((method, params, options, done) => {
    assert.equal(method, 'subscriptions/listen');
    const id = sent.length + 1;
    options.sentId = id;
    sent.push({ id, notifications: params['notifications'] as Record<string, unknown>, options, end: done });
    // Cancelling a request ends it, as the connection does.
    options.cancellation?.onAbort((reason) => done(new Error(`cancelled: ${String(reason)}`)));
  });
  return { listens, sent };
}

/** The server's acknowledgement of listen `id`, honouring `uris`. */
function acknowledged(id: number, uris: string[]): RawMessage & { method: string } {
  return { jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { _meta: { [META.subscriptionId]: id }, notifications: { resourceSubscriptions: uris } } };
}

/** Collects the answers a subscribe gets. */
function answers(): { done: ResponseCallback; got: (RawResponse | Error)[] } {
  const got: (RawResponse | Error)[] = [];
  return { done: (outcome) => void got.push(outcome as RawResponse | Error), got };
}

describe('ModernListens: resources/subscribe as listens to a 2026-07-28 backend', () => {
  it('answers a second subscribe to a URI with what the first hears, at the acknowledgement', () => {
    const { listens, sent } = standIn();
    const [first, second] = [answers(), answers()];
    listens.subscribe('file:///a', first.done);
    listens.subscribe('file:///a', second.done);
    assert.equal(sent.length, 1, 'one listen for the URI');
    assert.deepEqual([first.got, second.got], [[], []], 'nobody answered before the server acknowledged');
    assert.equal(listens.inbound(acknowledged(1, [])), undefined, 'the acknowledgement is not passed on');
    for (const { got } of [first, second]) {
      assert.equal(got.length, 1);
      assert.match((got[0] as RawResponse).error?.message ?? '', /does not deliver updates of file:\/\/\/a/);
    }
    assert.equal(sent[0]?.options.cancellation?.aborted, true, 'a listen not honoured is closed');
  });

  it('answers at once once the URI’s listen is acknowledged, and opens no second listen', () => {
    const { listens, sent } = standIn();
    const [first, later] = [answers(), answers()];
    listens.subscribe('file:///a', first.done);
    listens.inbound(acknowledged(1, ['file:///a']));
    assert.deepEqual(first.got, [{ jsonrpc: '2.0', result: {} }]);
    listens.subscribe('file:///a', later.done);
    assert.deepEqual(later.got, [{ jsonrpc: '2.0', result: {} }]);
    assert.equal(sent.length, 1);
  });

  it('opens a new listen for a subscribe right after an unsubscribe', () => {
    const { listens, sent } = standIn();
    const [first, unsubscribed, again] = [answers(), answers(), answers()];
    listens.subscribe('file:///a', first.done);
    listens.inbound(acknowledged(1, ['file:///a']));
    listens.unsubscribe('file:///a', unsubscribed.done);
    assert.equal(sent[0]?.options.cancellation?.aborted, true, 'the server is told');
    listens.subscribe('file:///a', again.done);
    assert.equal(sent.length, 2, 'a listen of its own');
    assert.deepEqual(again.got, [], 'answered at its own acknowledgement');
    listens.inbound(acknowledged(2, ['file:///a']));
    assert.deepEqual(again.got, [{ jsonrpc: '2.0', result: {} }]);
  });

  it('takes the subscription id off the updates it passes on', () => {
    const { listens } = standIn();
    listens.subscribe('file:///a', answers().done);
    const update: RawMessage & { method: string } = { jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'file:///a', _meta: { [META.subscriptionId]: 1 } } };
    assert.deepEqual(listens.inbound(update), { jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'file:///a' } });
  });
});
