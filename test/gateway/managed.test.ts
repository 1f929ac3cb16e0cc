import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FakeOrchestrator } from '../fixtures/orchestrator.js';
import { connectThroughTools, waitFor, type RunningShare } from '../helpers/cli.js';
import { ShareHome, dynamicBackend } from '../helpers/share-home.js';

describe('managed mode: mcp-gateway run under an orchestrator', () => {
  let home: ShareHome;
  let logFile: string;
  let orchestrator: FakeOrchestrator;
  let gateway: RunningShare;

  before(async () => {
    home = await ShareHome.create('managed');
    logFile = join(home.dir, 'logs', 'gateway.log');
    orchestrator = new FakeOrchestrator(join(home.dir, 'orchestrator.sock'));
    await orchestrator.start();
    const orchestrated = `orchestrator:\n  socket_path: "${orchestrator.socketPath}"\n  heartbeat_interval: 200ms\n`;
    gateway = await home.startGateway(`share_token: managed-gw\n${orchestrated}log_file: "${logFile}"\nbackends:\n${dynamicBackend('dyn')}`);
  });

  after(async () => {
    await home.cleanup();
    await orchestrator.stop();
  });

  it('serves the share token it was given and registers with its pid', async () => {
    assert.equal(gateway.token, 'managed-gw');
    const register = await orchestrator.waitForKind('register');
    assert.deepEqual(register.register, { share_token: 'managed-gw', pid: gateway.proc.pid });
    await orchestrator.waitFor((m) => m.status?.state === 'running');
    const states = orchestrator.ofKind('status').map((m) => m.status?.state);
    assert.deepEqual(states.slice(0, 2), ['starting', 'running']);
  });

  it('writes its logs to log_file, not stderr', async () => {
    await waitFor(async () => (await readFile(logFile, 'utf8').catch(() => '')).includes('serving'), 5_000, 'log file');
    assert.doesNotMatch(gateway.stderr(), /"msg"/);
  });

  it('reports heartbeat counters that move', async () => {
    const { client } = await connectThroughTools(gateway.token, home.env);
    await client.callTool({ name: 'dyn_echo', arguments: { text: 'a' } });
    await client.callTool({ name: 'dyn_echo', arguments: { text: 'b' } });
    const since = orchestrator.received.length;
    const beat = await orchestrator.waitFor((m) => (m.heartbeat?.tool_invocations ?? 0) >= 2, since);
    assert.equal(beat.heartbeat?.active_connections, 1);
    await client.close();
    await orchestrator.waitFor((m) => m.heartbeat !== undefined && m.heartbeat.active_connections === 0, orchestrator.received.length);
  });

  it('answers ping with pong and its version', async () => {
    const since = orchestrator.received.length;
    orchestrator.ping();
    const pong = await orchestrator.waitForKind('pong', since);
    assert.match(pong.pong?.version ?? '', /^\d+\.\d+\.\d+/);
  });

  it('survives an orchestrator restart and registers again', async () => {
    await orchestrator.stop();
    const since = orchestrator.received.length;
    await orchestrator.start();
    await orchestrator.waitForKind('register', since, 15_000);
    assert.equal(gateway.proc.exitCode, null, 'the gateway kept serving');
  });

  it('acknowledges an orchestrator shutdown and stops gracefully', async () => {
    const since = orchestrator.received.length;
    orchestrator.shutdown('maintenance');
    const ack = await orchestrator.waitForKind('shutdown_ack', since);
    assert.equal(ack.shutdown_ack?.accepted, true);
    const { code } = await gateway.exited;
    assert.equal(code, 0);
    assert.ok(orchestrator.received.slice(since).some((m) => m.status?.state === 'stopping'));
  });
});
