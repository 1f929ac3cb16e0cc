import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RunningCli, type RunningShare, startHttpFront } from '../helpers/cli.js';
import { LineClient, envelope } from '../helpers/modern.js';
import { DYNAMIC_FIXTURE, ShareHome, stdioBackend } from '../helpers/share-home.js';

type Obj = Record<string, unknown>;

/**
 * What one MCP 2026-07-28 client may send cannot reach into another's requests or the gateway's
 * own, nor make the gateway do unbounded work: ids, progress tokens and cancellations over the
 * HTTP front (where all such clients share one gateway session), the gateway's internal ids in a
 * stdio session, listens naming many resources, log levels.
 */
describe('mcp-gateway: 2026-07-28 clients kept apart, and bounded', () => {
  let home: ShareHome;
  let gateway: RunningShare;
  let http: { cli: RunningCli; url: URL };
  const lines: LineClient[] = [];

  before(async () => {
    home = await ShareHome.create('modern-isolation');
    gateway = await home.startGateway(`aggregator:\n  connection: { call_timeout: 20s }\nbackends:\n${stdioBackend('d', DYNAMIC_FIXTURE, ['--resources'])}`);
    http = await startHttpFront(gateway.token, home.env);
  });

  after(async () => {
    for (const line of lines) line.proc.kill('SIGTERM');
    http.cli.proc.kill('SIGTERM');
    await http.cli.exited;
    await home.cleanup();
  });

  const line = (): LineClient => {
    const client = new LineClient(gateway.token, home.env, ['--no-handover']);
    lines.push(client);
    return client;
  };

  /** POSTs one 2026-07-28 request to the HTTP front; the response as it comes. */
  const post = (id: unknown, method: string, params: Obj, meta: Obj = {}): Promise<Response> =>
    fetch(http.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': method,
        ...(typeof params['name'] === 'string' ? { 'mcp-name': params['name'] } : {}),
      },
      body: JSON.stringify({ jsonrpc: '2.0', ...(id === undefined ? {} : { id }), method, params: { ...params, _meta: { ...envelope(), ...meta } } }),
    });

  /** The JSON-RPC messages of a response (one JSON body, or SSE events). */
  const messages = async (response: Response): Promise<Obj[]> => {
    const body = await response.text();
    if (!(response.headers.get('content-type') ?? '').includes('text/event-stream')) return [JSON.parse(body) as Obj];
    return body
      .split('\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => JSON.parse(l.slice(6)) as Obj);
  };

  it('over HTTP, a cancellation one client posts does not reach another client’s request with the same id', async () => {
    const sleeping = post(7, 'tools/call', { name: 'd_sleep', arguments: { ms: 1_500 } });
    const other = await messages(await post(7, 'tools/call', { name: 'd_echo', arguments: { text: 'mine' } }));
    assert.equal(((other[0]?.['result'] as Obj)['content'] as { text: string }[])[0]?.text, 'mine');
    const cancel = await post(undefined, 'notifications/cancelled', { requestId: 7, reason: 'done with mine' });
    assert.equal(cancel.status, 202);
    const slept = await messages(await sleeping);
    assert.equal(((slept.at(-1)?.['result'] as Obj)['content'] as { text: string }[])[0]?.text, 'slept 1500', JSON.stringify(slept));
  });

  it('over HTTP, each client hears the progress of its own request under its own token', async () => {
    const [a, b] = await Promise.all([
      post('a', 'tools/call', { name: 'd_sleep', arguments: { ms: 300 } }, { progressToken: 'p' }).then(messages),
      post('b', 'tools/call', { name: 'd_sleep', arguments: { ms: 300 } }, { progressToken: 'p' }).then(messages),
    ]);
    for (const [id, got] of [['a', a], ['b', b]] as const) {
      const progress = got.filter((m) => m['method'] === 'notifications/progress');
      assert.equal(progress.length, 1, `${id}: ${JSON.stringify(got)}`);
      assert.equal((progress[0]?.['params'] as Obj)['progressToken'], 'p');
      assert.equal(got.at(-1)?.['id'], id);
    }
  });

  it('refuses what stdio refuses over HTTP too: an id that is null or an object, a message without a method', async () => {
    for (const id of [null, { nested: 1 }]) {
      const response = await post(id, 'tools/call', { name: 'd_echo', arguments: { text: 'x' } });
      assert.equal(response.status, 400);
      const body = (await response.json()) as { id: unknown; error: { code: number } };
      assert.deepEqual([body.id, body.error.code], [null, -32600]);
    }
  });

  it('refuses a second request under an id still in flight, and answers the first in its revision', async () => {
    const client = line();
    client.send({ id: 'dup', method: 'tools/call', params: { name: 'd_sleep', arguments: { ms: 500 }, _meta: envelope() } });
    client.send({ id: 'dup', method: 'tools/call', params: { name: 'd_echo', arguments: { text: 'second' }, _meta: envelope() } });
    const refused = await client.next((m) => m['id'] === 'dup' && m['error'] !== undefined);
    assert.equal((refused['error'] as Obj)['code'], -32600);
    const answered = await client.next((m) => m['id'] === 'dup' && m['result'] !== undefined);
    assert.equal((answered['result'] as Obj)['resultType'], 'complete');
    assert.equal(((answered['result'] as Obj)['content'] as { text: string }[])[0]?.text, 'slept 500');
  });

  it('refuses a request whose id is one the gateway uses for a call waiting for input', async () => {
    const client = line();
    const meta = envelope('2026-07-28', { sampling: {} });
    client.send({ id: 1, method: 'tools/call', params: { name: 'd_ask', arguments: { text: 'q' }, _meta: meta } });
    const asked = (await client.answer(1))['result'] as { resultType: string; requestState: string; inputRequests: Obj };
    assert.equal(asked.resultType, 'input_required');
    // The state names the call it continues (it is signed, not secret).
    const claims = JSON.parse(Buffer.from(asked.requestState.split('.')[1] as string, 'base64url').toString('utf8')) as unknown[];
    const key = String(claims[1]);
    client.send({ id: key, method: 'tools/call', params: { name: 'd_echo', arguments: { text: 'x' }, _meta: meta } });
    assert.equal(((await client.answer(key))['error'] as Obj)['code'], -32600);
    const [relayId] = Object.keys(asked.inputRequests);
    const inputResponses = { [relayId as string]: { role: 'assistant', content: { type: 'text', text: 'sampled' }, model: 'm' } };
    client.send({ id: 2, method: 'tools/call', params: { name: 'd_ask', arguments: { text: 'q' }, inputResponses, requestState: asked.requestState, _meta: meta } });
    const done = (await client.answer(2))['result'] as { content: { text: string }[] };
    assert.equal(done.content[0]?.text, 'sampled', 'the call continues, its answer unmixed');
  });

  it('refuses a listen that names more resources than a session may subscribe to, without stalling others', async () => {
    const client = line();
    const uris = Array.from({ length: 1_025 }, (_, i) => `dyn://note/${i}`);
    // Repeats count once.
    client.send({ id: 'ok', method: 'subscriptions/listen', params: { _meta: envelope(), notifications: { resourceSubscriptions: ['dyn://note', 'dyn://note'] } } });
    const ack = await client.next((m) => m['method'] === 'notifications/subscriptions/acknowledged');
    assert.deepEqual((ack['params'] as Obj)['notifications'], { resourceSubscriptions: ['dyn://note'] });
    client.send({ id: 'many', method: 'subscriptions/listen', params: { _meta: envelope(), notifications: { resourceSubscriptions: uris } } });
    const refused = (await client.answer('many'))['error'] as Obj;
    assert.equal(refused['code'], -32602);
    assert.match(String(refused['message']), /too many resource subscriptions in this session \(at most 1024\)/);
    client.send({ id: 'echo', method: 'tools/call', params: { name: 'd_echo', arguments: { text: 'still here' }, _meta: envelope() } });
    assert.equal((((await client.answer('echo'))['result'] as Obj)['content'] as { text: string }[])[0]?.text, 'still here');
  });

  it('refuses a log level MCP does not have, from either era, and keeps serving', async () => {
    const client = line();
    client.send({ id: 1, method: 'tools/call', params: { name: 'd_echo', arguments: { text: 'x' }, _meta: { ...envelope(), 'io.modelcontextprotocol/logLevel': 'verbose' } } });
    const modern = (await client.answer(1))['error'] as Obj;
    assert.equal(modern['code'], -32602);
    assert.match(String(modern['message']), /logLevel must be one of debug, info/);

    const legacy = line();
    legacy.send({ id: 'init', method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
    await legacy.answer('init');
    legacy.send({ method: 'notifications/initialized' });
    legacy.send({ id: 1, method: 'logging/setLevel', params: { level: 'verbose' } });
    assert.equal(((await legacy.answer(1))['error'] as Obj)['code'], -32602);
    legacy.send({ id: 2, method: 'tools/call', params: { name: 'd_echo', arguments: { text: 'fine' } } });
    assert.equal((((await legacy.answer(2))['result'] as Obj)['content'] as { text: string }[])[0]?.text, 'fine');
  });
});
