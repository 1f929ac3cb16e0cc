// Hot reload: SIGHUP (or a change of the file with --watch-config) applies a new config without
// dropping sessions; an invalid file keeps the running one.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { connectThroughTools, isAlive, waitFor, type RunningShare } from '../helpers/cli.js';
import { text } from '../helpers/mcp.js';
import { ShareHome, dynamicBackend } from '../helpers/share-home.js';

/** How many "config reloaded" lines the gateway has logged. */
const reloads = (gateway: RunningShare): number => gateway.stderr().split('\n').filter((line) => line.includes('"msg":"config reloaded"')).length;

const toolNames = async (client: Client): Promise<string[]> => (await client.listTools()).tools.map((t) => t.name);

describe('mcp-gateway hot reload', () => {
  let home: ShareHome;
  let path: string;
  let gateway: RunningShare;

  before(async () => {
    home = await ShareHome.create('reload');
    path = await home.writeConfig(`backends:\n${dynamicBackend('a')}`, 'reload.yml');
    gateway = await home.startGateway({ file: path }, { args: ['--watch-config'] });
  });

  after(() => home.cleanup());

  /** Writes the config and waits for the reload it causes (the file watch), then its log line. */
  async function rewrite(yaml: string, signal = false): Promise<void> {
    const before = reloads(gateway);
    await writeFile(path, yaml);
    if (signal) gateway.proc.kill('SIGHUP');
    await waitFor(() => reloads(gateway) > before, 15_000, 'the config reloaded');
  }

  it('adds a backend under 20 clients calling in a loop, losing no call', async () => {
    const clients = await Promise.all(Array.from({ length: 20 }, () => connectThroughTools(gateway.token, home.env)));
    const told = clients.map(() => false);
    clients.forEach(({ client }, i) => client.setNotificationHandler(ToolListChangedNotificationSchema, () => void (told[i] = true)));
    let stop = false;
    let answered = 0;
    const failures: string[] = [];
    const loops = clients.map(async ({ client }, i) => {
      for (let n = 0; !stop; n++) {
        const expected = `c${i}-${n}`;
        try {
          const got = text(await client.callTool({ name: 'a_echo', arguments: { text: expected } }));
          if (got === expected) answered++;
          else failures.push(`${expected} answered ${got}`);
        } catch (error) {
          failures.push(`${expected}: ${(error as Error).message}`);
        }
      }
    });
    try {
      await waitFor(() => answered >= 100, 30_000, 'calls under way');
      await rewrite(`backends:\n${dynamicBackend('a')}${dynamicBackend('b')}`, true);
      const atReload = answered;
      await waitFor(() => answered >= atReload + 100, 30_000, 'calls after the reload');
      await waitFor(() => told.every(Boolean), 10_000, 'every session told of the new tools');
      assert.ok((await toolNames(clients[0]!.client)).includes('b_echo'));
      assert.equal(text(await clients[1]!.client.callTool({ name: 'b_echo', arguments: { text: 'new' } })), 'new');
    } finally {
      stop = true;
      await Promise.all(loops);
      await Promise.allSettled(clients.map(({ client }) => client.close()));
    }
    assert.deepEqual(failures, []);
  });

  it('lets a call in flight on a removed backend finish, then refuses its names', async () => {
    const { client } = await connectThroughTools(gateway.token, home.env);
    try {
      let inSleep!: () => void;
      const started = new Promise<void>((resolve) => (inSleep = resolve));
      const call = client.callTool({ name: 'b_sleep', arguments: { ms: 1_000 } }, undefined, { onprogress: () => inSleep() });
      await started;
      await rewrite(`backends:\n${dynamicBackend('a')}`);
      assert.equal(text(await call), 'slept 1000');
      assert.ok(!(await toolNames(client)).includes('b_echo'));
      await assert.rejects(client.callTool({ name: 'b_echo', arguments: { text: 'x' } }), /Unknown tool: b_echo/);
      assert.equal(text(await client.callTool({ name: 'a_echo', arguments: { text: 'still here' } })), 'still here');
    } finally {
      await client.close();
    }
  });

  it('applies a changed filter to open sessions', async () => {
    const { client } = await connectThroughTools(gateway.token, home.env);
    try {
      assert.ok((await toolNames(client)).includes('a_crash'));
      await rewrite(`backends:\n${dynamicBackend('a', '    tools: { mode: deny, list: ["crash"] }\n')}`);
      assert.ok(!(await toolNames(client)).includes('a_crash'));
      await assert.rejects(client.callTool({ name: 'a_crash', arguments: {} }), /Unknown tool: a_crash/);
      assert.equal(text(await client.callTool({ name: 'a_echo', arguments: { text: 'ok' } })), 'ok');
    } finally {
      await client.close();
    }
  });

  it('replaces a changed shared backend with a process of the new config, and stops the old one', async () => {
    await rewrite(`backends:\n${dynamicBackend('a')}${dynamicBackend('s', '    isolation: shared\n')}`);
    const { client } = await connectThroughTools(gateway.token, home.env);
    try {
      const before = Number(text(await client.callTool({ name: 's_whoami', arguments: {} })).split(' ')[0]);
      await rewrite(`backends:\n${dynamicBackend('a')}${dynamicBackend('s', '    isolation: shared\n    namespace: renamed\n')}`);
      const after = Number(text(await client.callTool({ name: 'renamed_whoami', arguments: {} })).split(' ')[0]);
      assert.notEqual(after, before, 'a process started with the new config');
      await waitFor(() => !isAlive(before), 10_000, 'the old shared process stopped');
      await rewrite(`backends:\n${dynamicBackend('a')}`);
      await waitFor(() => !isAlive(after), 10_000, 'the removed shared process stopped');
    } finally {
      await client.close();
    }
  });

  it('keeps the running config when the new file is invalid, naming each problem by field', async () => {
    const before = gateway.stderr().length;
    await writeFile(path, `backends:\n  - id: broken\n    transport: { type: stdio }\nmax_sessions: -1\n`);
    await waitFor(() => gateway.stderr().slice(before).includes('config reload refused'), 15_000, 'the refusal');
    const log = gateway.stderr().slice(before);
    assert.match(log, /config reload: backends\[0\]\.transport\.command/);
    assert.match(log, /config reload: max_sessions/);
    const { client } = await connectThroughTools(gateway.token, home.env);
    try {
      assert.equal(text(await client.callTool({ name: 'a_echo', arguments: { text: 'unchanged' } })), 'unchanged');
    } finally {
      await client.close();
    }
  });

  it('says which settings need a restart and keeps them', async () => {
    const before = gateway.stderr().length;
    await rewrite(`share_token: another-token\nbackends:\n${dynamicBackend('a')}`);
    assert.match(gateway.stderr().slice(before), /'share_token' changed; it takes effect at the next restart/);
    const { client } = await connectThroughTools(gateway.token, home.env);
    await client.close();
  });
});
