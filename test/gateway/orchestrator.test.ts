import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { OrchestratorClient, loadGatewayIpc, type OrchestratorClientOptions, type OrchestratorCounters } from '../../src/gateway/orchestrator.js';
import { FakeOrchestrator } from '../fixtures/orchestrator.js';
import { waitFor } from '../helpers/cli.js';

const TOKEN = 'managed-share-k3v9x0';
const home = await mkdtemp(join(tmpdir(), 'mcpgw-orch-'));
const clients: OrchestratorClient[] = [];
const doubles: FakeOrchestrator[] = [];
let sockets = 0;

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.stop()));
  await Promise.all(doubles.splice(0).map((double) => double.stop()));
});
after(() => rm(home, { recursive: true, force: true }));

interface LogLine {
  level: number;
  msg: string;
}

/** A debug-level logger whose JSON lines are kept for assertions. */
function captureLogger(): { logger: OrchestratorClientOptions['logger']; lines: LogLine[]; raw: string[] } {
  const lines: LogLine[] = [];
  const raw: string[] = [];
  const logger = pino({ level: 'trace' }, {
    write: (chunk: string) => {
      raw.push(chunk);
      lines.push(JSON.parse(chunk) as LogLine);
    },
  });
  return { logger, lines, raw };
}

const WARN = 40;

/** Failed connection attempts the client logged: one warning per outage, then a debug line per retry. */
function failedAttempts(lines: LogLine[]): number {
  const failure = /^(orchestrator unreachable|lost the orchestrator|orchestrator still unreachable)/;
  return lines.filter((l) => failure.test(l.msg)).length;
}

/** The retry pace of the tests that wait for retries: short, so that several take little time. */
const FAST_RETRY_MS = 50;

async function orchestrator(start = true): Promise<FakeOrchestrator> {
  const double = new FakeOrchestrator(join(home, `o${++sockets}.sock`));
  doubles.push(double);
  if (start) await double.start();
  return double;
}

function client(double: FakeOrchestrator, overrides: Partial<OrchestratorClientOptions> = {}): OrchestratorClient {
  const made = new OrchestratorClient({
    socketPath: double.socketPath,
    shareToken: TOKEN,
    heartbeatIntervalMs: 60_000,
    version: '1.2.3-test',
    logger: captureLogger().logger,
    counters: () => ({ activeConnections: 0, toolInvocations: 0 }),
    onShutdown: () => undefined,
    reconnectMs: 200,
    ...overrides,
  });
  clients.push(made);
  return made;
}

