// A shared backend (one process for every client) must not leak one session's traffic into
// another: its server→client requests go to the session that caused them or are refused, and its
// notifications reach only the sessions they concern.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CreateMessageRequestSchema, LoggingMessageNotificationSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { connectThroughTools, waitFor, type RunningShare } from '../helpers/cli.js';
import { text } from '../helpers/mcp.js';
import { DYNAMIC_FIXTURE, ShareHome, stdioBackend } from '../helpers/share-home.js';

/** A client of the gateway that records what reaches it. */
interface Observed {
  client: Client;
  /** The texts of sampling requests it was asked. */
  asked: string[];
  /** The data of log messages it received. */
  logs: string[];
  /** URIs of resource updates it received. */
  updates: string[];
}

async function observe(token: string, env: NodeJS.ProcessEnv, name: string): Promise<Observed> {
  const { client } = await connectThroughTools(token, env, { capabilities: { sampling: {} } });
  const seen: Observed = { client, asked: [], logs: [], updates: [] };
  client.setRequestHandler(CreateMessageRequestSchema, async (request, extra) => {
    const content = request.params.messages[0]?.content;
    const asked = content !== undefined && 'text' in content ? String(content.text) : '?';
    seen.asked.push(asked);
    if (asked === 'never answered') {
      // Ends only when the backend cancels its request (notifications/cancelled reaching us).
      await new Promise((resolve) => extra.signal.addEventListener('abort', resolve));
      seen.asked.push('cancelled by the backend');
    }
    return { model: 'm', role: 'assistant', content: { type: 'text', text: `answer from ${name}` } };
  });
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void seen.logs.push(String(n.params.data)));
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void seen.updates.push(n.params.uri));
  return seen;
}

/** Starts a long `sleep` on `who` and resolves once the backend is in it (its progress 0). */
async function startSleeping(who: Observed): Promise<{ done: Promise<unknown>; stop: () => void }> {
  const abort = new AbortController();
  let inSleep!: () => void;
  const started = new Promise<void>((resolve) => (inSleep = resolve));
  const done = who.client.callTool({ name: 'dyn_sleep', arguments: { ms: 60_000 } }, undefined, { signal: abort.signal, onprogress: () => inSleep() }).catch((error: unknown) => error);
  await started;
  return { done, stop: () => abort.abort('test done') };
}

