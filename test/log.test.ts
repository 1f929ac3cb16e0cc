import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BatchedWriter } from '../src/log.js';

const LOG_BURST = fileURLToPath(new URL('fixtures/log-burst.js', import.meta.url));

describe('BatchedWriter', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcpgw-log-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes every line whole and in order across batches, multi-byte text and lines larger than a batch included', async () => {
    const path = join(dir, 'lines.log');
    const fd = openSync(path, 'w');
    const writer = new BatchedWriter(fd, 1024);
    const lines: string[] = [];
    for (let i = 0; i < 2000; i++) {
      // Mostly short lines; every 97th is 5 KiB of two-, three- and four-byte characters.
      const text = i % 97 === 0 ? 'é数🙂'.repeat(700) : `line ${i} café`;
      lines.push(`{"i":${i},"text":"${text}"}\n`);
      writer.write(lines[i] as string);
      // Let batch writes run (and new lines queue behind them) as the event loop turns.
      if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    // What is left below a batch is written by the next flush (every 200 ms in the CLIs); its
    // callback comes once everything logged before it is written.
    await new Promise<void>((resolve) => writer.flush(resolve));
    closeSync(fd);
    assert.equal(readFileSync(path, 'utf8'), lines.join(''));
  });

  it('writes what is waiting at once on flushSync (the exit handler)', () => {
    const path = join(dir, 'exit.log');
    const fd = openSync(path, 'w');
    const writer = new BatchedWriter(fd, 65536);
    writer.write('{"msg":"stopping"}\n');
    writer.write('{"msg":"bye, café 🙂"}\n');
    writer.flushSync();
    closeSync(fd);
    assert.equal(readFileSync(path, 'utf8'), '{"msg":"stopping"}\n{"msg":"bye, café 🙂"}\n');
  });

  it('calls flush()\'s callback once everything logged before it has been written', { timeout: 10_000 }, async () => {
    const path = join(dir, 'flushed.log');
    const fd = openSync(path, 'w');
    const writer = new BatchedWriter(fd, 1024);
    let expected = '';
    for (let i = 0; i < 500; i++) {
      const line = `{"i":${i}}\n`;
      expected += line;
      writer.write(line); // batches leave as they fill; the rest only with a flush
    }
    await new Promise<void>((resolve) => writer.flush(resolve));
    const written = readFileSync(path, 'utf8');
    // Nothing idle: called back at once.
    await new Promise<void>((resolve) => writer.flush(resolve));
    closeSync(fd);
    assert.equal(written, expected);
  });

  it('calls flush()\'s callback when the descriptor cannot be written, and drops what follows', { timeout: 10_000 }, async () => {
    // Read-only: every write fails (EBADF), as on a closed descriptor, without the number being
    // reused by another open meanwhile.
    const path = join(dir, 'read-only.log');
    writeFileSync(path, 'untouched\n');
    const fd = openSync(path, 'r');
    const writer = new BatchedWriter(fd, 1024);
    const called: string[] = [];
    writer.write('{"lost":true}\n');
    await new Promise<void>((resolve) => writer.flush(() => resolve(void called.push('after the failed write'))));
    writer.write('{"dropped":true}\n');
    await new Promise<void>((resolve) => writer.flush(() => resolve(void called.push('on a broken writer'))));
    writer.flushSync(); // nothing waiting: a broken writer keeps nothing
    closeSync(fd);
    assert.deepEqual(called, ['after the failed write', 'on a broken writer']);
    assert.equal(readFileSync(path, 'utf8'), 'untouched\n');
  });

  // A reader that went away (EPIPE) is covered end to end in test/cli/gateway-cli.test.ts.
});

describe('the CLIs\' log at exit', () => {
  it('keeps every line, in order, when the process exits while batches are still being written to a slow reader', { timeout: 30_000 }, async () => {
    const count = 20000; // ≈ 3 MB: many 64 KiB batches, most of them written after exit() is called
    // Its stderr a pipe (as under a supervisor or a shell), read through `cat` by us; its stdout
    // (fd 3 here) says when it calls exit().
    const child = spawn('sh', ['-c', '"$0" "$1" "$2" 2>&1 >&3 | cat', process.execPath, LOG_BURST, String(count)], { stdio: ['ignore', 'pipe', 'ignore', 'pipe'] });
    const [stdout, exitingFd] = [child.stdio[1] as Readable, child.stdio[3] as Readable];
    const exited = once(child, 'exit');
    const closed = once(stdout, 'close');
    const exiting = once(exitingFd, 'data');
    const chunks: Buffer[] = [];
    // A reader that falls behind: the pipes fill, and a batch write is in flight when exit() comes.
    stdout.pause();
    await exiting;
    stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    stdout.resume();
    const [code] = (await exited) as [number | null];
    await closed;
    assert.equal(code, 0);
    const lines = Buffer.concat(chunks).toString('utf8').split('\n').filter((line) => line.length > 0);
    const records = lines.map((line) => JSON.parse(line) as { i?: number; done?: boolean });
    assert.deepEqual(
      records.filter((r) => r.i !== undefined).map((r) => r.i),
      Array.from({ length: count }, (_, i) => i),
    );
    assert.equal(records.at(-1)?.done, true);
  });
});
