// mcp-filesystem under attack (issue 17, finding 4): writes are atomic, the object opened is the
// object checked (a directory swapped for a symlink in a loop never lets a call out of the root),
// FIFOs and other special files are refused without blocking, and a listed name cannot forge entries.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
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

const CLI = fileURLToPath(new URL('../../src/cli/mcp-filesystem.js', import.meta.url));
const OLD = 'o'.repeat(33_000);
const BIG = 'n'.repeat(100 * 1024);

let base: string;
const clients = new Set<Client>();
const mounts: string[] = [];

before(async () => {
  base = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'mcpfs-hard-')));
});

after(async () => {
  await Promise.allSettled([...clients].map((client) => client.close()));
  for (const mount of mounts) execFileSync('umount', [mount]);
  await fs.rm(base, { recursive: true, force: true });
});

async function call(client: Client, name: string, args: Record<string, unknown>, timeout = 10_000): Promise<{ text: string; isError: boolean }> {
  const result = (await client.callTool({ name, arguments: args }, undefined, { timeout })) as CallToolResult;
  const first = result.content[0];
  return { text: first?.type === 'text' ? first.text : '', isError: result.isError === true };
}

async function inMemoryClient(root: string): Promise<Client> {
  const server = createFilesystemServer(await Sandbox.create([root]));
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const client = new Client({ name: 'test', version: '0.0.0' });
  clients.add(client);
  await Promise.all([server.connect(serverSide), client.connect(clientSide)]);
  return client;
}

async function freshRoot(name: string): Promise<string> {
  const root = path.join(base, name);
  await fs.mkdir(root);
  return root;
}

/** Left-over temporary files of a failed write would show here. */
async function namesIn(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).sort();
}

void describe('write_file is atomic', () => {
  void it('leaves the old file intact when the write fails (file size limit), and says why', async () => {
    const root = await freshRoot('fsize');
    await fs.writeFile(path.join(root, 'keep.txt'), OLD);
    await fs.chmod(path.join(root, 'keep.txt'), 0o640);
    // ulimit -f 64: no file of this process may pass 64 KiB; Node ignores SIGXFSZ, so writes get EFBIG.
    const transport = new StdioClientTransport({
      command: '/bin/sh',
      args: ['-c', 'ulimit -f 64 && exec "$0" "$@"', process.execPath, CLI, '--log-level', 'silent', root],
      stderr: 'pipe',
    });
    const client = new Client({ name: 'fsize', version: '0' });
    clients.add(client);
    await client.connect(transport);
    const failed = await call(client, 'write_file', { path: 'keep.txt', content: BIG });
    assert.equal(failed.isError, true);
    assert.match(failed.text, /^File too large: writing "keep\.txt" exceeds the file size limit; the file was left as it was$/);
    assert.equal(await fs.readFile(path.join(root, 'keep.txt'), 'utf8'), OLD);
    assert.deepEqual(await namesIn(root), ['keep.txt']);
    // A write that fits replaces it and keeps its permission bits.
    assert.equal((await call(client, 'write_file', { path: 'keep.txt', content: 'short' })).isError, false);
    assert.equal(await fs.readFile(path.join(root, 'keep.txt'), 'utf8'), 'short');
    assert.equal((await fs.stat(path.join(root, 'keep.txt'))).mode & 0o777, 0o640);
    assert.deepEqual(await namesIn(root), ['keep.txt']);
  });

  void it('on a full or read-only tmpfs: old file intact, "No space left" / "Read-only file system"', async (t) => {
    const root = await freshRoot('tmpfs');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0755', 'tmpfs', root], { stdio: 'ignore' });
    } catch {
      t.skip('mounting a tmpfs needs root (CAP_SYS_ADMIN); the file size limit test covers the failed write');
      return;
    }
    mounts.push(root);
    await fs.writeFile(path.join(root, 'keep.txt'), OLD);
    const client = await inMemoryClient(root);
    const full = await call(client, 'write_file', { path: 'keep.txt', content: BIG });
    assert.deepEqual(full, { text: 'No space left on device while writing "keep.txt"; the file was left as it was', isError: true });
    assert.equal(await fs.readFile(path.join(root, 'keep.txt'), 'utf8'), OLD);
    assert.deepEqual(await namesIn(root), ['keep.txt']);
    execFileSync('mount', ['-o', 'remount,ro', root]);
    const readOnly = await call(client, 'write_file', { path: 'keep.txt', content: 'x' });
    assert.deepEqual(readOnly, { text: 'Read-only file system: cannot write "keep.txt"', isError: true });
    assert.equal(await fs.readFile(path.join(root, 'keep.txt'), 'utf8'), OLD);
  });
});

