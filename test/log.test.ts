import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BatchedWriter } from '../src/log.js';

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

  // A reader that went away (EPIPE) is covered end to end in test/cli/gateway-cli.test.ts.
});
