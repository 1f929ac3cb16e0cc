// MCP 2025-11-25 Tasks through the gateway: the capability union, task ids of our own routed to
// the backend connection that created them, tasks/list merged across backends and paginated,
// status notifications for the owning session only, and no way into another session's tasks.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTaskStore } from '@modelcontextprotocol/sdk/experimental/tasks';
import {
  CallToolResultSchema,
  CancelTaskResultSchema,
  CreateMessageRequestSchema,
  CreateTaskResultSchema,
  ElicitRequestSchema,
  EmptyResultSchema,
  GetTaskResultSchema,
  ListTasksResultSchema,
  McpError,
  TaskStatusNotificationSchema,
  type TaskStatusNotification,
} from '@modelcontextprotocol/sdk/types.js';
import { EVERYTHING_BIN, connectThroughTools, startGateway, waitFor, type RunningShare } from '../helpers/cli.js';
import { text } from '../helpers/mcp.js';

const RELATED_TASK = 'io.modelcontextprotocol/related-task';
const RESEARCH = { topic: 'gateways', ambiguous: false };

/** Starts a task-augmented call and returns the task the gateway answered with. */
async function startTask(client: Client, name: string, args: Record<string, unknown> = RESEARCH) {
  const created = await client.request({ method: 'tools/call', params: { name, arguments: args, task: { ttl: 60_000 } } }, CreateTaskResultSchema);
  return created.task;
}

function getTask(client: Client, taskId: string) {
  return client.request({ method: 'tasks/get', params: { taskId } }, GetTaskResultSchema);
}

/** Every page of tasks/list, following our cursor. */
async function listAll(client: Client): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await client.request({ method: 'tasks/list', params: cursor === undefined ? {} : { cursor } }, ListTasksResultSchema);
    pages++;
    ids.push(...page.tasks.map((t) => t.taskId));
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return { ids, pages };
}

async function rejectsWith(promise: Promise<unknown>, code: number): Promise<void> {
  await assert.rejects(promise, (error: unknown) => error instanceof McpError && error.code === code);
}

describe('mcp-gateway: tasks (2025-11-25) through the gateway', () => {
  let home: string;
  let env: NodeJS.ProcessEnv;
  let gateway: RunningShare;
  let alice: Client;
  let bob: Client;
  const statuses: { alice: TaskStatusNotification['params'][]; bob: TaskStatusNotification['params'][] } = { alice: [], bob: [] };
  const elicitations: Record<string, unknown>[] = [];

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'mcpgw-tasks-'));
    const config = `
aggregator:
  connection: { connect_timeout: 20s, call_timeout: 30s }
backends:
  - id: ev1
    transport: { type: stdio, command: "${process.execPath}", args: ["${EVERYTHING_BIN}", "stdio"] }
  - id: ev2
    isolation: shared
    transport: { type: stdio, command: "${process.execPath}", args: ["${EVERYTHING_BIN}", "stdio"] }
`;
    const path = join(home, 'gateway.yml');
    await writeFile(path, config);
    env = { MCP_GATEWAY_HOME: home, MCP_SHARE_PROVIDER: 'local' };
    gateway = await startGateway(path, env);
    ({ client: alice } = await connectThroughTools(gateway.token, env, { capabilities: { elicitation: {} } }));
    ({ client: bob } = await connectThroughTools(gateway.token, env));
    alice.setNotificationHandler(TaskStatusNotificationSchema, (n) => void statuses.alice.push(n.params));
    bob.setNotificationHandler(TaskStatusNotificationSchema, (n) => void statuses.bob.push(n.params));
    alice.setRequestHandler(ElicitRequestSchema, (request) => {
      elicitations.push(request.params);
      return { action: 'accept', content: { interpretation: 'technical' } };
    });
  });

  after(async () => {
    await Promise.allSettled([alice.close(), bob.close()]);
    await gateway.stop();
    await rm(home, { recursive: true, force: true });
  });

  it('advertises the union of the backends\' tasks capabilities', () => {
    assert.deepEqual(alice.getServerCapabilities()?.tasks, { list: {}, cancel: {}, requests: { tools: { call: {} } } });
  });

  it('runs a task-augmented call: our own task id, tasks/get, status notifications and tasks/result', async () => {
    const task = await startTask(alice, 'ev1_simulate-research-query');
    assert.equal(task.status, 'working');
    assert.match(task.taskId, /^[0-9a-f-]{36}$/, 'an id minted by the gateway');
    assert.equal((await getTask(alice, task.taskId)).taskId, task.taskId);
    // tasks/result waits for the task to finish.
    const result = await alice.request({ method: 'tasks/result', params: { taskId: task.taskId } }, CallToolResultSchema);
    assert.match(text(result), /Research Report: gateways/);
    assert.deepEqual((result._meta as Record<string, unknown> | undefined)?.[RELATED_TASK], { taskId: task.taskId });
    const done = await getTask(alice, task.taskId);
    assert.equal(done.status, 'completed');
    await waitFor(() => statuses.alice.some((s) => s.taskId === task.taskId && s.status === 'completed'), 5_000, 'the completed status');
    assert.ok(statuses.alice.every((s) => s.taskId === task.taskId), 'statuses name the task by our id');
  });

  it('carries a task\'s elicitation (input_required) to its client with our task id', async () => {
    const task = await startTask(alice, 'ev1_simulate-research-query', { topic: 'python', ambiguous: true });
    await waitFor(async () => (await getTask(alice, task.taskId)).status === 'input_required', 10_000, 'input_required');
    const result = await alice.request({ method: 'tasks/result', params: { taskId: task.taskId } }, CallToolResultSchema);
    assert.match(text(result), /Clarification\*\*: technical/);
    assert.equal(elicitations.length, 1);
    assert.deepEqual((elicitations[0]?.['_meta'] as Record<string, unknown> | undefined)?.[RELATED_TASK], { taskId: task.taskId });
  });

  it('lists the session\'s tasks across backends, a page per backend, and refuses a bad cursor', async () => {
    const shared = await startTask(alice, 'ev2_simulate-research-query');
    const theirs = await startTask(bob, 'ev2_simulate-research-query');
    const listed = await listAll(alice);
    assert.ok(listed.ids.includes(shared.taskId));
    assert.ok(!listed.ids.includes(theirs.taskId), 'not another session\'s task on the shared backend');
    assert.equal(listed.pages, 2, 'one page of ev1, one of ev2');
    assert.deepEqual((await listAll(bob)).ids, [theirs.taskId]);
    await rejectsWith(alice.request({ method: 'tasks/list', params: { cursor: 'not-ours' } }, ListTasksResultSchema), -32602);
    // Cancelled, so they leave nothing running.
    const cancelled = await alice.request({ method: 'tasks/cancel', params: { taskId: shared.taskId } }, CancelTaskResultSchema);
    assert.deepEqual([cancelled.taskId, cancelled.status], [shared.taskId, 'cancelled']);
    assert.equal((await bob.request({ method: 'tasks/cancel', params: { taskId: theirs.taskId } }, CancelTaskResultSchema)).status, 'cancelled');
  });

  it('never lets a session see or reach another session\'s task', async () => {
    const task = await startTask(alice, 'ev2_simulate-research-query');
    for (const method of ['tasks/get', 'tasks/result', 'tasks/cancel'] as const) {
      await rejectsWith(bob.request({ method, params: { taskId: task.taskId } }, EmptyResultSchema), -32602);
    }
    await rejectsWith(getTask(alice, 'no-such-task'), -32602);
    await alice.request({ method: 'tasks/result', params: { taskId: task.taskId } }, CallToolResultSchema);
    await waitFor(() => statuses.alice.some((s) => s.taskId === task.taskId && s.status === 'completed'), 5_000, 'alice\'s status');
    // Anything sent to bob before now arrives before the answer to his ping.
    await bob.request({ method: 'ping' }, EmptyResultSchema);
    assert.ok(!statuses.bob.some((s) => s.taskId === task.taskId));
  });
});

