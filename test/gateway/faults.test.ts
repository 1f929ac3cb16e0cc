import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { connectThroughTools, descendants, isAlive, startCli, waitFor, type RunningShare } from '../helpers/cli.js';
import { callAndSeeStart, text } from '../helpers/mcp.js';
import { ShareHome, dynamicBackend, startHttpFixture } from '../helpers/share-home.js';

describe('faults: crashing, restarting and failing backends', () => {
  let home: ShareHome;
  let client: Client;
  let fixture: { proc: ChildProcess; url: string };
  let listChanged = 0;

  before(async () => {
    home = await ShareHome.create('faults');
    fixture = await startHttpFixture();
    const web = `  - id: web\n    transport: { type: http, endpoint: "${fixture.url}", allow_insecure: true, protocol: streamable }\n`;
    const gateway = await home.startGateway(`backends:\n${dynamicBackend('dyn')}${dynamicBackend('flaky')}${web}`);
    ({ client } = await connectThroughTools(gateway.token, home.env));
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void listChanged++);
  });

  after(async () => {
    await client.close();
    await home.cleanup();
    fixture.proc.kill('SIGTERM');
  });

  it('answers a call whose backend crashes with an error naming it within 1 s, then restarts it', async () => {
    assert.equal(text(await client.callTool({ name: 'dyn_echo', arguments: { text: 'before' } })), 'before');
    const started = Date.now();
    await assert.rejects(client.callTool({ name: 'dyn_crash', arguments: {} }), /backend 'dyn' closed the connection/);
    assert.ok(Date.now() - started < 1_000, `error after ${Date.now() - started} ms`);
    assert.equal(text(await client.callTool({ name: 'dyn_echo', arguments: { text: 'after' } })), 'after');
  });

  it('marks a backend that crashes 3 times in 30 s failed, fails fast, and announces its recovery', async () => {
    for (let i = 0; i < 3; i++) await assert.rejects(client.callTool({ name: 'flaky_crash', arguments: {} }));
    const before = listChanged;
    const started = Date.now();
    await assert.rejects(client.callTool({ name: 'flaky_echo', arguments: { text: 'x' } }), /backend 'flaky' is unavailable \(crashed 3 times in 30 s\)/);
    assert.ok(Date.now() - started < 500, 'fails fast, without trying the backend');
    await waitFor(() => listChanged > before, 10_000, 'list_changed announcing recovery');
    assert.equal(text(await client.callTool({ name: 'flaky_echo', arguments: { text: 'back' } })), 'back');
  });

  it('re-initializes an HTTP backend that restarted and forgot the session', async () => {
    assert.match(text(await client.callTool({ name: 'web_test_simple_text', arguments: {} })), /simple text/i);
    const port = Number(new URL(fixture.url).port);
    fixture.proc.kill('SIGTERM');
    await new Promise((resolve) => fixture.proc.once('exit', resolve));
    fixture = await startHttpFixture(port);
    assert.match(text(await client.callTool({ name: 'web_test_simple_text', arguments: {} })), /simple text/i);
  });
});

describe('lifecycle: shutdown, client exit and SIGKILL', () => {
  let home: ShareHome;
  let env: NodeJS.ProcessEnv;
  let config: { file: string };

  before(async () => {
    home = await ShareHome.create('life');
    env = home.env;
    config = { file: await home.writeConfig(`share_token: life-gw\nshutdown_grace: 5s\nbackends:\n${dynamicBackend('dyn')}`) };
  });
  after(() => home.cleanup());

  it('reaps a departed client’s backends within 5 s', async () => {
    const gateway = await home.startGateway(config);
    try {
      const pid = gateway.proc.pid as number;
      await waitFor(() => descendants(pid).length === 0, 10_000, 'discovery to finish');
      const { client } = await connectThroughTools(gateway.token, env);
      await client.callTool({ name: 'dyn_echo', arguments: { text: 'x' } });
      const children = descendants(pid);
      assert.equal(children.length, 1);
      const left = Date.now();
      await client.close();
      await waitFor(() => children.every((c) => !isAlive(c)), 5_000, 'backend reaped');
      assert.ok(Date.now() - left < 5_000);
    } finally {
      await gateway.stop();
    }
  });

  it('lets a call in flight finish on SIGTERM, then exits 0 with no process left', async () => {
    const gateway = await home.startGateway(config);
    const pid = gateway.proc.pid as number;
    const { client } = await connectThroughTools(gateway.token, env);
    await client.callTool({ name: 'dyn_echo', arguments: { text: 'warm' } });
    const children = descendants(pid);
    const call = callAndSeeStart(client, { name: 'dyn_sleep', arguments: { ms: 1_500 } });
    await call.started; // the backend is sleeping: the call is in flight when the signal comes
    gateway.proc.kill('SIGTERM');
    assert.equal(text(await call.result), 'slept 1500');
    assert.equal((await gateway.exited).code, 0);
    await waitFor(() => children.every((c) => !isAlive(c)), 5_000, 'backends to exit');
    await client.close().catch(() => undefined);
  });

  it('after SIGKILL its stdio children exit on stdin EOF and the next start reclaims the socket', async () => {
    const gateway = await home.startGateway(config);
    const pid = gateway.proc.pid as number;
    const { client } = await connectThroughTools(gateway.token, env);
    await client.callTool({ name: 'dyn_echo', arguments: { text: 'x' } });
    const children = descendants(pid);
    assert.equal(children.length, 1);
    gateway.proc.kill('SIGKILL');
    await gateway.exited;
    await waitFor(() => children.every((c) => !isAlive(c)), 5_000, 'orphaned backend to exit on stdin EOF');
    await client.close().catch(() => undefined);
    const again = await home.startGateway(config);
    try {
      assert.equal(again.token, 'life-gw');
      const second = await connectThroughTools(again.token, env);
      assert.equal(text(await second.client.callTool({ name: 'dyn_echo', arguments: { text: 'reborn' } })), 'reborn');
      await second.client.close();
    } finally {
      await again.stop();
    }
  });
});

