// MCP 2026-07-28 clients of the gateway (src/gateway/era-client.ts, input-required.ts,
// src/mcp/modern-http.ts): the SDK v2 client, pinned to 2026-07-28 and dual-era (`auto`), over
// every front — `mcp-tools run` handed over and relayed, `mcp-tools http`, the gateway's own HTTP
// front on the share — to a gateway over server-everything (a 2025 server) and our dynamic
// fixture. One suite runs on every front (a front that cannot run here says why).
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Client, Transport } from '@modelcontextprotocol/client';
import { ProtocolError, StreamableHTTPClientTransport, isInputRequiredResult } from '@modelcontextprotocol/client';
import type { Agent } from 'undici';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { LocalShareProvider } from '../../src/share/local/index.js';
import { FD_PASSING_SKIP } from '../helpers/addons.js';
import { connectThroughTools, startHttpFront, type RunningCli, type RunningShare } from '../helpers/cli.js';
import { text } from '../helpers/mcp.js';
import { type EraMode, LineClient, ROOT, SAMPLED, envelope, modernClient, runTransport, shareHttpTransport } from '../helpers/modern.js';
import { ShareHome, dynamicBackend, everythingBackend, stdioBackend } from '../helpers/share-home.js';

const ERA_SERVER = fileURLToPath(new URL('../fixtures/era-client-server.js', import.meta.url));

/** A way to reach the gateway. */
interface Front {
  readonly name: string;
  readonly skip?: string | undefined;
  transport(): Transport;
}

