import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
    // What is left below a batch is written by the next flush (every 200 ms in the CLIs).
    const expected = lines.join('');
    const deadline = Date.now() + 10_000;
    while (readFileSync(path).length < Buffer.byteLength(expected) && Date.now() < deadline) {
      writer.flush();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    closeSync(fd);
    assert.equal(readFileSync(path, 'utf8'), expected);
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

  it('calls flush()\'s callback when the descriptor cannot be written', { timeout: 10_000 }, async () => {
    const fd = openSync(join(dir, 'gone.log'), 'w');
    const writer = new BatchedWriter(fd, 1024);
    closeSync(fd);
    writer.write('{"lost":true}\n');
    await new Promise<void>((resolve) => writer.flush(resolve));
    await new Promise<void>((resolve) => writer.flush(resolve));
  });

  // A reader that went away (EPIPE) is covered end to end in test/cli/gateway-cli.test.ts.
});

describe('the CLIs\' log at exit', () => {
  it('keeps every line, in order, when the process exits while batches are still being written to a slow reader', { timeout: 30_000 }, async () => {
    const count = 20000; // ≈ 3 MB: many 64 KiB batches, most of them written after exit() is called
    // Its stderr a pipe (as under a supervisor or a shell), read through `cat` by us.
    const child = spawn('sh', ['-c', '"$0" "$1" "$2" 2>&1 >/dev/null | cat', process.execPath, LOG_BURST, String(count)], { stdio: ['ignore', 'pipe', 'ignore'] });
    const exited = once(child, 'exit');
    const closed = once(child.stdout, 'close');
    const chunks: Buffer[] = [];
    // A reader that falls behind: the pipe fills and a batch write is in flight when exit() comes.
    child.stdout.pause();
    await new Promise((resolve) => setTimeout(resolve, 500));
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stdout.resume();
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
