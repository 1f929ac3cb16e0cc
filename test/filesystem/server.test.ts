import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Sandbox } from '../../src/filesystem/sandbox.js';
import { createFilesystemServer } from '../../src/filesystem/server.js';

// Tests run from dist/test/filesystem/, so this is the compiled CLI.
const CLI = fileURLToPath(new URL('../../src/cli/mcp-filesystem.js', import.meta.url));

let base: string;
let root: string;
let outside: string;
const children = new Set<ChildProcess>();
const clients = new Set<Client>();

before(async () => {
  base = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'mcpfs-server-')));
  root = path.join(base, 'root');
  outside = path.join(base, 'outside');
  await fs.mkdir(path.join(root, 'sub'), { recursive: true });
  await fs.mkdir(outside);
  await fs.writeFile(path.join(root, 'hello.txt'), 'héllo\n');
  await fs.writeFile(path.join(outside, 'secret.txt'), 'top secret');
  await fs.symlink(outside, path.join(root, 'escape'));
  await fs.symlink(path.join(root, 'sub'), path.join(root, 'inner'));
});

after(async () => {
  await Promise.allSettled([...clients].map((client) => client.close()));
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await fs.rm(base, { recursive: true, force: true });
});

function text(result: unknown): string {
  const { content } = result as CallToolResult;
  assert.equal(content.length, 1);
  const [first] = content;
  assert.equal(first?.type, 'text');
  return first.type === 'text' ? first.text : '';
}

async function call(client: Client, name: string, args: Record<string, unknown>): Promise<{ text: string; isError: boolean }> {
  const result = await client.callTool({ name, arguments: args });
  return { text: text(result), isError: result.isError === true };
}

async function inMemoryClient(): Promise<Client> {
  const server = createFilesystemServer(await Sandbox.create([root]));
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const client = new Client({ name: 'test', version: '0.0.0' });
  clients.add(client);
  await Promise.all([server.connect(serverSide), client.connect(clientSide)]);
  return client;
}