describe('mcp-gateway: server→client task-augmented requests, URL elicitation and -32042 pass intact', () => {
  let home: string;
  let gateway: RunningShare;
  let client: Client;
  const elicited: Record<string, unknown>[] = [];
  // Its expiry timers would keep the test process alive: cleaned up in after().
  const clientTasks = new InMemoryTaskStore();

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'mcpgw-s2c-'));
    const path = join(home, 'gateway.yml');
    await writeFile(path, `backends:\n  - id: ev\n    transport: { type: stdio, command: "${process.execPath}", args: ["${EVERYTHING_BIN}", "stdio"] }\n`);
    const env = { MCP_GATEWAY_HOME: home, MCP_SHARE_PROVIDER: 'local' };
    gateway = await startGateway(path, env);
    const capabilities = { sampling: {}, elicitation: { form: {}, url: {} }, tasks: { list: {}, cancel: {}, requests: { sampling: { createMessage: {} } } } };
    ({ client } = await connectThroughTools(gateway.token, env, { capabilities, taskStore: clientTasks }));
    client.setRequestHandler(CreateMessageRequestSchema, async (request, extra) => {
      assert.ok(request.params.task !== undefined, 'the task augmentation reaches the client');
      const store = extra.taskStore;
      if (store === undefined) throw new Error('no task store');
      const task = await store.createTask({ ttl: 60_000 });
      await store.storeTaskResult(task.taskId, 'completed', { model: 'm', role: 'assistant', content: { type: 'text', text: 'sampled as a task' } });
      return { task };
    });
    client.setRequestHandler(ElicitRequestSchema, (request) => {
      elicited.push(request.params);
      return { action: 'accept' };
    });
  });

  after(async () => {
    clientTasks.cleanup();
    await client.close();
    await gateway.stop();
    await rm(home, { recursive: true, force: true });
  });

  it('carries a task-augmented sampling request and the backend\'s tasks/get and tasks/result to the client', async () => {
    const result = await client.callTool({ name: 'ev_trigger-sampling-request-async', arguments: { prompt: 'hi' } });
    assert.match(text(result), /\[COMPLETED\] Async sampling completed/);
    assert.match(text(result), /sampled as a task/);
  });

  it('carries a URL-mode elicitation request unchanged', async () => {
    const args = { url: 'https://example.com/authorize', message: 'Open it', elicitationId: 'el-1' };
    const result = await client.callTool({ name: 'ev_trigger-url-elicitation', arguments: args });
    assert.ok(result.isError !== true, text(result));
    assert.deepEqual(elicited.at(-1), { mode: 'url', url: args.url, message: args.message, elicitationId: 'el-1' });
  });

  it('passes error -32042 (URL elicitation required) with its data', async () => {
    const call = client.request({ method: 'tools/call', params: { name: 'ev_trigger-url-elicitation', arguments: { url: 'https://example.com/x', errorPath: true } } }, CallToolResultSchema);
    await assert.rejects(call, (error: unknown) => {
      assert.ok(error instanceof McpError);
      assert.equal(error.code, -32042);
      const data = error.data as { elicitations?: { mode?: string; url?: string }[] };
      assert.deepEqual(data.elicitations?.map((e) => [e.mode, e.url]), [['url', 'https://modelcontextprotocol.io']]);
      return true;
    });
  });
});