describe('mcp-gateway: a shared backend keeps sessions apart', () => {
  let home: ShareHome;
  let gateway: RunningShare;
  let a: Observed;
  let b: Observed;
  let c: Observed;

  before(async () => {
    home = await ShareHome.create('shared-iso');
    gateway = await home.startGateway(`backends:\n${stdioBackend('dyn', DYNAMIC_FIXTURE, ['--resources'], '    isolation: shared\n')}`, { args: ['--log-level', 'debug'] });
    [a, b, c] = await Promise.all([observe(gateway.token, home.env, 'A'), observe(gateway.token, home.env, 'B'), observe(gateway.token, home.env, 'C')]);
  });

  after(async () => {
    await Promise.allSettled([a, b, c].map((o) => o?.client.close()));
    await home.cleanup();
  });

  it('sends a sampling request to the only session calling the backend', async () => {
    const result = await a.client.callTool({ name: 'dyn_ask', arguments: { text: 'A-private-1' } });
    assert.equal(text(result), 'answer from A');
    assert.deepEqual(a.asked, ['A-private-1']);
    assert.deepEqual([b.asked, c.asked], [[], []]);
  });

  it('refuses, never guesses, a sampling request while two sessions call the backend', async () => {
    const sleeper = await startSleeping(b);
    try {
      const result = await a.client.callTool({ name: 'dyn_ask', arguments: { text: 'A-private-2', afterSleeper: true } });
      assert.equal(result.isError, true);
      assert.match(text(result), /cannot tell which client/);
      assert.deepEqual(b.asked, [], 'B must never see A’s request');
      assert.ok(!a.asked.includes('A-private-2'));
      await waitFor(() => /a shared backend asked for a client, but which one is not known/.test(gateway.stderr()), 10_000, 'the refusal logged');
    } finally {
      sleeper.stop();
      await sleeper.done;
    }
  });

  it('routes a request naming the call’s progress token to that call’s session, others calling too', async () => {
    const sleeper = await startSleeping(b);
    try {
      const result = await a.client.callTool({ name: 'dyn_ask', arguments: { text: 'A-private-3', afterSleeper: true, relate: true } }, undefined, { onprogress: () => undefined });
      assert.equal(text(result), 'answer from A');
      assert.ok(a.asked.includes('A-private-3'));
      assert.deepEqual(b.asked, []);
    } finally {
      sleeper.stop();
      await sleeper.done;
    }
  });

  it('passes a backend’s cancellation of its request on under the id the client knows', async () => {
    const result = await a.client.callTool({ name: 'dyn_ask', arguments: { text: 'never answered', giveUpMs: 200 } });
    assert.equal(result.isError, true);
    await waitFor(() => a.asked.includes('cancelled by the backend'), 10_000, 'the client’s handler to be cancelled');
  });

  it('delivers a log message to the session whose call it came during, and to no idle one', async () => {
    assert.equal(text(await a.client.callTool({ name: 'dyn_log', arguments: { text: 'A-PASSWORD-123' } })), 'logged');
    assert.deepEqual(a.logs, ['A-PASSWORD-123']);
    // C's own call comes after A's on the same backend: had A's message been broadcast, it would
    // have reached C before this one.
    await c.client.callTool({ name: 'dyn_log', arguments: { text: 'C-own' } });
    assert.deepEqual(c.logs, ['C-own']);
    assert.deepEqual(b.logs, []);
  });

  it('drops (and counts) a log message while two sessions call the backend', async () => {
    const sleeper = await startSleeping(b);
    try {
      await a.client.callTool({ name: 'dyn_log', arguments: { text: 'A-SECRET-2' } });
    } finally {
      sleeper.stop();
      await sleeper.done;
    }
    await c.client.callTool({ name: 'dyn_log', arguments: { text: 'C-again' } });
    assert.ok(![...a.logs, ...b.logs, ...c.logs].includes('A-SECRET-2'));
    assert.deepEqual(c.logs, ['C-own', 'C-again']);
    await waitFor(() => /"method":"notifications\/message".*notification of a shared backend dropped/.test(gateway.stderr()), 10_000, 'the drop logged');
  });

  it('sends resource updates only to the sessions subscribed to that resource', async () => {
    const uri = 'dyn://note';
    await a.client.subscribeResource({ uri });
    const updated = new Promise<void>((resolve) => a.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => (a.updates.push(n.params.uri), resolve())));
    // C causes the update; its answer comes after the notification, so had it been broadcast C
    // would hold it by then.
    assert.equal(text(await c.client.callTool({ name: 'dyn_touch', arguments: { uri } })), 'touched');
    await updated;
    assert.deepEqual(a.updates, [uri]);
    await b.client.ping();
    assert.deepEqual([b.updates, c.updates], [[], []]);
    await a.client.unsubscribeResource({ uri });
    await c.client.callTool({ name: 'dyn_touch', arguments: { uri } });
    await a.client.ping();
    assert.deepEqual(a.updates, [uri], 'no update after unsubscribing');
  });

  it('keeps the shared backend subscribed while any session is: one unsubscribing does not end the others’ updates', async () => {
    const uri = 'dyn://note';
    const heard = { a: 0, b: 0 };
    a.client.setNotificationHandler(ResourceUpdatedNotificationSchema, () => void heard.a++);
    b.client.setNotificationHandler(ResourceUpdatedNotificationSchema, () => void heard.b++);
    await a.client.subscribeResource({ uri });
    await b.client.subscribeResource({ uri });
    await a.client.unsubscribeResource({ uri });
    // The backend announces updates only of what its connection is subscribed to (as servers do).
    await c.client.callTool({ name: 'dyn_touch', arguments: { uri } });
    await Promise.all([a.client.ping(), b.client.ping()]);
    assert.deepEqual(heard, { a: 0, b: 1 });
    await b.client.unsubscribeResource({ uri });
    await c.client.callTool({ name: 'dyn_touch', arguments: { uri } });
    await b.client.ping();
    assert.deepEqual(heard, { a: 0, b: 1 }, 'the last one out unsubscribes at the backend');
  });
});
