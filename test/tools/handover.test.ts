import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readdirSync, readlinkSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { LineSplitter } from '../../src/wire/lines.js';
import { FD_PASSING_ENV } from '../../src/share/local/handover.js';
import { FD_PASSING_SKIP } from '../helpers/addons.js';
import { EVERYTHING_BIN, binPath, descendants, isAlive, startCli, waitFor, type RunningCli, type RunningShare } from '../helpers/cli.js';
import { ShareHome, dynamicBackend, everythingBackend, stopAndReap } from '../helpers/share-home.js';

const INITIALIZE = { jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
const INITIALIZED = { jsonrpc: '2.0', method: 'notifications/initialized' };
const call = (id: number | string, name: string, args: Record<string, unknown>, meta?: object): object => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args, ...(meta === undefined ? {} : { _meta: meta }) },
});

function lines(...messages: object[]): string {
  return messages.map((m) => JSON.stringify(m)).join('\n') + '\n';
}

interface Reply {
  id?: string | number | null;
  result?: { content?: { text?: string }[] };
  error?: { code: number; message: string };
}

function reply(cli: RunningCli, id: string | number): Reply | undefined {
  return cli.stdoutLines.map((line) => JSON.parse(line) as Reply).find((r) => r.id === id);
}

async function answered(cli: RunningCli, id: string | number): Promise<Reply> {
  await waitFor(() => reply(cli, id) !== undefined, 10_000, `the answer to ${id}`);
  return reply(cli, id) as Reply;
}

