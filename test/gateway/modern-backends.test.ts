// A 2025 client (SDK v1, through `mcp-tools run`) and a gateway whose backends speak 2026-07-28:
// one that speaks nothing else (`m`), one that serves both eras (`d`, which the gateway must find
// to be modern, not fall back to initialize with), and a share backend (`s`: a bridge of the
// first) and the dual-era one over streamable HTTP (`h`). All are our SDK v2 fixtures, one definition.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema, ResourceUpdatedNotificationSchema, ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { connectThroughTools, startHttpFront, waitFor, type RunningShare } from '../helpers/cli.js';
import { Client as V2Client, StreamableHTTPClientTransport as V2Http } from '@modelcontextprotocol/client';
import { callAndSeeStart, tapProgress, text } from '../helpers/mcp.js';
import type { ChildProcess } from 'node:child_process';
import { DUAL_ERA_FIXTURE as DUAL_ERA, MODERN_FIXTURE as MODERN, connectV2ThroughTools, startDualEraHttp } from '../helpers/era-fixtures.js';
import { LineClient } from '../helpers/modern.js';
import { ShareHome, stdioBackend } from '../helpers/share-home.js';

/** The capabilities a client needs for the fixture's `ask`. */
const ASKABLE = { capabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } } };

/** Gives the client answers to every kind of input `ask` requests, and counts them. */
function answerInput(client: Client): { asked: string[] } {
  const asked: string[] = [];
  client.setRequestHandler(ElicitRequestSchema, (request) => {
    asked.push(`elicitation: ${request.params.message}`);
    return { action: 'accept', content: { name: 'Grace' } };
  });
  client.setRequestHandler(ListRootsRequestSchema, () => {
    asked.push('roots');
    return { roots: [{ uri: 'file:///srv/root' }] };
  });
  client.setRequestHandler(CreateMessageRequestSchema, () => {
    asked.push('sampling');
    return { model: 'm', role: 'assistant', content: { type: 'text', text: 'hello from the client' } };
  });
  return { asked };
}

