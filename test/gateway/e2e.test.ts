import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { EVERYTHING_BIN, connectThroughTools, descendants, isAlive, runCli, waitFor, type RunningShare } from '../helpers/cli.js';
import { tapProgress, text } from '../helpers/mcp.js';
import { ShareHome, dynamicBackend, startHttpFixture } from '../helpers/share-home.js';

/** When a process started (clock ticks since boot, /proc/PID/stat field 22). */
const startTicks = (pid: number): number => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[19]);

describe('mcp-gateway end to end: two stdio backends and one streamable HTTP backend', () => {
  let home: ShareHome;
  let env: NodeJS.ProcessEnv;
  let gateway: RunningShare;
  let fixture: { proc: ChildProcess; url: string };
  let client: Client;
  let transport: Transport;
  const clients: Client[] = [];

  before(async () => {
    home = await ShareHome.create('gw', { E2E_SECRET_VALUE: 'from-the-environment' });
    env = home.env;
    fixture = await startHttpFixture();
    const config = `
aggregator:
  name: e2e-gateway
  version: "9.9.9"
  separator: "_"
  connection: { connect_timeout: 20s, call_timeout: 20s }
backends:
  - id: ev1
    transport:
      type: stdio
      command: "${process.execPath}"
      args: ["${EVERYTHING_BIN}", "stdio"]
    tools: { mode: deny, list: ["trigger-*", "get-env", "gzip-*", "simulate-*"] }
  - id: ev2
    transport:
      type: stdio
      command: "${process.execPath}"
      args: ["${EVERYTHING_BIN}", "stdio"]
      env: { E2E_SECRET: "\${E2E_SECRET_VALUE}" }
    tools: { list: ["echo", "get-env", "trigger-sampling-request", "trigger-long-running-operation", "trigger-elicitation-request", "get-roots-list"] }
    resources: { mode: deny, list: ["*"] }
    prompts: { mode: allow, list: [] }
  - id: conf
    transport: { type: http, endpoint: "${fixture.url}", allow_insecure: true }
`;
    gateway = await home.startGateway(config);
    ({ client, transport } = await connectThroughTools(gateway.token, env, { capabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } } }));
    client.setRequestHandler(ElicitRequestSchema, () => ({ action: 'accept', content: { name: 'Grace Hopper' } }));
    client.setRequestHandler(ListRootsRequestSchema, () => ({ roots: [{ uri: 'file:///srv/gateway-root', name: 'gw root' }] }));
    clients.push(client);
    client.setRequestHandler(CreateMessageRequestSchema, () => ({ model: 'm', role: 'assistant', content: { type: 'text', text: 'answer for client A' } }));
  });

  after(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await home.cleanup();
    fixture.proc.kill('SIGTERM');
  });

  it('presents itself as the aggregator with the union of capabilities', () => {
    assert.deepEqual(client.getServerVersion(), { name: 'e2e-gateway', version: '9.9.9' });
    const caps = client.getServerCapabilities() ?? {};
    for (const key of ['tools', 'prompts', 'resources', 'logging', 'completions']) assert.ok(key in caps, `capability ${key}`);
    assert.match(client.getInstructions() ?? '', /Everything Server/);
  });

  it('namespaces tools and applies deny and allow globs at listing', async () => {
    const names = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes('ev1_echo'));
    assert.ok(names.includes('ev1_get-sum'));
    assert.ok(!names.some((n) => n.startsWith('ev1_trigger-')), 'deny glob');
    assert.ok(!names.includes('ev1_get-env'), 'deny exact');
    assert.deepEqual(names.filter((n) => n.startsWith('ev2_')).sort(), [
      'ev2_echo',
      'ev2_get-env',
      'ev2_get-roots-list',
      'ev2_trigger-elicitation-request',
      'ev2_trigger-long-running-operation',
      'ev2_trigger-sampling-request',
    ]);
    assert.ok(names.includes('conf_test_simple_text'));
  });

  it('refuses a filtered tool by name exactly like an unknown one', async () => {
    const filtered = await client.callTool({ name: 'ev1_trigger-long-running-operation', arguments: {} }).catch((e: Error) => e);
    const unknown = await client.callTool({ name: 'ev1_no-such-tool', arguments: {} }).catch((e: Error) => e);
    assert.ok(filtered instanceof Error && unknown instanceof Error);
    assert.equal(filtered.message.replace('trigger-long-running-operation', 'X'), unknown.message.replace('no-such-tool', 'X'));
  });

  it('routes calls to the right backend, including HTTP', async () => {
    assert.equal(text(await client.callTool({ name: 'ev1_echo', arguments: { message: 'one' } })), 'Echo: one');
    assert.equal(text(await client.callTool({ name: 'ev2_echo', arguments: { message: 'two' } })), 'Echo: two');
    assert.match(text(await client.callTool({ name: 'conf_test_simple_text', arguments: {} })), /simple text/i);
  });

  it('expands ${VAR} into a backend environment', async () => {
    assert.match(text(await client.callTool({ name: 'ev2_get-env', arguments: {} })), /from-the-environment/);
  });

  it('serves resources and prompts routed to their backends', async () => {
    const { resources } = await client.listResources();
    assert.ok(resources.some((r) => r.uri.startsWith('demo://')), 'ev1 resources');
    assert.ok(resources.some((r) => r.uri.startsWith('test://')), 'conf resources');
    const demo = resources.find((r) => r.uri.startsWith('demo://'));
    assert.equal((await client.readResource({ uri: demo?.uri ?? '' })).contents[0]?.uri, demo?.uri);
    assert.match(JSON.stringify((await client.readResource({ uri: 'demo://resource/dynamic/text/3' })).contents), /3/);
    const prompts = (await client.listPrompts()).prompts.map((p) => p.name);
    assert.ok(prompts.includes('ev1_args-prompt'));
    assert.ok(!prompts.some((p) => p.startsWith('ev2_')), 'empty allow list exposes no prompts');
    assert.match(JSON.stringify((await client.getPrompt({ name: 'ev1_args-prompt', arguments: { city: 'Porto' } })).messages), /Porto/);
    const completion = await client.complete({ ref: { type: 'ref/prompt', name: 'ev1_completable-prompt' }, argument: { name: 'department', value: 'Eng' } });
    assert.ok(completion.completion.values.includes('Engineering'));
  });

  it('relays elicitation and roots requests to the client', async () => {
    assert.match(text(await client.callTool({ name: 'ev2_trigger-elicitation-request', arguments: {} })), /Grace Hopper/);
    assert.match(text(await client.callTool({ name: 'ev2_get-roots-list', arguments: {} })), /gateway-root/);
  });

  it('fans logging/setLevel out and forwards log messages at the level set, none below it', async () => {
    const received: { level: string; data: string }[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      received.push({ level: n.params.level, data: String(n.params.data) });
    });
    // conf (our fixture over HTTP) logs three info lines per call of this tool, before its result.
    const fromConf = (): string[] => received.filter((m) => m.data.startsWith('Tool ')).map((m) => `${m.level} ${m.data}`);
    await client.setLoggingLevel('warning');
    await client.callTool({ name: 'conf_test_tool_with_logging', arguments: {} });
    await client.setLoggingLevel('info');
    await client.callTool({ name: 'conf_test_tool_with_logging', arguments: {} });
    await waitFor(() => fromConf().length >= 3, 10_000, 'the log lines of the call at info');
    // Lines of the first call would have come before these, on the same stream: there are none.
    assert.deepEqual(fromConf(), ['info Tool execution started', 'info Tool processing data', 'info Tool execution completed']);
    // The stdio backends are told too: ev1 logs at random levels, all of them at debug.
    await client.setLoggingLevel('debug');
    await client.callTool({ name: 'ev1_toggle-simulated-logging', arguments: {} });
    await waitFor(() => received.some((m) => /level.message/i.test(m.data)), 10_000, 'a simulated log message from ev1');
    await client.callTool({ name: 'ev1_toggle-simulated-logging', arguments: {} });
  });

  it('delivers every progress notification through the gateway', async () => {
    const { seen, restore } = tapProgress(transport);
    await client.callTool({ name: 'ev2_trigger-long-running-operation', arguments: { duration: 0.4, steps: 4 } }, undefined, { onprogress: () => undefined });
    restore();
    assert.deepEqual(seen.map((p) => p.progress), [1, 2, 3, 4]);
  });

  it('answers each client’s sampling from that client, with two clients interleaved', async () => {
    const second = await connectThroughTools(gateway.token, env, { capabilities: { sampling: {} } });
    clients.push(second.client);
    second.client.setRequestHandler(CreateMessageRequestSchema, async () => {
      // Not a wait for anything: B answers late on purpose, so that A's second request is
      // answered while B's is still open and the answers cross.
      await new Promise((resolve) => setTimeout(resolve, 50));
      return { model: 'm', role: 'assistant', content: { type: 'text', text: 'answer for client B' } };
    });
    const results = await Promise.all([
      client.callTool({ name: 'ev2_trigger-sampling-request', arguments: { prompt: 'a' } }),
      second.client.callTool({ name: 'ev2_trigger-sampling-request', arguments: { prompt: 'b' } }),
      client.callTool({ name: 'ev2_trigger-sampling-request', arguments: { prompt: 'a2' } }),
    ]);
    assert.match(text(results[0]), /answer for client A/);
    assert.match(text(results[1]), /answer for client B/);
    assert.match(text(results[2]), /answer for client A/);
    assert.doesNotMatch(text(results[1]), /client A/);
  });
});