/** What a process's fd points to (`/dev/null`, `socket:[123]`), or undefined once it is gone. */
function fdTarget(pid: number, fd: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/fd/${fd}`);
  } catch {
    return undefined;
  }
}

/** True once mcp-tools has handed its stdin and stdout over and kept /dev/null in their place. */
function handedOver(cli: RunningCli): boolean {
  const pid = cli.proc.pid as number;
  return fdTarget(pid, 0) === '/dev/null' && fdTarget(pid, 1) === '/dev/null';
}

/** The pino lines a gateway logged with this message. */
function logged(share: RunningShare, msg: string): { session?: string }[] {
  return share
    .stderr()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg?: string; session?: string })
    .filter((entry) => entry.msg === msg);
}

/** What mcp-tools logs at debug level once it has handed its stdio over. */
const HANDED_OVER = 'stdin and stdout handed over to the share';

/** The JSON lines of a `--log-level debug` mcp-tools's stderr (its one-line errors left out). */
function debugLog(cli: RunningCli): { level: number; msg: string }[] {
  return cli
    .stderr()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: number; msg: string });
}

/** Resolves when the child's stdio streams have all closed (its pipes have no writer left). */
function stdioClosed(cli: RunningCli): Promise<void> {
  return new Promise((resolve) => cli.proc.once('close', () => resolve()));
}

const within = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms).unref())]);

// Our dynamic fixture behind the gateway: it exits as soon as its stdin ends, where
// server-everything, initialized by the gateway's discovery, waits for SIGTERM (2 s at every
// start). A call in flight at a stop is cut at once: its grace only delays the answer.
const gatewayConfig = (backend = dynamicBackend('dyn')): string => `shutdown_grace: 100ms\nbackends:\n${backend}`;

describe('mcp-tools run hands its stdio over to a local gateway', { skip: FD_PASSING_SKIP ?? false }, () => {
  let home: ShareHome;
  let env: NodeJS.ProcessEnv;
  let config: { file: string };
  let gateway: RunningShare;
  const clis: RunningCli[] = [];

  const start = (args: string[]): RunningCli => {
    const cli = startCli('mcp-tools', args, env);
    clis.push(cli);
    return cli;
  };

  before(async () => {
    home = await ShareHome.create('handover-e2e');
    env = home.env;
    config = { file: await home.writeConfig(gatewayConfig()) };
    gateway = await home.startGateway(config);
  });

  after(async () => {
    for (const cli of clis) if (cli.proc.exitCode === null && cli.proc.signalCode === null) cli.proc.kill('SIGKILL');
    await Promise.all(clis.map((cli) => cli.exited));
    await home.cleanup();
  });

  it('serves the share with mcp-tools out of the data path: its fds 0 and 1 are /dev/null', async () => {
    assert.ok(existsSync(join(home.dir, 'shares', `${gateway.token}.stdio.sock`)), 'the gateway offers a handover socket');
    const cli = start(['run', gateway.token, '--log-level', 'debug']);
    cli.proc.stdin?.write(lines(INITIALIZE, INITIALIZED, call(1, 'dyn_echo', { text: 'first' })));
    assert.ok((await answered(cli, 'init')).result !== undefined);
    await waitFor(() => handedOver(cli), 10_000, 'mcp-tools to replace its stdin and stdout by /dev/null');
    assert.equal((await answered(cli, 1)).result?.content?.[0]?.text, 'first');
    // Asked after the handover: only the gateway can be answering.
    cli.proc.stdin?.write(lines(call(2, 'dyn_echo', { text: 'second' })));
    assert.equal((await answered(cli, 2)).result?.content?.[0]?.text, 'second');
    assert.ok(isAlive(cli.proc.pid as number), 'mcp-tools waits for the session to end');
    cli.proc.stdin?.end();
    const { code } = await within(cli.exited, 10_000, 'mcp-tools to exit');
    assert.equal(code, 0);
    assert.doesNotMatch(cli.stderr(), /mcp-tools:/);
    assert.ok(debugLog(cli).some((entry) => entry.msg === HANDED_OVER), 'the debug log says so (what the relay tests rely on)');
  });

  it('gives the gateway the client’s own pipes, which a backend it spawns afterwards does not inherit', async () => {
    // Named pipes, so that every process's copy of them reads back as the same path.
    const inPath = join(home.dir, 'client-in.fifo');
    const outPath = join(home.dir, 'client-out.fifo');
    execFileSync('mkfifo', [inPath, outPath]);
    const childIn = openSync(inPath, constants.O_RDONLY | constants.O_NONBLOCK);
    const toClient = new Socket({ fd: openSync(inPath, constants.O_WRONLY), readable: false, writable: true });
    const fromClient = new Socket({ fd: openSync(outPath, constants.O_RDONLY | constants.O_NONBLOCK), readable: true, writable: false });
    const childOut = openSync(outPath, constants.O_WRONLY);
    const proc = spawn(process.execPath, [binPath('mcp-tools'), 'run', gateway.token], { env: { ...process.env, ...env }, stdio: [childIn, childOut, 'ignore'] });
    closeSync(childIn);
    closeSync(childOut);
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    const cli: RunningCli = { proc, stdoutLines: [], stderr: () => '', exited: exited.then((code) => ({ code, signal: null })) };
    clis.push(cli);
    const splitter = new LineSplitter();
    fromClient.on('data', (chunk: Buffer) => splitter.push(chunk, (line) => cli.stdoutLines.push(line.toString('utf8'))));
    const pid = gateway.proc.pid as number;
    const backendsBefore = new Set(descendants(pid));
    try {
      toClient.write(lines(INITIALIZE, INITIALIZED, call(1, 'dyn_echo', { text: 'through fifos' })));
      assert.equal((await answered(cli, 1)).result?.content?.[0]?.text, 'through fifos');
      await waitFor(() => handedOver(cli), 10_000, 'the handover');
      const fifos = [inPath, outPath];
      const held = (p: number): string[] => readdirSync(`/proc/${p}/fd`).map((fd) => fdTarget(p, Number(fd)) ?? '');
      assert.deepEqual(fifos.filter((f) => held(pid).includes(f)), fifos, 'the gateway reads and writes the client’s pipes itself');
      const backends = descendants(pid).filter((child) => !backendsBefore.has(child));
      assert.ok(backends.length > 0, 'the call started a session backend');
      for (const backend of backends) assert.deepEqual(fifos.filter((f) => held(backend).includes(f)), [], `backend ${backend} inherited the client’s pipes`);
      toClient.end();
      assert.equal(await within(exited, 10_000, 'mcp-tools to exit'), 0);
    } finally {
      toClient.destroy();
      fromClient.destroy();
    }
  });

  it('relays as before with --no-handover: fd 0 stays a pipe or socket', async () => {
    const cli = start(['run', gateway.token, '--no-handover']);
    cli.proc.stdin?.write(lines(INITIALIZE, INITIALIZED, call(1, 'dyn_echo', { text: 'relayed' })));
    assert.equal((await answered(cli, 1)).result?.content?.[0]?.text, 'relayed');
    const pid = cli.proc.pid as number;
    assert.match(fdTarget(pid, 0) ?? 'gone', /^(socket|pipe):\[\d+\]$/);
    assert.match(fdTarget(pid, 1) ?? 'gone', /^(socket|pipe):\[\d+\]$/);
    cli.proc.stdin?.end();
    assert.equal((await within(cli.exited, 10_000, 'mcp-tools to exit')).code, 0);
  });

  it(`relays when ${FD_PASSING_ENV}=0 turns the handover off, on either side`, async () => {
    const off = { ...env, [FD_PASSING_ENV]: '0' };
    const bridge = await home.startBridge([process.execPath, EVERYTHING_BIN, 'stdio'], off);
    assert.ok(!readdirSync(join(home.dir, 'shares')).includes(`${bridge.token}.stdio.sock`), 'the bridge offers no handover');
    // At debug level mcp-tools logs the handover, decided before it relays anything; its log is
    // flushed at exit. (A handed-over client moves its fds to /dev/null only just after the share
    // took them, which can be after the first answer: the fds alone would need a wait.)
    const debug = ['--log-level', 'debug'];
    const clients = [start(['run', bridge.token, ...debug]), startCli('mcp-tools', ['run', gateway.token, ...debug], off)];
    clis.push(clients[1] as RunningCli);
    // The bridge serves server-everything, the gateway our fixture.
    const echoes = [[call(1, 'echo', { message: 'off' }), 'Echo: off'], [call(1, 'dyn_echo', { text: 'off' }), 'off']] as const;
    for (const [i, cli] of clients.entries()) {
      const [request, answer] = echoes[i] as (typeof echoes)[number];
      cli.proc.stdin?.write(lines(INITIALIZE, INITIALIZED, request));
      assert.equal((await answered(cli, 1)).result?.content?.[0]?.text, answer);
      assert.match(fdTarget(cli.proc.pid as number, 0) ?? 'gone', /^(socket|pipe):\[\d+\]$/);
      cli.proc.stdin?.end();
      assert.equal((await within(cli.exited, 10_000, 'mcp-tools to exit')).code, 0);
      const log = debugLog(cli);
      assert.ok(log.some((entry) => entry.msg === 'share dialled'), cli.stderr());
      assert.ok(!log.some((entry) => entry.msg === HANDED_OVER), 'no handover');
      assert.deepEqual(log.filter((entry) => entry.level > 20), [], 'nothing above debug');
    }
  });

  it('answers a slow call asked just before stdin closed, then exits 0', async () => {
    const cli = start(['run', gateway.token]);
    const closed = stdioClosed(cli);
    cli.proc.stdin?.end(lines(INITIALIZE, INITIALIZED, call('slow', 'dyn_sleep', { ms: 600 })));
    await waitFor(() => handedOver(cli), 10_000, 'the handover');
    const { code } = await within(cli.exited, 10_000, 'mcp-tools to exit');
    assert.equal(code, 0, cli.stderr());
    await within(closed, 10_000, 'the client side of the pipes to close');
    assert.equal(reply(cli, 'slow')?.result?.content?.[0]?.text, 'slept 600');
  });

  it('ends the session on the gateway, and its backend, when mcp-tools is killed', async () => {
    const pid = gateway.proc.pid as number;
    const opened = new Set(logged(gateway, 'session opened').map((e) => e.session));
    const backendsBefore = new Set(descendants(pid));
    const cli = start(['run', gateway.token]);
    const closed = stdioClosed(cli);
    cli.proc.stdin?.write(lines(INITIALIZE, INITIALIZED, call(1, 'dyn_echo', { text: 'x' })));
    await answered(cli, 1);
    await waitFor(() => handedOver(cli), 10_000, 'the handover');
    const session = logged(gateway, 'session opened').find((e) => !opened.has(e.session))?.session;
    assert.ok(session !== undefined, 'the gateway logged the new session');
    const backends = descendants(pid).filter((child) => !backendsBefore.has(child));
    assert.ok(backends.length > 0, 'the session started its own backend');

    // stdin stays open, and SIGKILL leaves mcp-tools no last word: only its control socket,
    // closed by the kernel, tells the gateway that it is gone.
    cli.proc.kill('SIGKILL');
    assert.equal((await within(cli.exited, 10_000, 'mcp-tools to die')).signal, 'SIGKILL');
    await waitFor(() => logged(gateway, 'session closed').some((e) => e.session === session), 10_000, `'session closed' for ${session}`);
    await waitFor(() => backends.every((child) => !isAlive(child)), 10_000, 'the session backend to exit');
    // The gateway held the last copy of the client's stdout; releasing it ends the stream.
    await within(closed, 10_000, 'the client side of the pipes to close');
  });

  /**
   * A gateway of its own, and a client handed over to it with a 30 s call (`id`) at its backend:
   * our fixture, or server-everything, which goes on with a call when its stdin ends. Returns once
   * the backend has sent the call's first progress: a process counted before then could be the
   * gateway's fork that is yet to become the parent guard (not counted) of the backend.
   */
  async function callInFlight(id: number, backend: 'dyn' | 'everything' = 'dyn'): Promise<{ doomed: RunningShare; cli: RunningCli }> {
    const doomed = await home.startGateway(backend === 'dyn' ? config : gatewayConfig(everythingBackend('ev')));
    await waitFor(() => descendants(doomed.proc.pid as number).length === 0, 10_000, 'discovery to finish');
    const cli = start(['run', doomed.token]);
    const progressToken = `progress-${id}`;
    const long =
      backend === 'dyn'
        ? call(id, 'dyn_sleep', { ms: 30_000 }, { progressToken })
        : call(id, 'ev_trigger-long-running-operation', { duration: 30, steps: 60 }, { progressToken });
    cli.proc.stdin?.write(lines(INITIALIZE, INITIALIZED, long));
    await answered(cli, 'init');
    await waitFor(() => handedOver(cli), 10_000, 'the handover');
    // The call has reached the backend before the gateway starts stopping.
    const progressed = (): boolean =>
      cli.stdoutLines.some((line) => (JSON.parse(line) as { params?: { progressToken?: unknown } }).params?.progressToken === progressToken);
    await waitFor(progressed, 10_000, 'the call to report progress');
    return { doomed, cli };
  }

  it('answers a call in flight with -32000 when the gateway stops, and exits 1', async () => {
    const { doomed, cli } = await callInFlight(99);
    await stopAndReap(doomed);
    const { code } = await within(cli.exited, 10_000, 'mcp-tools to exit');
    assert.equal(code, 1);
    const failure = reply(cli, 99);
    assert.equal(failure?.error?.code, -32000, JSON.stringify(failure));
    assert.match(failure?.error?.message ?? '', /the gateway is shutting down/);
    assert.match(cli.stderr(), new RegExp(`mcp-tools: share '${doomed.token}' closed the session`));
  });

  it('exits 1 when the gateway dies without ending the session', async () => {
    const doomed = await home.startGateway(config);
    const cli = start(['run', doomed.token]);
    const closed = stdioClosed(cli);
    cli.proc.stdin?.write(lines(INITIALIZE, INITIALIZED, call(1, 'dyn_echo', { text: 'x' })));
    await answered(cli, 1);
    await waitFor(() => handedOver(cli), 10_000, 'the handover');
    const orphans = descendants(doomed.proc.pid as number);
    try {
      doomed.proc.kill('SIGKILL');
      const { code } = await within(cli.exited, 10_000, 'mcp-tools to exit');
      assert.equal(code, 1);
      assert.match(cli.stderr(), /mcp-tools: the share went away without ending the session/);
      await within(closed, 10_000, 'the client side of the pipes to close');
    } finally {
      for (const child of orphans) if (isAlive(child)) process.kill(child, 'SIGKILL');
    }
  });

  it('answers a session refused by max_sessions and exits 1', async () => {
    const small = await home.startGateway(`max_sessions: 1\n${gatewayConfig()}`);
    const first = start(['run', small.token]);
    first.proc.stdin?.write(lines(INITIALIZE));
    await answered(first, 'init');
    await waitFor(() => handedOver(first), 10_000, 'the first handover');
    const second = start(['run', small.token]);
    second.proc.stdin?.write(lines(INITIALIZE));
    const { code } = await within(second.exited, 10_000, 'the refused mcp-tools to exit');
    assert.equal(code, 1);
    assert.match(reply(second, 'init')?.error?.message ?? '', /maximum of 1 sessions/);
    assert.match(second.stderr(), /^mcp-tools: share '[a-z0-9]+' closed the session\n$/);
    first.proc.stdin?.end();
    assert.equal((await within(first.exited, 10_000, 'mcp-tools to exit')).code, 0);
  });

  for (const mode of ['handover', 'relay'] as const) {
    it(`exits 1 with one line on stderr when the client stops reading its stdout (${mode})`, async () => {
      const cli = start(['run', gateway.token, ...(mode === 'relay' ? ['--no-handover'] : [])]);
      cli.proc.stdin?.write(lines(INITIALIZE, INITIALIZED));
      await answered(cli, 'init');
      if (mode === 'handover') await waitFor(() => handedOver(cli), 10_000, 'the handover');
      const stdout = cli.proc.stdout as NodeJS.ReadableStream;
      const readEndClosed = once(stdout, 'close');
      cli.proc.stdout?.destroy();
      await readEndClosed; // our end of the pipe is gone: the answer can only fail to be written
      cli.proc.stdin?.write(lines(call(1, 'dyn_echo', { text: 'nobody reads this' })));
      const { code } = await within(cli.exited, 10_000, 'mcp-tools to exit');
      assert.equal(code, 1);
      assert.match(cli.stderr(), /^mcp-tools: [^\n]+\n$/);
    });
  }

  it('leaves no backend running after stopping with a call in flight, even one that outlives its stdin', async () => {
    const { doomed } = await callInFlight(5, 'everything');
    const backends = descendants(doomed.proc.pid as number);
    assert.ok(backends.length > 0, 'the call runs in a backend');
    try {
      assert.equal((await doomed.stop()).code, 0);
      await waitFor(() => backends.every((pid) => !isAlive(pid)), 10_000, 'the session backend to exit');
    } finally {
      for (const pid of backends) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  it('hands the client to the bridge\'s own server process; --no-handover relays', async () => {
    const bridge = await home.startBridge([process.execPath, EVERYTHING_BIN, 'stdio']);
    assert.ok(readdirSync(join(home.dir, 'shares')).includes(`${bridge.token}.stdio.sock`), 'a bridge offers the handover');
    for (const relay of [false, true]) {
      const cli = start(['run', bridge.token, ...(relay ? ['--no-handover'] : [])]);
      cli.proc.stdin?.write(lines(INITIALIZE, INITIALIZED, call(1, 'echo', { message: 'bridged' })));
      assert.equal((await answered(cli, 1)).result?.content?.[0]?.text, 'Echo: bridged');
      if (relay) assert.match(fdTarget(cli.proc.pid as number, 0) ?? 'gone', /^(socket|pipe):\[\d+\]$/);
      else await waitFor(() => handedOver(cli), 10_000, 'the handover');
      cli.proc.stdin?.end();
      assert.equal((await within(cli.exited, 10_000, 'mcp-tools to exit')).code, 0);
      assert.equal(cli.stderr(), '');
    }
  });

  /** A bridge in front of server-everything, and an mcp-tools session handed over to it. */
  const handedOverToBridge = async (): Promise<{ bridge: RunningShare; cli: RunningCli }> => {
    const bridge = await home.startBridge([process.execPath, EVERYTHING_BIN, 'stdio']);
    const cli = start(['run', bridge.token]);
    cli.proc.stdin?.write(lines(INITIALIZE, INITIALIZED));
    await answered(cli, 'init');
    await waitFor(() => handedOver(cli), 10_000, 'the handover');
    return { bridge, cli };
  };

  it('ends a bridged session with exit 1 when the bridge stops', async () => {
    const { bridge, cli } = await handedOverToBridge();
    await stopAndReap(bridge);
    assert.equal((await within(cli.exited, 10_000, 'mcp-tools to exit')).code, 1);
    assert.match(cli.stderr(), /^mcp-tools: share '[a-z0-9]+' closed the session\n$/);
  });

  it('says why a bridged session ended when its server process died', async () => {
    const { bridge, cli } = await handedOverToBridge();
    const [server] = descendants(bridge.proc.pid as number);
    assert.ok(server !== undefined, 'the session has a server process');
    process.kill(server, 'SIGKILL');
    assert.equal((await within(cli.exited, 10_000, 'mcp-tools to exit')).code, 1);
    assert.equal(cli.stderr(), `mcp-tools: share '${bridge.token}' closed the session ('${process.execPath}' was killed by SIGKILL)\n`);
  });
});