describe('mcp-gateway: MCP 2026-07-28 clients', () => {
  let home: ShareHome;
  let gateway: RunningShare;
  let httpFront: RunningCli;
  let httpUrl: URL;
  const agents: Agent[] = [];
  const lineClients: LineClient[] = [];

  before(async () => {
    home = await ShareHome.create('modern');
    const aggregator = 'aggregator:\n  connection: { connect_timeout: 30s, call_timeout: 20s }\n';
    gateway = await home.startGateway(`${aggregator}backends:\n${everythingBackend('ev')}${dynamicBackend('dyn')}${stdioBackend('era', ERA_SERVER)}`);
    ({ cli: httpFront, url: httpUrl } = await startHttpFront(gateway.token, home.env));
  });

  after(async () => {
    for (const line of lineClients) line.proc.kill('SIGTERM');
    httpFront.proc.kill('SIGTERM');
    await httpFront.exited;
    await Promise.allSettled(agents.map((agent) => agent.close()));
    await home.cleanup();
  });

  const fronts: Front[] = [
    { name: 'mcp-tools run (stdio handed over)', skip: FD_PASSING_SKIP, transport: () => runTransport(gateway.token, home.env) },
    { name: 'mcp-tools run --no-handover (relayed)', transport: () => runTransport(gateway.token, home.env, ['--no-handover']) },
    {
      name: 'mcp-tools http',
      transport: () => new StreamableHTTPClientTransport(httpUrl),
    },
    {
      name: "the gateway's HTTP front on the share",
      transport: () => {
        const { transport, agent } = shareHttpTransport(new LocalShareProvider(home.dir).socketPath(gateway.token));
        agents.push(agent);
        return transport;
      },
    },
  ];

  for (const front of fronts) {
    for (const mode of ['pin', 'auto'] as EraMode[]) {
      describe(`${front.name}, SDK v2 ${mode === 'pin' ? 'pinned to 2026-07-28' : "in 'auto' mode"}`, { skip: front.skip }, () => {
        let client: Client;

        before(async () => {
          client = modernClient(mode);
          await client.connect(front.transport());
          // In 'auto' mode a 2025-only gateway would do too (the client falls back): everything below is to be modern.
          assert.equal(client.getNegotiatedProtocolVersion(), '2026-07-28');
        });

        after(async () => {
          await client.close();
        });

        it('speaks 2026-07-28, learnt through server/discover', () => {
          assert.equal(client.getNegotiatedProtocolVersion(), '2026-07-28');
          const discovered = client.getDiscoverResult();
          assert.ok(discovered?.supportedVersions.includes('2026-07-28'));
          assert.ok(discovered?.supportedVersions.includes('2025-11-25'), 'the gateway says it speaks 2025-11-25 too');
          assert.ok(client.getServerCapabilities()?.tools !== undefined);
        });

        it('lists and uses tools, prompts and resources', async () => {
          const tools = (await client.listTools()).tools.map((t) => t.name);
          assert.ok(tools.includes('ev_echo') && tools.includes('dyn_echo'), tools.join(' '));
          assert.equal(text(await client.callTool({ name: 'ev_echo', arguments: { message: 'modern' } })), 'Echo: modern');
          const prompts = (await client.listPrompts()).prompts.map((p) => p.name);
          assert.ok(prompts.includes('ev_simple-prompt'));
          const prompt = await client.getPrompt({ name: 'ev_simple-prompt' });
          assert.ok(prompt.messages.length > 0);
          const resources = (await client.listResources()).resources;
          assert.ok(resources.length > 0);
          const first = resources[0]?.uri as string;
          const read = await client.readResource({ uri: first });
          assert.equal(read.contents[0]?.uri, first);
          await assert.rejects(client.readResource({ uri: 'demo://resource/none/such' }), (error: unknown) => error instanceof ProtocolError && error.code === -32602);
        });

        it('delivers progress', async () => {
          const seen: { progress: number; total?: number | undefined }[] = [];
          await client.callTool({ name: 'ev_trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } }, { onprogress: (p) => seen.push(p) });
          // The backend's own (the SDK adds one of its own when it fulfils an input_required, e.g. roots).
          const backend = seen.filter((p) => p.total === 3).map((p) => p.progress);
          assert.ok(backend.length > 0 && backend.every((p, i) => i === 0 || p > (backend[i - 1] as number)), `progress: ${JSON.stringify(seen)}`);
        });

        it('cancels a call at the backend', async () => {
          const before = Number(text(await client.callTool({ name: 'dyn_cancellations', arguments: {} })));
          const abort = new AbortController();
          let started!: () => void;
          const running = new Promise<void>((resolve) => (started = resolve));
          const call = client.callTool({ name: 'dyn_sleep', arguments: { ms: 60_000 } }, { signal: abort.signal, onprogress: () => started() });
          await running;
          abort.abort('no longer needed');
          await assert.rejects(call);
          // The backend hears the cancellation: poll its counter (each poll a call of its own).
          let after = before;
          for (let i = 0; i < 100 && after === before; i++) after = Number(text(await client.callTool({ name: 'dyn_cancellations', arguments: {} })));
          assert.equal(after, before + 1);
        });

        it("answers a 2025 backend's sampling request through input_required", async () => {
          const result = await client.callTool({ name: 'ev_trigger-sampling-request', arguments: { prompt: 'hello' } });
          assert.match(text(result), new RegExp(SAMPLED));
        });

        it("answers a 2025 backend's elicitation through input_required", async () => {
          const result = await client.callTool({ name: 'ev_trigger-elicitation-request', arguments: {} });
          assert.match(text(result), /teal/);
        });

        it("answers a 2025 backend's roots request through input_required", async () => {
          const result = await client.callTool({ name: 'ev_get-roots-list', arguments: {} });
          assert.match(text(result), new RegExp(ROOT.uri));
        });

        it('hears list changes through subscriptions/listen', async () => {
          let changed!: () => void;
          const heard = new Promise<void>((resolve) => (changed = resolve));
          client.setNotificationHandler('notifications/tools/list_changed', () => changed());
          const subscription = await client.listen({ toolsListChanged: true });
          const name = `added_${mode}_${front.name.replace(/\W+/g, '_')}`;
          await client.callTool({ name: 'dyn_add_tool', arguments: { name } });
          await heard;
          await subscription.close();
          assert.ok((await client.listTools()).tools.some((t) => t.name === `dyn_${name}`));
        });
      });
    }
  }

  it('refuses a tampered or replayed requestState; the genuine one completes the call', async () => {
    // Without roots: server-everything asks for them 350 ms after it starts, which would make the
    // rounds of input this test counts depend on timing.
    const client = modernClient('pin', { autoFulfill: false, roots: false });
    await client.connect(runTransport(gateway.token, home.env, ['--no-handover']));
    try {
      const params = { name: 'ev_trigger-sampling-request', arguments: { prompt: 'manual' } };
      const first = await client.request({ method: 'tools/call', params }, { allowInputRequired: true });
      assert.ok(isInputRequiredResult(first), 'the gateway answers input_required');
      const state = first.requestState as string;
      const [key, request] = Object.entries(first.inputRequests ?? {})[0] as [string, { method: string }];
      assert.equal(request.method, 'sampling/createMessage');
      const inputResponses = { [key]: { role: 'assistant', content: { type: 'text', text: SAMPLED }, model: 'm' } };
      const flipped = state.slice(0, -2) + (state.at(-2) === 'A' ? 'B' : 'A') + state.at(-1);
      const forged = state.replace(/^mcpgw1\.[^.]+/, `mcpgw1.${Buffer.from(JSON.stringify(['x', 'input-1', 1, 'tools/call ev_trigger-sampling-request'])).toString('base64url')}`);
      for (const bad of [flipped, forged]) {
        await assert.rejects(
          client.request({ method: 'tools/call', params: { ...params, inputResponses, requestState: bad } }, { allowInputRequired: true }),
          (error: unknown) => error instanceof ProtocolError && error.code === -32602 && /requestState/.test(error.message),
        );
      }
      // The same state for another tool is refused too: it is bound to the call.
      await assert.rejects(
        client.request({ method: 'tools/call', params: { name: 'ev_echo', arguments: { message: 'x' }, inputResponses, requestState: state } }, { allowInputRequired: true }),
        (error: unknown) => error instanceof ProtocolError && error.code === -32602,
      );
      const done = await client.request({ method: 'tools/call', params: { ...params, inputResponses, requestState: state } }, { allowInputRequired: true });
      assert.ok(!isInputRequiredResult(done));
      assert.match(text(done), new RegExp(SAMPLED));
      // Replayed after use: the call it continued is over.
      await assert.rejects(
        client.request({ method: 'tools/call', params: { ...params, inputResponses, requestState: state } }, { allowInputRequired: true }),
        (error: unknown) => error instanceof ProtocolError && error.code === -32602,
      );
    } finally {
      await client.close();
    }
  });

  it("turns a 2025 backend's -32042 (URL elicitation required) into input_required, and runs the call again on the retry", async () => {
    const client = modernClient('pin');
    const opened: string[] = [];
    client.setRequestHandler('elicitation/create', (request) => {
      opened.push(String((request.params as { url?: string }).url));
      return { action: 'accept' };
    });
    await client.connect(runTransport(gateway.token, home.env, ['--no-handover']));
    try {
      // dyn is a 2025 server (SDK v1): -32042 is its way to ask for a URL to be opened.
      assert.equal(text(await client.callTool({ name: 'dyn_authorize', arguments: {} })), 'authorized');
      assert.deepEqual(opened, ['https://example.org/authorize']);
    } finally {
      await client.close();
    }
  });

  it('answers a revision it does not serve with -32022 and the ones it does', async () => {
    const line = new LineClient(gateway.token, home.env, ['--no-handover']);
    lineClients.push(line);
    line.send({ id: 1, method: 'tools/list', params: { _meta: envelope('2099-01-01') } });
    const answer = await line.answer(1);
    const error = answer['error'] as { code: number; data: { supported: string[]; requested: string } };
    assert.equal(error.code, -32022);
    assert.equal(error.data.requested, '2099-01-01');
    assert.ok(error.data.supported.includes('2026-07-28') && error.data.supported.includes('2025-11-25'));
    // Modern requests need no initialize; removed methods are "not found" for a modern client.
    line.send({ id: 2, method: 'ping', params: { _meta: envelope() } });
    assert.equal((((await line.answer(2))['error'] as { code: number }).code), -32601);
    line.send({ id: 3, method: 'tools/list', params: { _meta: envelope() } });
    const listed = (await line.answer(3))['result'] as { tools: unknown[]; ttlMs: number; cacheScope: string; resultType: string };
    assert.ok(listed.tools.length > 0);
    assert.deepEqual([listed.resultType, listed.ttlMs, listed.cacheScope], ['complete', 0, 'private']);
  });

  it("takes the log level from a request's envelope to the backends, and passes their log lines", async () => {
    const line = new LineClient(gateway.token, home.env, ['--no-handover']);
    lineClients.push(line);
    const meta = { ...envelope(), 'io.modelcontextprotocol/logLevel': 'debug' };
    line.send({ id: 1, method: 'tools/call', params: { name: 'ev_toggle-simulated-logging', arguments: {}, _meta: meta } });
    // server-everything logs once at once, at a random level: debug lets every level through.
    const logged = await line.next((m) => m['method'] === 'notifications/message');
    assert.match(String((logged['params'] as { data?: unknown }).data), /-level message|level-message/);
    assert.ok((await line.answer(1))['result'] !== undefined);
  });

  it('ends a relayed mcp-tools run promptly when stdin closes with a subscription open', async () => {
    const line = new LineClient(gateway.token, home.env, ['--no-handover']);
    lineClients.push(line);
    line.send({ id: 'l1', method: 'subscriptions/listen', params: { _meta: envelope(), notifications: { toolsListChanged: true } } });
    const ack = await line.next((m) => m['method'] === 'notifications/subscriptions/acknowledged');
    assert.deepEqual(ack['params'], { notifications: { toolsListChanged: true }, _meta: { 'io.modelcontextprotocol/subscriptionId': 'l1' } });
    const exited = new Promise<number | null>((resolve) => line.proc.once('exit', resolve));
    line.proc.stdin?.end();
    assert.equal(await exited, 0);
  });

  it('serves a 2025 client unchanged on the same token at the same time', async () => {
    const modern = modernClient('pin');
    await modern.connect(runTransport(gateway.token, home.env));
    const { client: legacy } = await connectThroughTools(gateway.token, home.env, { capabilities: { sampling: {} } });
    try {
      const asked: string[] = [];
      legacy.setRequestHandler(CreateMessageRequestSchema, (request) => {
        asked.push(request.method); // a real server→client request, as in 2025-11-25
        return { model: 'm', role: 'assistant', content: { type: 'text', text: 'sampled by the 2025 client' } };
      });
      assert.equal(legacy.getServerVersion()?.name, 'mcp-gateway');
      const [old, now] = await Promise.all([
        legacy.callTool({ name: 'ev_trigger-sampling-request', arguments: { prompt: 'old' } }),
        modern.callTool({ name: 'ev_trigger-sampling-request', arguments: { prompt: 'new' } }),
      ]);
      assert.match(text(old), /sampled by the 2025 client/);
      assert.match(text(now), new RegExp(SAMPLED));
      assert.deepEqual(asked, ['sampling/createMessage']);
      assert.equal(modern.getNegotiatedProtocolVersion(), '2026-07-28');
    } finally {
      await Promise.allSettled([legacy.close(), modern.close()]);
    }
  });

  it('checks the HTTP headers of a modern request against its body (-32020, 400)', async () => {
    const body = { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'ev_echo', arguments: { message: 'x' }, _meta: envelope() } };
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call' };
    const wrong = await fetch(httpUrl, { method: 'POST', headers: { ...headers, 'mcp-name': 'ev_other' }, body: JSON.stringify(body) });
    assert.equal(wrong.status, 400);
    assert.equal(((await wrong.json()) as { error: { code: number } }).error.code, -32020);
    const right = await fetch(httpUrl, { method: 'POST', headers: { ...headers, 'mcp-name': 'ev_echo' }, body: JSON.stringify(body) });
    assert.equal(right.status, 200);
    assert.equal(right.headers.get('mcp-session-id'), null, 'no session for a modern request');
    assert.equal(text(((await right.json()) as { result: unknown }).result), 'Echo: x');
  });
});