void describe('special files and names', () => {
  void it('refuses a FIFO at once, and the server keeps serving', async () => {
    const root = await freshRoot('fifo');
    execFileSync('mkfifo', [path.join(root, 'pipe')]);
    await fs.writeFile(path.join(root, 'ok.txt'), 'fine');
    const client = await inMemoryClient(root);
    // More calls than the libuv pool has threads (4): blocking opens would leave none for ok.txt.
    // (Reads only: a blocked reader and a blocked writer of one FIFO would release each other.)
    const refusal = { text: 'Refused: "pipe" is not a regular file or directory (a FIFO, socket or device)', isError: true };
    const refusals = await Promise.all(Array.from({ length: 6 }, () => call(client, 'read_file', { path: 'pipe' }, 3_000)));
    for (const refused of refusals) assert.deepEqual(refused, refusal);
    assert.deepEqual(await call(client, 'write_file', { path: 'pipe', content: 'x' }, 3_000), refusal);
    assert.deepEqual(await call(client, 'read_file', { path: 'ok.txt' }, 3_000), { text: 'fine', isError: false });
    assert.match((await call(client, 'list_directory', { path: 'pipe' }, 3_000)).text, /is not a directory/);
  });

  void it('shows a name holding a newline as a JSON string, so it cannot forge an entry', async () => {
    const root = await freshRoot('names');
    const evil = 'a\n[DIR] forged';
    await fs.writeFile(path.join(root, evil), 'x');
    await fs.writeFile(path.join(root, '"quoted'), 'x');
    await fs.writeFile(path.join(root, 'plain'), 'x');
    const client = await inMemoryClient(root);
    const listing = (await call(client, 'list_directory', { path: '.' })).text.split('\n');
    assert.deepEqual(listing, ['[FILE] "\\"quoted"', '[FILE] "a\\n[DIR] forged"', '[FILE] plain']);
    assert.deepEqual(await call(client, 'read_file', { path: evil }), { text: 'x', isError: false });
  });
});

void describe('a directory swapped for a symlink while calls run', () => {
  void it('never reads or writes outside the root (1,000 reads, 1,000 writes)', async () => {
    const root = await freshRoot('race-root');
    const outside = await freshRoot('race-outside');
    await fs.mkdir(path.join(root, 'd'));
    await fs.writeFile(path.join(root, 'd', 'f'), 'inside');
    await fs.writeFile(path.join(outside, 'f'), 'SECRET');
    await fs.symlink(outside, path.join(root, 'link'));
    const client = await inMemoryClient(root);

    // Another process turns root/d into a symlink to outside and back, as fast as it can.
    const swapper = spawn(
      process.execPath,
      [
        '-e',
        `const fs = require('fs'); const [d, held, link] = process.argv.slice(1);
         process.stdout.write('swapping\\n');
         for (;;) { fs.renameSync(d, held); fs.renameSync(link, d); fs.renameSync(d, link); fs.renameSync(held, d); }`,
        path.join(root, 'd'),
        path.join(root, 'held'),
        path.join(root, 'link'),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const gone = once(swapper, 'exit');
    try {
      await once(swapper.stdout, 'data');
      let inside = 0;
      let refused = 0;
      for (let batch = 0; batch < 50; batch++) {
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            i % 2 === 0 ? call(client, 'read_file', { path: 'd/f' }) : call(client, 'write_file', { path: 'd/w.txt', content: 'planted' }),
          ),
        );
        for (const result of results) {
          assert.ok(!result.text.includes('SECRET'), 'a read went outside the root');
          if (result.isError) refused += 1;
          else inside += 1;
        }
      }
      assert.deepEqual(await namesIn(outside), ['f'], 'a write went outside the root');
      assert.ok(inside > 0 && refused > 0, `the race was not exercised: ${inside} served, ${refused} refused`);
    } finally {
      swapper.kill('SIGKILL');
      await gone;
    }
  });
});
