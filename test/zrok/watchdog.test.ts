import assert from 'node:assert/strict';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FakeOrchestrator } from '../fixtures/orchestrator.js';
import { ZROK2_STANDIN, enabledHome, runZrok2, settledStandins, shareRecord, standinProcesses } from '../fixtures/zrok2/harness.js';
import { runCli, startBridge, startGateway, waitFor, type RunningShare } from '../helpers/cli.js';
import { DYNAMIC_FIXTURE, dynamicBackend } from '../helpers/share-home.js';

// The listener watchdog (the original's resilience design): when the zrok2 serving a share dies,
// the share is rebuilt on the same token and clients get in again; when it cannot be, a
// standalone gateway exits non-zero and a managed one keeps trying and reports `failed`.
describe('share listener watchdog over the zrok2 stand-in', () => {
  let root: string;
  let home: string;
  let failFlag: string;
  let env: NodeJS.ProcessEnv;
  const shares: RunningShare[] = [];
  const RESILIENCE = 'resilience: {poll_interval: 100ms, max_rebuild_failures: 3, heartbeat_interval: 200ms}\n';

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mcpgw-watchdog-'));
    home = await enabledHome(root, 'owner');
    failFlag = join(root, 'zrok-api-down');
    env = { ZROK2_BIN: ZROK2_STANDIN, HOME: home, MCP_GATEWAY_HOME: join(home, '.mcp-gateway'), MCP_SHARE_PROVIDER: 'zrok', ZROK2_STANDIN_FAIL_IF_EXISTS: failFlag };
  });

  after(async () => {
    await Promise.allSettled(shares.map((s) => s.stop()));
    assert.deepEqual(await settledStandins(home, 10_000), [], 'no zrok2 left behind');
    await rm(root, { recursive: true, force: true });
  });

  /** The pid of the one `zrok2 share private` serving now. */
  const servingZrok = async (): Promise<number> => {
    const serving = (await standinProcesses(home)).filter((p) => p.args[0] === 'share');
    assert.equal(serving.length, 1, JSON.stringify(serving));
    return (serving[0] as { pid: number }).pid;
  };
  const echo = async (token: string, tool: string): Promise<string> => {
    const result = await runCli('mcp-tools', ['call', token, tool, '{"text":"again"}'], env);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout;
  };
  const lines = (share: RunningShare, msg: string): number => share.stderr().split('\n').filter((l) => l.includes(`"msg":"${msg}"`)).length;

  it('rebuilds a share whose zrok2 was killed on the same token; clients get in again; the heartbeat says so', async () => {
    const config = join(root, 'rebuild.yml');
    await writeFile(config, `${RESILIENCE}backends:\n${dynamicBackend('dyn')}`);
    const gateway = await startGateway(config, env);
    shares.push(gateway);
    assert.equal(await echo(gateway.token, 'dyn_echo'), 'again');

    // SIGKILL: zrok2 dies without deleting the share (it stays on the network, unserved).
    const first = await servingZrok();
    process.kill(first, 'SIGKILL');
    await waitFor(() => lines(gateway, 'share listener rebuilt') === 1, 15_000, 'the rebuild');
    assert.notEqual(await servingZrok(), first);
    assert.equal(await echo(gateway.token, 'dyn_echo'), 'again');

    // SIGTERM: zrok2 deletes the ephemeral share as it goes; it is created again, same token.
    process.kill(await servingZrok(), 'SIGTERM');
    await waitFor(() => lines(gateway, 'share listener rebuilt') === 2, 15_000, 'the second rebuild');
    assert.equal(await echo(gateway.token, 'dyn_echo'), 'again');
    await waitFor(() => /"msg":"gateway alive"/.test(gateway.stderr()), 5_000, 'a heartbeat');
    assert.match(gateway.stderr(), /"sessions":\d+,"calls":\d+,"share":\{"generation":2,"rebuilds":2/);

    assert.equal((await gateway.stop()).code, 0);
    assert.equal(await shareRecord(home, gateway.token), undefined, 'a share we created is deleted at the end, rebuilt or not');
  });

  it('exits non-zero after max_rebuild_failures when the share cannot be rebuilt (standalone)', async () => {
    const config = join(root, 'fail.yml');
    await writeFile(config, `${RESILIENCE}backends:\n${dynamicBackend('dyn')}`);
    const gateway = await startGateway(config, env);
    shares.push(gateway);
    await writeFile(failFlag, '');
    try {
      process.kill(await servingZrok(), 'SIGKILL');
      const { code } = await gateway.exited;
      assert.equal(code, 1);
      assert.equal(lines(gateway, 'share listener rebuild failed'), 3, gateway.stderr());
      assert.match(gateway.stderr(), /share listener unrecoverable, shutting down for restart/);
    } finally {
      await unlink(failFlag);
    }
    // The share leaked by the SIGKILL is the test's to remove.
    await runZrok2(['delete', 'share', gateway.token], home);
  });

  it('managed: keeps retrying, reports failed, then running again once the share is back', async () => {
    const orchestrator = new FakeOrchestrator(join(root, 'orchestrator.sock'));
    await orchestrator.start();
    try {
      assert.equal((await runZrok2(['create', 'share', '--share-token', 'managed-wd'], home)).code, 0);
      const config = join(root, 'managed.yml');
      await writeFile(config, `share_token: managed-wd\norchestrator: {socket_path: "${orchestrator.socketPath}", heartbeat_interval: 200ms}\n${RESILIENCE}backends:\n${dynamicBackend('dyn')}`);
      const gateway = await startGateway(config, env);
      shares.push(gateway);
      await orchestrator.waitFor((m) => m.status?.state === 'running');
      await writeFile(failFlag, '');
      process.kill(await servingZrok(), 'SIGKILL');
      const failed = await orchestrator.waitFor((m) => m.status?.state === 'failed', 0, 15_000);
      assert.match(failed.status?.error ?? '', /share listener recovery failed after 3 attempts/);
      assert.equal(gateway.proc.exitCode, null, 'a managed gateway does not exit');
      const since = orchestrator.received.length;
      await unlink(failFlag);
      await orchestrator.waitFor((m) => m.status?.state === 'running', since, 15_000);
      assert.equal(await echo('managed-wd', 'dyn_echo'), 'again');
      assert.equal((await gateway.stop()).code, 0);
    } finally {
      await unlink(failFlag).catch(() => undefined);
      await orchestrator.stop();
      await runZrok2(['delete', 'share', 'managed-wd'], home);
    }
  });

  it('mcp-bridge rebuilds its share too', async () => {
    const bridge = await startBridge([process.execPath, DYNAMIC_FIXTURE], env);
    shares.push(bridge);
    process.kill(await servingZrok(), 'SIGKILL');
    await waitFor(() => lines(bridge, 'share listener rebuilt') === 1, 15_000, 'the rebuild');
    assert.equal(await echo(bridge.token, 'echo'), 'again');
    assert.equal((await bridge.stop()).code, 0);
    assert.equal(await shareRecord(home, bridge.token), undefined);
  });
});