describe('mcp-gateway with 2026-07-28 backends, used by a 2025 client', () => {
  let home: ShareHome;
  let gateway: RunningShare;
  let client: Client;
  let transport: Transport;
  let asked: string[];
  let http: { proc: ChildProcess; url: string };
  const clients: Client[] = [];

  before(async () => {
    home = await ShareHome.create('gw-modern');
    const bridge = await home.startBridge([process.execPath, MODERN]);
    http = await startDualEraHttp();
    const onlyTools = '    prompts: { mode: allow, list: [] }\n    resources: { mode: allow, list: [] }\n';
    const config = `
aggregator:
  connection: { connect_timeout: 20s, call_timeout: 20s }
backends:
${stdioBackend('m', MODERN)}${stdioBackend('d', DUAL_ERA, [], onlyTools)}  - id: s
    transport: { type: zrok, share_token: ${bridge.token} }
${onlyTools}  - id: h
    transport: { type: http, endpoint: "${http.url}", allow_insecure: true }
${onlyTools}`;
    gateway = await home.startGateway(config);
    ({ client, transport } = await connectThroughTools(gateway.token, home.env, ASKABLE));
    clients.push(client);
    ({ asked } = answerInput(client));
  });

  after(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await home.cleanup();
    http.proc.kill('SIGTERM');
  });

  it('gives a 2025 client answers in its own revision: no resultType or server info, resource-not-found as -32002', async () => {
    const line = new LineClient(gateway.token, home.env, ['--no-handover']);
    try {
      line.send({ id: 'init', method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
      await line.answer('init');
      line.send({ method: 'notifications/initialized' });
      line.send({ id: 1, method: 'tools/call', params: { name: 'm_echo', arguments: { text: 'plain' } } });
      const result = (await line.answer(1))['result'] as Record<string, unknown>;
      assert.deepEqual(result, { content: [{ type: 'text', text: 'plain' }] });
      line.send({ id: 2, method: 'resources/read', params: { uri: 'modern://nowhere' } });
      const error = (await line.answer(2))['error'] as Record<string, unknown>;
      assert.equal(error['code'], -32002, JSON.stringify(error));
    } finally {
      line.proc.kill('SIGTERM');
    }
  });

  it('starts with all and lists their tools, prompts and resources', async () => {
    const tools = (await client.listTools()).tools.map((t) => t.name);
    for (const name of ['echo', 'era', 'ask', 'count', 'sleep']) {
      for (const backend of ['m', 'd', 's', 'h']) assert.ok(tools.includes(`${backend}_${name}`), `${backend}_${name}`);
    }
    assert.deepEqual((await client.listPrompts()).prompts.map((p) => p.name), ['m_greeting']);
    assert.deepEqual((await client.listResources()).resources.map((r) => r.uri), ['modern://info']);
    assert.match(client.getInstructions() ?? '', /A 2026-07-28 fixture/);
  });

  it('calls tools, gets prompts and reads resources, in the 2026-07-28 era on both', async () => {
    assert.equal(text(await client.callTool({ name: 'm_echo', arguments: { text: 'hi m' } })), 'hi m');
    assert.equal(text(await client.callTool({ name: 'd_echo', arguments: { text: 'hi d' } })), 'hi d');
    assert.equal(text(await client.callTool({ name: 'm_era', arguments: {} })), 'modern');
    assert.equal(text(await client.callTool({ name: 'd_era', arguments: {} })), 'modern', 'the dual-era backend was found to be modern');
    assert.equal(text(await client.callTool({ name: 's_era', arguments: {} })), 'modern', 'the share backend too');
    assert.equal(text(await client.callTool({ name: 'h_era', arguments: {} })), 'modern', 'and the HTTP one');
    const prompt = await client.getPrompt({ name: 'm_greeting', arguments: { name: 'Ada' } });
    assert.deepEqual(prompt.messages[0]?.content, { type: 'text', text: 'Hello, Ada!' });
    const read = await client.readResource({ uri: 'modern://info' });
    assert.equal((read.contents[0] as { text?: string }).text, 'served by the modern fixture');
  });

  it('sends an HTTP backend the Mcp-Param headers its tools declare, and leaves out a tool whose declaration is invalid', async () => {
    // Without Mcp-Param-Region (or with one that disagrees) the backend refuses the call with -32020.
    assert.equal(text(await client.callTool({ name: 'h_regional', arguments: { region: 'eu-west', n: 3 } })), 'region eu-west n 3');
    assert.equal(text(await client.callTool({ name: 'h_regional', arguments: { region: 'Zürich ' } })), 'region Zürich ', 'base64 for what a header cannot carry');
    const tools = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(!tools.includes('h_misdeclared'), 'a conforming HTTP client leaves it out');
    assert.ok(tools.includes('m_misdeclared'), 'over stdio there are no such headers: it stays');
  });

  for (const backend of ['m', 'd', 's', 'h']) {
    it(`turns input_required of '${backend}' into elicitation, roots and sampling requests to the client, then retries`, async () => {
      asked.length = 0;
      const result = await client.callTool({ name: `${backend}_ask`, arguments: {} });
      assert.equal(text(result), 'elicited: accept Grace; roots: file:///srv/root; sampled: hello from the client');
      assert.deepEqual([...asked].sort(), ['elicitation: Who are you?', 'roots', 'sampling']);
      assert.equal((result as { resultType?: string }).resultType, undefined, 'the final round, in the 2025 client’s revision');
    });
  }

  for (const backend of ['m', 'h']) {
    it(`delivers every progress notification of modern backend '${backend}'`, async () => {
      const { seen, restore } = tapProgress(transport);
      const result = await client.callTool({ name: `${backend}_count`, arguments: { steps: 4 } }, undefined, { onprogress: () => undefined });
      restore();
      assert.equal(text(result), 'counted 4');
      assert.deepEqual(seen.map((p) => [p.progress, p.total]), [
        [1, 4],
        [2, 4],
        [3, 4],
        [4, 4],
      ]);
    });
  }

  for (const backend of ['m', 'h']) {
    it(`forwards a client cancellation to modern backend '${backend}'`, async () => {
      const before = Number(text(await client.callTool({ name: `${backend}_cancellations`, arguments: {} })));
      const controller = new AbortController();
      const call = callAndSeeStart(client, { name: `${backend}_sleep`, arguments: { ms: 15_000 } }, { signal: controller.signal });
      await call.started;
      controller.abort('changed my mind');
      await assert.rejects(call.result);
      const counted = async (): Promise<boolean> => Number(text(await client.callTool({ name: `${backend}_cancellations`, arguments: {} }))) === before + 1;
      await waitFor(counted, 5_000, 'the cancellation at the backend');
    });
  }

  it('gives a modern backend the log level with each request instead of logging/setLevel', async () => {
    const logged: string[] = [];
    const tap = transport.onmessage;
    transport.onmessage = (message, extra) => {
      const m = message as { method?: string; params?: { data?: unknown } };
      if (m.method === 'notifications/message') logged.push(String(m.params?.data));
      tap?.(message, extra);
    };
    try {
      await client.setLoggingLevel('info');
      await client.callTool({ name: 'm_log', arguments: { text: 'x' } });
    } finally {
      transport.onmessage = tap;
    }
    // Sent before the result, so seen on the wire before it: the debug line was never sent.
    assert.deepEqual(logged, ['info: x']);
  });

  it('gives up on a backend that keeps asking for input, after a bounded number of rounds', async () => {
    await assert.rejects(client.callTool({ name: 'm_nag', arguments: {} }), /backend 'm' still asked for input after 16 rounds of tools\/call/);
  });

  it('answers a clear error when the client lacks the capability the backend needs', async () => {
    const bare = await connectThroughTools(gateway.token, home.env);
    clients.push(bare.client);
    // The backend hears the client's own capabilities in the envelope, so it refuses (-32021) before
    // the gateway would have to ("… did not declare the 'elicitation' capability").
    await assert.rejects(bare.client.callTool({ name: 'm_ask', arguments: { kinds: ['elicitation'] } }), /-32021.*do not declare the required capability|did not declare the 'elicitation'/);
    // It can still use what needs nothing of it.
    assert.equal(text(await bare.client.callTool({ name: 'm_echo', arguments: { text: 'still here' } })), 'still here');
  });

  it('serves an SDK v2 client in auto mode the same, through the handlers it registered', async () => {
    const v2 = await connectV2ThroughTools(gateway.token, home.env, 'auto');
    try {
      assert.equal(text(await v2.callTool({ name: 'm_ask', arguments: {} })), 'elicited: accept Grace; roots: file:///srv/root; sampled: hello from the client');
    } finally {
      await v2.close();
    }
  });

  it('withdraws its request to the client when the client cancels the call meanwhile', async () => {
    const second = await connectThroughTools(gateway.token, home.env, ASKABLE);
    clients.push(second.client);
    let asking!: () => void;
    const askedNow = new Promise<void>((resolve) => (asking = resolve));
    const withdrawn = new Promise<void>((resolve) => {
      second.client.setRequestHandler(ElicitRequestSchema, (_request, extra) => {
        asking();
        // Never answered: only the gateway withdrawing it (notifications/cancelled) ends it.
        return new Promise((_resolve, reject) => extra.signal.addEventListener('abort', () => (resolve(), reject(new Error('withdrawn')))));
      });
    });
    const controller = new AbortController();
    const call = second.client.callTool({ name: 'm_ask', arguments: { kinds: ['elicitation'] } }, undefined, { signal: controller.signal });
    await askedNow;
    controller.abort('no more');
    await assert.rejects(call);
    await withdrawn;
    assert.equal(text(await second.client.callTool({ name: 'm_echo', arguments: { text: 'after' } })), 'after');
  });
});

describe('mcp-gateway with a 2026-07-28 backend: the call timeout covers the rounds of input', () => {
  let home: ShareHome;

  before(async () => {
    home = await ShareHome.create('gw-modern-timeout');
  });

  after(async () => {
    await home.cleanup();
  });

  it('answers -32001 when the client does not answer within call_timeout, and withdraws the request', async () => {
    const gateway = await home.startGateway(`
aggregator:
  connection: { connect_timeout: 20s, call_timeout: 1s }
backends:
${stdioBackend('m', MODERN)}`);
    const { client } = await connectThroughTools(gateway.token, home.env, ASKABLE);
    try {
      const withdrawn = new Promise<void>((resolve) => {
        client.setRequestHandler(ElicitRequestSchema, (_request, extra) => new Promise((_resolve, reject) => extra.signal.addEventListener('abort', () => (resolve(), reject(new Error('withdrawn'))))));
      });
      const started = Date.now();
      await assert.rejects(client.callTool({ name: 'm_ask', arguments: { kinds: ['elicitation'] } }), /-32001|did not complete tools\/call/);
      assert.ok(Date.now() - started < 5_000, 'answered at call_timeout');
      await withdrawn;
    } finally {
      await client.close();
    }
  });
});

describe('mcp-gateway with 2026-07-28 backends: their notifications arrive through subscriptions/listen', () => {
  let home: ShareHome;
  let client: Client;
  let gatewayToken: string;

  before(async () => {
    home = await ShareHome.create('gw-modern-listen');
    const gateway = await home.startGateway(`
aggregator:
  connection: { connect_timeout: 20s, call_timeout: 20s }
backends:
${stdioBackend('m', MODERN)}${stdioBackend('d', DUAL_ERA)}`);
    gatewayToken = gateway.token;
    ({ client } = await connectThroughTools(gateway.token, home.env));
  });

  after(async () => {
    await client.close();
    await home.cleanup();
  });

  for (const backend of ['m', 'd']) {
    it(`hears '${backend}' change its tools on the listen the gateway keeps open, and tells the client`, async () => {
      const changed = new Promise<void>((resolve) => client.setNotificationHandler(ToolListChangedNotificationSchema, () => resolve()));
      assert.equal(text(await client.callTool({ name: `${backend}_grow`, arguments: { name: 'grown' } })), 'added grown');
      await changed;
      assert.ok((await client.listTools()).tools.some((t) => t.name === `${backend}_grown`), 'the new tool is listed');
      assert.equal(text(await client.callTool({ name: `${backend}_grown`, arguments: {} })), 'grown grown');
    });
  }

  it('turns resources/subscribe into a listen for that resource, and unsubscribe into its end', async () => {
    const updates: unknown[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => void updates.push(notification.params));
    await client.subscribeResource({ uri: 'modern://info' });
    // The backend writes the update before the answer to touch, and the gateway keeps that order.
    await client.callTool({ name: 'm_touch', arguments: { uri: 'modern://info' } });
    assert.deepEqual(updates, [{ uri: 'modern://info' }], 'the update arrives, without the listen’s subscription id');
    await client.callTool({ name: 'm_touch', arguments: { uri: 'modern://other' } });
    assert.equal(updates.length, 1, 'a resource nobody subscribed to stays quiet');
    await client.unsubscribeResource({ uri: 'modern://info' });
    await client.callTool({ name: 'm_touch', arguments: { uri: 'modern://info' } });
    assert.equal(updates.length, 1, 'no update after unsubscribe');
    await client.subscribeResource({ uri: 'modern://info' });
    await client.callTool({ name: 'm_touch', arguments: { uri: 'modern://info' } });
    assert.equal(updates.length, 2, 'subscribing again listens again');
  });

  it('checks the Mcp-Param headers of calls at its HTTP front, for the tools it listed there', async () => {
    const { cli, url } = await startHttpFront(gatewayToken, home.env);
    try {
      // The SDK v2 client sends the headers the tool declares on its own.
      const modern = new V2Client({ name: 'params', version: '2' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
      await modern.connect(new V2Http(url));
      assert.equal(text(await modern.callTool({ name: 'm_regional', arguments: { region: 'eu' } })), 'region eu');
      await modern.close();
      const envelope = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {}, 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' } };
      const post = (method: string, params: Record<string, unknown>, extra: Record<string, string> = {}): Promise<Response> =>
        fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json', 'mcp-protocol-version': '2026-07-28', 'mcp-method': method, ...(method === 'tools/call' ? { 'mcp-name': String(params['name']) } : {}), ...extra },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: { ...params, _meta: envelope } }),
        });
      const listed = await post('tools/list', {});
      assert.equal(listed.status, 200);
      const names = ((await listed.json()) as { result: { tools: { name: string }[] } }).result.tools.map((t) => t.name);
      assert.ok(names.includes('m_regional'));
      // Served over stdio it stays for 2025 clients (see above); a 2026-07-28 client here would leave it out.
      assert.ok(!names.includes('m_misdeclared'), 'the front leaves out a tool whose header declaration is invalid');
      const call = { name: 'm_regional', arguments: { region: 'eu' } };
      for (const [extra, why] of [[{}, /Mcp-Param-Region header is absent/], [{ 'mcp-param-region': 'us' }, /disagrees/]] as const) {
        const refused = await post('tools/call', call, extra);
        assert.equal(refused.status, 400);
        const error = ((await refused.json()) as { error: { code: number; message: string } }).error;
        assert.equal(error.code, -32020);
        assert.match(error.message, why);
      }
      const taken = await post('tools/call', call, { 'mcp-param-region': 'eu' });
      assert.equal(taken.status, 200);
      assert.equal(text(((await taken.json()) as { result: unknown }).result), 'region eu');
    } finally {
      cli.proc.kill('SIGTERM');
      await cli.exited;
    }
  });

  it('over HTTP, gives a log line to the one request open, and drops it while several are', async () => {
    const { cli, url } = await startHttpFront(gatewayToken, home.env);
    try {
      const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {}, 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' }, 'io.modelcontextprotocol/logLevel': 'debug' };
      const post = (id: string, name: string, args: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<Response> =>
        fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': name },
          body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args, _meta: { ...meta, ...extra } } }),
        });
      const logLines = (body: string): number => (body.match(/notifications\/message/g) ?? []).length;
      // A sleeps (its progress at the start says it is open at the backend) while B logs.
      const sleeping = await post('a', 'm_sleep', { ms: 1_500 }, { progressToken: 'a' });
      const reader = (sleeping.body as ReadableStream<Uint8Array>).getReader();
      let seenA = Buffer.from((await reader.read()).value ?? []).toString();
      assert.match(seenA, /notifications\/progress/);
      const logged = await (await post('b', 'm_log', { text: 'two open' })).text();
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) seenA += Buffer.from(chunk.value).toString();
      assert.match(seenA, /slept 1500/);
      assert.equal(logLines(seenA), 0, 'no log line of another request');
      assert.equal(logLines(logged), 0, 'while two were open, which one logged was not known');
      assert.equal(logLines(await (await post('c', 'm_log', { text: 'alone' })).text()), 2, 'alone, its log lines');
    } finally {
      cli.proc.kill('SIGTERM');
      await cli.exited;
    }
  });

  it('serves a 2026-07-28 client’s listen for a modern backend’s resource, end to end', async () => {
    const modern = await connectV2ThroughTools(gatewayToken, home.env, { pin: '2026-07-28' });
    try {
      const updates: unknown[] = [];
      modern.setNotificationHandler('notifications/resources/updated', (notification) => void updates.push(notification.params.uri));
      const subscription = await modern.listen({ resourceSubscriptions: ['modern://info'] });
      assert.deepEqual(subscription.honoredFilter, { resourceSubscriptions: ['modern://info'] });
      await modern.callTool({ name: 'm_touch', arguments: { uri: 'modern://info' } });
      assert.deepEqual(updates, ['modern://info']);
      await subscription.close();
      await modern.callTool({ name: 'm_touch', arguments: { uri: 'modern://info' } });
      assert.deepEqual(updates, ['modern://info'], 'nothing after the listen closed');
    } finally {
      await modern.close();
    }
  });
});