describe('limits and bad input through mcp-tools run', () => {
  let home: ShareHome;
  let gateway: RunningShare;

  before(async () => {
    home = await ShareHome.create('limits');
    gateway = await home.startGateway(`max_message_bytes: 4096\nmax_concurrent_calls: 2\nbackends:\n${dynamicBackend('dyn')}`);
  });
  after(() => home.cleanup());

  /** Sends raw lines through `mcp-tools run` and collects the answers by id. */
  async function exchange(lines: string[], expectIds: (string | number | null)[]): Promise<Map<string | number | null, { error?: { code: number; message: string }; result?: unknown }[]>> {
    const cli = startCli('mcp-tools', ['run', gateway.token], home.env);
    cli.proc.stdin?.write(lines.map((l) => `${l}\n`).join(''));
    const answers = new Map<string | number | null, { error?: { code: number; message: string }; result?: unknown }[]>();
    await waitFor(() => {
      answers.clear();
      for (const line of cli.stdoutLines) {
        const m = JSON.parse(line) as { id?: string | number | null; error?: { code: number; message: string }; result?: unknown };
        if (m.id === undefined) continue;
        answers.set(m.id, [...(answers.get(m.id) ?? []), m]);
      }
      // An id listed n times needs n answers.
      return expectIds.every((id) => (answers.get(id)?.length ?? 0) >= expectIds.filter((e) => e === id).length);
    }, 20_000, `answers to ${JSON.stringify(expectIds)}`);
    cli.proc.stdin?.end();
    await cli.exited;
    assert.equal(cli.proc.exitCode, 0);
    return answers;
  }

  const init = JSON.stringify({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
  const call = (id: string | number, name: string, args: object): string => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });

  it('answers bad JSON-RPC with the spec’s errors and keeps the session', async () => {
    const hugeId = 'i'.repeat(2000);
    const answers = await exchange(
      [
        call('early', 'dyn_echo', { text: 'too soon' }),
        init,
        '{"jsonrpc":"1.0","id":"v1","method":"ping"}',
        '[{"jsonrpc":"2.0","id":"b1","method":"ping"}]',
        '{"jsonrpc":"2.0","id":"np","method":"tools/list","params":[1,2]}',
        '{"jsonrpc":"2.0","id":"um","method":"no/such/method"}',
        `{"jsonrpc":"2.0","id":"${hugeId}","method":"ping"}`,
        call('ok', 'dyn_echo', { text: 'still fine' }),
      ],
      ['early', 'init', 'v1', null, 'np', 'um', hugeId, 'ok'],
    );
    assert.equal(answers.get('early')?.[0]?.error?.code, -32600);
    assert.equal(answers.get('v1')?.[0]?.error?.code, -32600);
    assert.match(answers.get(null)?.[0]?.error?.message ?? '', /batch/);
    assert.equal(answers.get('np')?.[0]?.error?.code, -32602);
    assert.equal(answers.get('um')?.[0]?.error?.code, -32601);
    assert.deepEqual(answers.get(hugeId)?.[0]?.result, {});
    assert.deepEqual(answers.get('ok')?.[0]?.result, { content: [{ type: 'text', text: 'still fine' }] });
  });

  it('refuses an oversized message with a JSON-RPC error and keeps the session', async () => {
    // The id comes last here, as the SDK serialises requests: the error still finds its sender.
    const big = JSON.stringify({ method: 'tools/call', params: { name: 'dyn_echo', arguments: { text: 'x'.repeat(10_000) } }, jsonrpc: '2.0', id: 'big' });
    const answers = await exchange([init, big, call('small', 'dyn_echo', { text: 'fits' })], ['big', 'small']);
    assert.match(answers.get('big')?.[0]?.error?.message ?? '', /exceeds 4096 bytes/);
    assert.deepEqual(answers.get('small')?.[0]?.result, { content: [{ type: 'text', text: 'fits' }] });
  });

  it('answers both of two requests that share an id while both are running', async () => {
    // A client bug, but each request still gets its own answer and the session still ends.
    const answers = await exchange([init, call('dup', 'dyn_sleep', { ms: 300 }), call('dup', 'dyn_echo', { text: 'second' })], ['init', 'dup', 'dup']);
    const texts = (answers.get('dup') ?? []).map((m) => JSON.stringify(m.result));
    assert.equal(texts.length, 2);
    assert.ok(texts.some((t) => t.includes('second')), texts.join(' '));
  });

  it('refuses calls beyond max_concurrent_calls per session', async () => {
    const answers = await exchange([init, call('s1', 'dyn_sleep', { ms: 400 }), call('s2', 'dyn_sleep', { ms: 400 }), call('s3', 'dyn_sleep', { ms: 400 })], ['s1', 's2', 's3']);
    assert.match(answers.get('s3')?.[0]?.error?.message ?? '', /max_concurrent_calls: 2/);
    assert.equal(answers.get('s1')?.[0]?.error, undefined);
    assert.equal(answers.get('s2')?.[0]?.error, undefined);
  });
});
