import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { connect, createServer, Socket, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { LineSplitter } from '../../src/wire/lines.js';
import { socketFd } from '../../src/wire/socket-fd.js';
import { fdPassing } from '../../src/share/local/handover.js';
import { FD_PASSING_SKIP } from '../helpers/addons.js';
import { LocalShareProvider } from '../../src/share/local/index.js';
import type { ShareListener, StdioHandover, StdioHandoverHandler } from '../../src/share/provider.js';
import { isAlive, waitFor } from '../helpers/cli.js';

const OFFERER = fileURLToPath(new URL('../fixtures/handover-offerer.js', import.meta.url));
const HELLO = `${JSON.stringify({ handover: 'stdio', version: 1 })}\n`;
const O_CLOEXEC = 0o2000000;

/** The offering side, a real process handing over its own fds 0 and 1 (socket pairs to us). */
interface Offerer {
  proc: ChildProcess;
  reports: Record<string, unknown>[];
  stdout: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();

function track(proc: ChildProcess): ChildProcess {
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  return proc;
}

function startOfferer(path: string): Offerer {
  const proc = track(spawn(process.execPath, [OFFERER, path], { stdio: ['pipe', 'pipe', 'pipe'] }));
  const reports: Record<string, unknown>[] = [];
  let stdout = '';
  const splitter = new LineSplitter();
  proc.stderr?.on('data', (chunk: Buffer) => splitter.push(chunk, (line) => reports.push(JSON.parse(line.toString('utf8')) as Record<string, unknown>)));
  proc.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  return { proc, reports, stdout: () => stdout, exited };
}

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** What each open descriptor of a process points to (`socket:[123]`, `pipe:[456]`, a path). */
function fdTargets(pid: number | 'self'): string[] {
  const targets: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      targets.push(readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      // closed while we listed (e.g. readdir's own descriptor)
    }
  }
  return targets;
}

/** A listener whose handovers are queued for the test to take one at a time. */
async function listenQueued(provider: LocalShareProvider): Promise<{ listener: ShareListener; next: () => Promise<StdioHandover>; count: () => number }> {
  const queue: StdioHandover[] = [];
  let wake: (() => void) | undefined;
  let total = 0;
  const onStdioHandover: StdioHandoverHandler = (handover) => {
    total++;
    queue.push(handover);
    wake?.();
  };
  const listener = await provider.listen({ onConnection: (s) => s.destroy(), onStdioHandover });
  const next = async (): Promise<StdioHandover> => {
    await within(
      (async () => {
        while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      })(),
      10_000,
      'a handover',
    );
    return queue.shift() as StdioHandover;
  };
  return { listener, next, count: () => total };
}

/** Streams over the descriptors a handover brought, as the gateway makes them. */
function openHandover(handover: StdioHandover): { input: Socket; output: Socket; close: () => void } {
  const input = new Socket({ fd: handover.input, readable: true, writable: false });
  const output = new Socket({ fd: handover.output, readable: false, writable: true });
  return {
    input,
    output,
    close: () => {
      input.destroy();
      output.destroy();
    },
  };
}

describe('local share: stdio handover', { skip: FD_PASSING_SKIP ?? false }, () => {
  let home: string;
  let provider: LocalShareProvider;

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'mcpgw-handover-'));
    provider = new LocalShareProvider(home);
  });
  after(async () => {
    for (const proc of children) proc.kill('SIGKILL');
    await rm(home, { recursive: true, force: true });
  });

  it('creates the handover socket 0600 in the 0700 shares dir only when asked, and removes it on close', async () => {
    const plain = await provider.listen({ onConnection: (s) => s.destroy() });
    await assert.rejects(stat(provider.handoverPath(plain.token)), { code: 'ENOENT' });
    await plain.close();

    const listener = await provider.listen({ onConnection: (s) => s.destroy(), onStdioHandover: () => undefined });
    const path = provider.handoverPath(listener.token);
    assert.equal(path, join(home, 'shares', `${listener.token}.stdio.sock`));
    const socket = await stat(path);
    assert.ok(socket.isSocket());
    assert.equal(socket.mode & 0o777, 0o600);
    assert.equal((await stat(join(home, 'shares'))).mode & 0o777, 0o700);
    await listener.close();
    await assert.rejects(stat(path), { code: 'ENOENT' });
    await assert.rejects(stat(provider.socketPath(listener.token)), { code: 'ENOENT' });
  });

  it('carries both descriptors end to end and reports the end code and reason to the offerer', async () => {
    const { listener, next } = await listenQueued(provider);
    const offerer = startOfferer(provider.handoverPath(listener.token));
    const handover = await next();
    const { input, output, close } = openHandover(handover);
    try {
      await waitFor(() => offerer.reports.some((r) => r['handed'] === true), 10_000, 'the offerer to hand over');

      let received = '';
      input.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
      offerer.proc.stdin?.write('from the client\n');
      await waitFor(() => received === 'from the client\n', 10_000, 'client bytes on the handed-over input');

      output.write('from the server\n');
      await waitFor(() => offerer.stdout() === 'from the server\n', 10_000, 'server bytes on the client side of the output');

      // The offerer no longer holds its stdout: once we close ours, the client sees the end.
      const stdoutEnded = new Promise<void>((resolve) => offerer.proc.stdout?.once('end', resolve));
      output.end();
      await within(stdoutEnded, 10_000, 'end of the output on the client side');

      handover.end(7, 'custom reason');
      handover.end(0, 'ignored: a session ends once');
      const { code } = await within(offerer.exited, 10_000, 'the offerer to exit');
      assert.equal(code, 7);
      assert.deepEqual(offerer.reports, [{ handed: true }, { ended: { exitCode: 7, reason: 'custom reason' } }]);
    } finally {
      close();
      await listener.close();
    }
  });

  it('receives descriptors close-on-exec: a process spawned afterwards does not inherit them', async () => {
    const { listener, next } = await listenQueued(provider);
    const offerer = startOfferer(provider.handoverPath(listener.token));
    const handover = await next();
    try {
      const received = [readlinkSync(`/proc/self/fd/${handover.input}`), readlinkSync(`/proc/self/fd/${handover.output}`)];
      for (const target of received) assert.match(target, /^(socket|pipe):\[\d+\]$/);
      for (const fd of [handover.input, handover.output]) {
        const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
        assert.ok(flags !== undefined && (parseInt(flags, 8) & O_CLOEXEC) !== 0, `fd ${fd} flags ${flags} lack O_CLOEXEC`);
      }

      const spawned = track(spawn('sleep', ['30'], { stdio: 'ignore' }));
      // Positive control: the same check does see a descriptor that is passed on on purpose.
      const control = track(spawn('sleep', ['30'], { stdio: ['ignore', 'ignore', 'ignore', handover.input] }));
      try {
        for (const proc of [spawned, control]) {
          await waitFor(() => readFileSync(`/proc/${proc.pid}/cmdline`, 'utf8').startsWith('sleep'), 10_000, 'sleep to exec');
        }
        const inherited = fdTargets(spawned.pid as number);
        for (const target of received) assert.ok(!inherited.includes(target), `the spawned process inherited ${target}: ${inherited.join(', ')}`);
        assert.ok(fdTargets(control.pid as number).includes(received[0] as string), 'the positive control sees the fd it was given');
      } finally {
        spawned.kill('SIGKILL');
        control.kill('SIGKILL');
      }
    } finally {
      closeSync(handover.input);
      closeSync(handover.output);
      offerer.proc.kill('SIGKILL');
      await offerer.exited;
      await listener.close();
    }
  });

  it('settles abandoned when the offering process goes away, not when its stdin ends', async () => {
    const { listener, next } = await listenQueued(provider);
    const offerer = startOfferer(provider.handoverPath(listener.token));
    const handover = await next();
    const { input, close } = openHandover(handover);
    try {
      let abandoned = false;
      void handover.abandoned.then(() => (abandoned = true));
      await waitFor(() => offerer.reports.some((r) => r['handed'] === true), 10_000, 'the offerer to hand over');

      const inputEnded = new Promise<void>((resolve) => input.once('end', resolve));
      input.resume();
      offerer.proc.stdin?.end();
      await within(inputEnded, 10_000, 'end of the handed-over input');
      // Not a wait for an event but a quiet period: `abandoned` must not settle after the end of
      // stdin (a wrong one would within a few ms); the kill below settles it at once.
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(abandoned, false, 'the client closing stdin is not the offerer leaving');
      assert.ok(isAlive(offerer.proc.pid as number));

      offerer.proc.kill('SIGKILL');
      await within(handover.abandoned, 10_000, 'abandoned to settle');
      assert.equal((await offerer.exited).signal, 'SIGKILL');
    } finally {
      close();
      await listener.close();
    }
  });

  it('declines, leaving the descriptors usable, when there is no handover socket', async () => {
    const offerer = startOfferer(join(home, 'shares', 'nobody-here.stdio.sock'));
    await waitFor(() => offerer.reports.length > 0, 10_000, 'the offer to be declined');
    assert.deepEqual(offerer.reports, [{ handed: false }]);
    offerer.proc.stdin?.write('ping\n');
    await waitFor(() => offerer.stdout() === 'echo:ping\n', 10_000, 'the offerer to echo on its own stdio');
    offerer.proc.stdin?.end();
    assert.equal((await within(offerer.exited, 10_000, 'the offerer to exit')).code, 0);
  });

  it('declines, leaving the descriptors usable and keeping none, when the handler refuses', async () => {
    let calls = 0;
    const listener = await provider.listen({
      onConnection: (s) => s.destroy(),
      onStdioHandover: () => {
        calls++;
        throw new Error('not today');
      },
    });
    const offerer = startOfferer(provider.handoverPath(listener.token));
    try {
      const theirs = [0, 1].map((fd) => readlinkSync(`/proc/${offerer.proc.pid}/fd/${fd}`));
      await waitFor(() => offerer.reports.length > 0, 10_000, 'the offer to be declined');
      assert.deepEqual(offerer.reports, [{ handed: false }]);
      assert.equal(calls, 1, 'the refusal came from the handler');
      const ours = fdTargets('self');
      for (const target of theirs) assert.ok(!ours.includes(target), `the refusing side kept ${target}`);
      offerer.proc.stdin?.write('still mine\n');
      await waitFor(() => offerer.stdout() === 'echo:still mine\n', 10_000, 'the offerer to echo on its own stdio');
      offerer.proc.stdin?.end();
      assert.equal((await within(offerer.exited, 10_000, 'the offerer to exit')).code, 0);
    } finally {
      await listener.close();
    }
  });

  describe('refuses a malformed hello, keeping none of its descriptors', () => {
    let listener: ShareListener;
    let calls = 0;
    let pairServer: Server;
    let pair: Socket[] = [];
    let file: number;

    before(async () => {
      listener = await provider.listen({ onConnection: (s) => s.destroy(), onStdioHandover: () => void calls++ });
      // Two stream descriptors of our own to send: the ends of one unix socket connection.
      const pairPath = join(home, 'pair.sock');
      pairServer = createServer();
      const accepted = new Promise<Socket>((resolve) => pairServer.once('connection', resolve));
      await new Promise<void>((resolve) => pairServer.listen(pairPath, resolve));
      const client = connect(pairPath);
      await new Promise<void>((resolve) => client.once('connect', resolve));
      pair = [client, await accepted];
      file = openSync(join(home, 'plain-file'), 'w');
    });
    after(async () => {
      for (const socket of pair) socket.destroy();
      closeSync(file);
      await new Promise<void>((resolve) => pairServer.close(() => resolve()));
      await listener.close();
    });

    /** Sends `data` with `fds` (or plain bytes when null) and returns the server's reply line. */
    async function attempt(data: string, fds: number[] | null): Promise<Record<string, unknown>> {
      const socket = connect(provider.handoverPath(listener.token));
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('error', reject);
        });
        let reply = '';
        socket.on('data', (chunk: Buffer) => (reply += chunk.toString('utf8')));
        const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
        if (fds === null) socket.write(data);
        else fdPassing()?.sendFds(socketFd(socket) as number, Buffer.from(data), fds);
        await within(closed, 10_000, 'the server to close the connection');
        return JSON.parse(reply) as Record<string, unknown>;
      } finally {
        socket.destroy();
      }
    }

    const streams = (): number[] => pair.map((s) => socketFd(s) as number);
    const cases: [string, string, () => number[] | null, string][] = [
      ['one descriptor', HELLO, () => streams().slice(0, 1), 'expected exactly two descriptors (stdin, stdout)'],
      ['three descriptors', HELLO, () => [...streams(), file], 'expected exactly two descriptors (stdin, stdout)'],
      ['no descriptors', HELLO, () => null, 'expected exactly two descriptors (stdin, stdout)'],
      ['garbage', 'garbage\n', streams, 'malformed hello'],
      ['another version', `${JSON.stringify({ handover: 'stdio', version: 2 })}\n`, streams, 'unsupported handover'],
      ['regular files', HELLO, () => [file, file], 'descriptors must be pipes or sockets'],
    ];
    for (const [what, data, fds, reason] of cases) {
      it(`${what}: ${reason}`, async () => {
        const sent = fds() ?? [];
        const copies = (): number[] => sent.map((fd) => fdTargets('self').filter((t) => t === readlinkSync(`/proc/self/fd/${fd}`)).length);
        const before = copies();
        assert.deepEqual(await attempt(data, sent.length === 0 ? null : sent), { accepted: false, reason });
        assert.equal(calls, 0);
        assert.deepEqual(copies(), before, 'descriptors received with the refused hello were closed');
      });
    }
  });
});