describe('mcp-gateway warm backends', () => {
  it('keeps a process started for the next session, initialized with that client, and stops it with the gateway', async () => {
    const home = await ShareHome.create('warm');
    const env = home.env;
    const gateway = await home.startGateway(`backends:\n${dynamicBackend('dyn', '    warm: 1\n')}`);
    const pid = gateway.proc.pid as number;
    let running: number[];
    try {
      const { client, transport } = await connectThroughTools(gateway.token, env);
      const [servedBy, clientName] = text(await client.callTool({ name: 'dyn_whoami', arguments: {} })).split(' ');
      // A process started before this client's mcp-tools was: the warm one (discovery's may still
      // be closing when the token is out, so counting processes cannot tell them apart).
      assert.ok(startTicks(Number(servedBy)) < startTicks(transport.pid as number), 'the session took the warm process');
      assert.equal(clientName, 'e2e-test', 'initialized with the client’s own initialize');
      // Its stderr is logged as the session's, though it was started before the session.
      await client.callTool({ name: 'dyn_say_on_stderr', arguments: { text: 'warm-marker' } });
      await waitFor(() => gateway.stderr().includes('warm-marker'), 5_000, 'the stderr line in the log');
      const said = gateway.stderr().split('\n').find((line) => line.includes('warm-marker')) ?? '';
      assert.match(said, /"session":"[0-9a-f]+"/);
      await waitFor(() => descendants(pid).length === 2, 10_000, 'the pool topped up behind it');
      await client.close();
      await waitFor(() => descendants(pid).length === 1, 10_000, 'the session’s process reaped, the warm one kept');
    } finally {
      // Read before the gateway exits: its orphans would no longer be its descendants.
      running = descendants(pid);
      await gateway.stop();
      await home.cleanup();
    }
    assert.equal(running.length, 1, 'the refilled warm process was running');
    assert.deepEqual(running.filter(isAlive), [], 'no process left behind');
  });

  it('refuses warm on a shared or non-stdio backend', async () => {
    const home = await ShareHome.create('warm-bad');
    try {
      const configPath = await home.writeConfig(`backends:\n${dynamicBackend('dyn', '    warm: 2\n    isolation: shared\n')}`);
      const result = await runCli('mcp-gateway', ['validate', configPath], home.env);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /backends\[0\]\.warm.*only applies to stdio backends with isolation: session/);
    } finally {
      await home.cleanup();
    }
  });
});

describe('mcp-gateway sessions start lazily', () => {
  it('reaches the first tools/list with 10 stdio backends without starting any', async () => {
    const home = await ShareHome.create('lazy');
    const env = home.env;
    const gateway = await home.startGateway(`backends:\n${Array.from({ length: 10 }, (_, i) => dynamicBackend(`b${i}`)).join('')}`);
    try {
      const pid = gateway.proc.pid as number;
      // Discovery's temporary processes are gone before the token is printed.
      await waitFor(() => descendants(pid).length === 0, 10_000, 'discovery processes to exit');
      const { client } = await connectThroughTools(gateway.token, env);
      const { tools } = await client.listTools();
      assert.equal(tools.filter((t) => t.name.endsWith('_echo')).length, 10);
      assert.deepEqual(descendants(pid), [], 'no backend started by listing');
      assert.equal(text(await client.callTool({ name: 'b3_echo', arguments: { text: 'lazy' } })), 'lazy');
      assert.equal(descendants(pid).length, 1, 'exactly the one backend used');
      await client.close();
      await waitFor(() => descendants(pid).length === 0, 10_000, 'session backend to be reaped');
    } finally {
      await home.cleanup();
    }
  });
});