describe('OrchestratorClient against a GatewayIPC test double', () => {
  it('registers with the share token and its pid', async () => {
    const double = await orchestrator();
    client(double).start();
    const message = await double.waitForKind('register');
    assert.deepEqual(message.register, { share_token: TOKEN, pid: process.pid });
    assert.equal(double.received[0]?.payload, 'register', 'register is the first message on the stream');
  });

  it('heartbeats at the configured interval with counters that move', async () => {
    const double = await orchestrator();
    let n = 0;
    const counters = (): OrchestratorCounters => {
      n++;
      return { activeConnections: n, toolInvocations: n * 10 };
    };
    client(double, { heartbeatIntervalMs: 100, counters }).start();
    await double.waitFor(() => double.ofKind('heartbeat').length >= 3);
    const beats = double.ofKind('heartbeat').map((message) => message.heartbeat);
    assert.deepEqual(beats.slice(0, 3), [
      { share_token: TOKEN, active_connections: 1, tool_invocations: 10 },
      { share_token: TOKEN, active_connections: 2, tool_invocations: 20 },
      { share_token: TOKEN, active_connections: 3, tool_invocations: 30 },
    ]);
  });

  it('answers ping with pong carrying its version', async () => {
    const double = await orchestrator();
    client(double).start();
    await double.waitForKind('register');
    double.ping();
    const message = await double.waitForKind('pong');
    assert.deepEqual(message.pong, { version: '1.2.3-test' });
  });

  it('acknowledges an orchestrator shutdown, then hands the reason over once', async () => {
    const double = await orchestrator();
    const reasons: string[] = [];
    let signalled!: () => void;
    const called = new Promise<void>((resolve) => (signalled = resolve));
    client(double, {
      onShutdown: (reason) => {
        reasons.push(reason);
        signalled();
      },
    }).start();
    await double.waitForKind('register');
    double.shutdown('scaling down');
    const ack = await double.waitForKind('shutdown_ack');
    assert.deepEqual(ack.shutdown_ack, { accepted: true });
    await called;
    double.shutdown('again');
    await double.waitFor(() => double.ofKind('shutdown_ack').length === 2);
    assert.deepEqual(reasons, ['scaling down'], 'a repeated shutdown is acknowledged but not signalled twice');
  });

  it('reports starting → running → stopping in order, and flushes stopping before stop() ends the stream', async () => {
    const double = await orchestrator();
    const gateway = client(double);
    gateway.setStatus('starting');
    gateway.start();
    await double.waitFor((m) => m.status?.state === 'starting');
    gateway.setStatus('running');
    gateway.setStatus('stopping');
    await gateway.stop();
    await double.waitFor((m) => m.status?.state === 'stopping');
    assert.deepEqual(
      double.received.map((m) => m.payload),
      ['register', 'status', 'status', 'status'],
    );
    assert.deepEqual(
      double.ofKind('status').map((m) => m.status),
      [
        { share_token: TOKEN, state: 'starting', error: '' },
        { share_token: TOKEN, state: 'running', error: '' },
        { share_token: TOKEN, state: 'stopping', error: '' },
      ],
    );
    assert.equal(double.streams, 0, 'the stream was closed');
  });

  it('sends the error with a failed status', async () => {
    const double = await orchestrator();
    const gateway = client(double);
    gateway.start();
    await double.waitForKind('register');
    gateway.setStatus('failed', 'no backend answered');
    const message = await double.waitForKind('status');
    assert.deepEqual(message.status, { share_token: TOKEN, state: 'failed', error: 'no backend answered' });
  });

  it('keeps retrying while the orchestrator is absent, warns once, and connects when it appears', async () => {
    const double = await orchestrator(false);
    const log = captureLogger();
    const gateway = client(double, { logger: log.logger, reconnectMs: FAST_RETRY_MS });
    gateway.setStatus('running');
    assert.doesNotThrow(() => gateway.start());
    await waitFor(() => failedAttempts(log.lines) >= 4, 5_000, 'four failed attempts');
    assert.equal(log.lines.filter((l) => l.level === WARN).length, 1, 'one warning for the whole outage');
    await double.start();
    const register = await double.waitForKind('register');
    assert.deepEqual(register.register, { share_token: TOKEN, pid: process.pid });
    const status = await double.waitForKind('status');
    assert.equal(status.status?.state, 'running', 'the remembered status follows register');
    await waitFor(() => log.lines.some((l) => l.msg === 'connected to the orchestrator'), 5_000, 'the connected log line');
    assert.ok(!log.raw.some((line) => line.includes(TOKEN)), 'the share token never appears in the logs');
  });

  it('survives an orchestrator restart on the same socket: re-registers and re-sends its status', async () => {
    const double = await orchestrator();
    const log = captureLogger();
    const gateway = client(double, { logger: log.logger, reconnectMs: FAST_RETRY_MS });
    gateway.start();
    gateway.setStatus('running');
    await double.waitFor((m) => m.status?.state === 'running');
    const marker = double.received.length;

    await double.stop();
    await waitFor(() => failedAttempts(log.lines) >= 3, 5_000, 'several failed attempts while it is gone');
    await double.start();

    const register = await double.waitForKind('register', marker);
    assert.deepEqual(register.register, { share_token: TOKEN, pid: process.pid });
    const status = await double.waitForKind('status', marker);
    assert.equal(status.status?.state, 'running');
    const again = double.received.slice(marker).map((m) => m.payload);
    assert.deepEqual(again.slice(0, 2), ['register', 'status'], 'register comes first on the new stream');
    await waitFor(() => log.lines.some((l) => l.msg === 'reconnected to the orchestrator'), 5_000, 'the reconnected log line');
    assert.equal(log.lines.filter((l) => l.level === WARN).length, 1, 'one warning for the outage');
  });

  it('stops retrying after stop()', async () => {
    const double = await orchestrator(false);
    const log = captureLogger();
    const gateway = client(double, { logger: log.logger, reconnectMs: FAST_RETRY_MS });
    gateway.start();
    await waitFor(() => failedAttempts(log.lines) >= 2, 5_000, 'the client to be retrying');
    await gateway.stop();
    // A second client retrying at the same pace is the clock: once it has connected and then
    // heartbeated (four retry periods later), the stopped one would have connected too.
    const pace = { reconnectMs: FAST_RETRY_MS, heartbeatIntervalMs: 4 * FAST_RETRY_MS };
    const control = client(double, { shareToken: 'control-token', ...pace });
    control.start();
    await double.start();
    await double.waitForKind('heartbeat');
    const tokens = double.received.map((m) => m.register?.share_token ?? m.heartbeat?.share_token ?? m.status?.share_token);
    assert.deepEqual([...new Set(tokens)], ['control-token'], 'only the client still running reached the orchestrator');
  });
});

// Hand-computed protobuf bytes for the Go gateway's ipc/gatewayGrpc/gateway.proto: a renumbered
// field or a package line in our .proto would break a real orchestrator, so pin the wire here.
describe('GatewayIPC wire format', () => {
  const { connect } = loadGatewayIpc();
  const hex = (bytes: Buffer): string => bytes.toString('hex');

  it('calls /GatewayIPC/Connect as a bidirectional stream', () => {
    assert.equal(connect.path, '/GatewayIPC/Connect');
    assert.equal(connect.requestStream, true);
    assert.equal(connect.responseStream, true);
  });

  it('encodes gateway messages with the original field numbers', () => {
    assert.equal(hex(connect.requestSerialize({ register: { share_token: 'ab', pid: 42 } })), '0a060a026162102a');
    assert.equal(hex(connect.requestSerialize({ heartbeat: { share_token: 'ab', active_connections: 3, tool_invocations: 300 } })), '12090a0261621003' + '18ac02');
    assert.equal(hex(connect.requestSerialize({ status: { share_token: 'ab', state: 'running' } })), '1a0d0a0261621207' + Buffer.from('running').toString('hex'));
    assert.equal(hex(connect.requestSerialize({ pong: { version: '1' } })), '22030a0131');
    assert.equal(hex(connect.requestSerialize({ shutdown_ack: { accepted: true } })), '2a020801');
  });

  it('decodes orchestrator messages with the original field numbers', () => {
    const decode = (h: string): unknown => connect.responseDeserialize(Buffer.from(h, 'hex'));
    assert.deepEqual(decode('0a020801'), { register_response: { accepted: true, error: '' }, payload: 'register_response' });
    assert.deepEqual(decode('1200'), { heartbeat_ack: {}, payload: 'heartbeat_ack' });
    assert.deepEqual(decode('1a00'), { ping: {}, payload: 'ping' });
    assert.deepEqual(decode('22030a0178'), { shutdown: { reason: 'x' }, payload: 'shutdown' });
  });
});