void describe('filesystem server tools (in memory)', () => {
  let client: Client;
  before(async () => {
    client = await inMemoryClient();
  });

  void it('advertises instructions naming the roots and the three tools', async () => {
    assert.match(client.getInstructions() ?? '', new RegExp(root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((tool) => tool.name).sort(), ['list_directory', 'read_file', 'write_file']);
    for (const tool of tools) assert.ok((tool.description ?? '').length > 20, `${tool.name} needs a description`);
  });

  void it('reads UTF-8 text', async () => {
    assert.deepEqual(await call(client, 'read_file', { path: 'hello.txt' }), { text: 'héllo\n', isError: false });
  });

  void it('writes, overwrites and reads back', async () => {
    const first = await call(client, 'write_file', { path: 'sub/new.txt', content: 'one' });
    assert.equal(first.isError, false);
    await call(client, 'write_file', { path: path.join(root, 'sub', 'new.txt'), content: 'two' });
    assert.equal(await fs.readFile(path.join(root, 'sub', 'new.txt'), 'utf8'), 'two');
    assert.equal((await call(client, 'read_file', { path: 'inner/new.txt' })).text, 'two');
  });

  void it('lists a directory sorted with [DIR]/[FILE] prefixes, links shown by their inside target', async () => {
    const { text: listing, isError } = await call(client, 'list_directory', { path: '.' });
    assert.equal(isError, false);
    assert.equal(listing, ['[FILE] escape', '[FILE] hello.txt', '[DIR] inner', '[DIR] sub'].join('\n'));
    await fs.mkdir(path.join(root, 'empty'));
    assert.equal((await call(client, 'list_directory', { path: 'empty' })).text, '(empty directory)');
  });

  void it('refuses escapes as tool errors that do not leak outside paths', async () => {
    for (const [tool, args] of [
      ['read_file', { path: '../outside/secret.txt' }],
      ['read_file', { path: path.join(outside, 'secret.txt') }],
      ['read_file', { path: 'escape/secret.txt' }],
      ['list_directory', { path: 'escape' }],
      ['list_directory', { path: '..' }],
      ['write_file', { path: 'escape/planted.txt', content: 'x' }],
      ['write_file', { path: `${root}-evil/planted.txt`, content: 'x' }],
      ['read_file', { path: 'hello.txt\0' }],
    ] as const) {
      const result = await call(client, tool, args);
      assert.equal(result.isError, true, `${tool} ${args.path} should fail`);
      // Echoing the request is fine; revealing where a symlink or `..` led is not.
      if (!args.path.includes(outside)) assert.ok(!result.text.includes(outside), `leaks: ${result.text}`);
      assert.ok(!result.text.includes('top secret'), result.text);
    }
    await assert.rejects(fs.access(path.join(outside, 'planted.txt')));
  });

  void it('reports missing files, missing parents and wrong kinds as tool errors', async () => {
    const missing = await call(client, 'read_file', { path: 'nope.txt' });
    assert.deepEqual(missing, { text: 'Not found: "nope.txt" does not exist', isError: true });
    const noParent = await call(client, 'write_file', { path: 'no-dir/x.txt', content: 'x' });
    assert.equal(noParent.isError, true);
    assert.match(noParent.text, /parent directory .* does not exist/);
    assert.ok(!noParent.text.includes(root), 'should echo the requested path, not the resolved one');
    assert.match((await call(client, 'read_file', { path: 'sub' })).text, /is a directory/);
    assert.match((await call(client, 'list_directory', { path: 'hello.txt' })).text, /is not a directory/);
  });
});

interface Spawned {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Settles once the process exited and its pipes drained, so stdout()/stderr() are complete. */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns the compiled CLI directly, for exit-code and stream checks the SDK client hides. */
function spawnCli(args: string[]): Spawned {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  // A hung child must fail the test, not hang the run (a wide margin: a loaded CI machine can take
  // seconds just to start node).
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const closed = once(child, 'close').then(([code, signal]) => {
    clearTimeout(timer);
    return { code: code as number | null, signal: signal as NodeJS.Signals | null };
  });
  return { child, stdout: () => out, stderr: () => err, closed };
}

void describe('mcp-filesystem CLI (spawned)', () => {
  void it('serves tools over stdio end to end and exits when the client closes', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, '--log-level', 'warn', root],
      stderr: 'pipe',
    });
    const client = new Client({ name: 'e2e', version: '0.0.0' });
    clients.add(client);
    await client.connect(transport);
    const pid = transport.pid;
    assert.ok(pid !== null);

    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((tool) => tool.name).sort(), ['list_directory', 'read_file', 'write_file']);
    assert.equal((await call(client, 'write_file', { path: 'e2e.txt', content: 'from e2e' })).isError, false);
    assert.deepEqual(await call(client, 'read_file', { path: 'e2e.txt' }), { text: 'from e2e', isError: false });
    assert.match((await call(client, 'list_directory', { path: '.' })).text, /^\[FILE\] e2e\.txt$/m);
    const escape = await call(client, 'read_file', { path: '../outside/secret.txt' });
    assert.equal(escape.isError, true);
    assert.ok(!escape.text.includes('top secret'));

    // The SDK escalates to SIGTERM after 2 s, so a quick close proves the server left on stdin EOF.
    const started = Date.now();
    await client.close();
    clients.delete(client);
    assert.ok(Date.now() - started < 1500, `close took ${Date.now() - started} ms`);
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
  });

  void it('exits 0 on stdin EOF', async () => {
    const { child, stdout, closed } = spawnCli(['--log-level', 'silent', root]);
    child.stdin?.end();
    assert.deepEqual(await closed, { code: 0, signal: null });
    assert.equal(stdout(), '');
  });

  void it('exits 0 on SIGTERM once ready', async () => {
    const { child, stderr, closed } = spawnCli(['--log-level', 'info', root]);
    // Signal only after the handlers are in place; before that SIGTERM would simply kill it.
    const exited = closed.then(() => 'exited' as const);
    while (!stderr().includes('"ready"')) {
      const next = await Promise.race([once(child.stderr!, 'data').then(() => 'data' as const), exited]);
      assert.equal(next, 'data', `exited before ready: ${stderr()}`);
    }
    child.kill('SIGTERM');
    assert.deepEqual(await closed, { code: 0, signal: null });
  });

  for (const [label, args, pattern] of [
    ['a missing root', [path.join(os.tmpdir(), 'mcpfs-definitely-missing-dir')], /^mcp-filesystem: root directory does not exist: /],
    ['no arguments', [], /^mcp-filesystem: missing required argument 'dir'/],
    ['an unknown log level', ['--log-level', 'loud', '.'], /^mcp-filesystem: option '--log-level <level>' argument 'loud' is invalid/],
  ] as const) {
    void it(`fails with one stderr line, exit 1 and empty stdout on ${label}`, async () => {
      const { stdout, stderr, closed } = spawnCli([...args]);
      assert.deepEqual(await closed, { code: 1, signal: null });
      assert.equal(stdout(), '');
      assert.match(stderr(), pattern);
      assert.equal(stderr().trimEnd().split('\n').length, 1, stderr());
    });
  }

  void it('prints the version on --version', async () => {
    const { stdout, closed } = spawnCli(['--version']);
    assert.deepEqual(await closed, { code: 0, signal: null });
    assert.match(stdout(), /^\d+\.\d+\.\d+/);
  });
});
