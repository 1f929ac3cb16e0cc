import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { listenForHandovers } from '../../src/share/local/handover.js';
import { FD_PASSING_SKIP } from '../helpers/addons.js';
import { waitFor } from '../helpers/cli.js';

const openFds = (): number => readdirSync('/proc/self/fd').length;

function dial(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('handover socket: refusals and idle connections', { skip: FD_PASSING_SKIP }, () => {
  const dirs: string[] = [];
  const newPath = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpgw-refuse-'));
    dirs.push(dir);
    return join(dir, 'h.stdio.sock');
  };
  after(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));

  it('releases the descriptor of every refused handover', async () => {
    const path = await newPath();
    const listener = await listenForHandovers(path, () => assert.fail('nothing is handed over'));
    // A warm-up refusal, so lazily opened descriptors are counted in the baseline.
    const refuse = async (): Promise<void> => {
      const socket = await dial(path);
      socket.write('{"handover":"stdio","version":1}\n');
      const answer = await new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString('utf8'))));
      assert.match(answer, /"accepted":false/);
      socket.destroy();
    };
    await refuse();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const before = openFds();
    for (let i = 0; i < 200; i++) await refuse();
    await waitFor(() => openFds() <= before + 5, 3_000, `descriptors back near ${before} (now ${openFds()})`).catch(() => undefined);
    const leaked = openFds() - before;
    await listener.close();
    assert.ok(leaked <= 5, `200 refused handovers left ${leaked} more descriptors open`);
  });

  it('waits for hellos without spinning, and closes connections that never send one at the deadline', async () => {
    const path = await newPath();
    const listener = await listenForHandovers(path, () => assert.fail('nothing is handed over'), { helloTimeoutMs: 2_000 });
    const sockets = await Promise.all(Array.from({ length: 50 }, () => dial(path)));
    const closed = sockets.map((socket) => new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now()))));
    const opened = Date.now();
    // Past the first few tries of the backoff.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const cpu = process.cpuUsage();
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const used = process.cpuUsage(cpu);
    const share = (used.user + used.system) / 1000 / (performance.now() - started);
    assert.ok(share < 0.1, `50 idle connections used ${(share * 100).toFixed(1)}% of a core`);
    const closedAt = await Promise.all(closed);
    for (const at of closedAt) assert.ok(at - opened < 3_000, `closed ${at - opened} ms after opening`);
    await listener.close();
  });
});
