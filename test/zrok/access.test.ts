import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ZROK2_STANDIN, enabledHome, runZrok2, settledStandins, standinProcesses } from '../fixtures/zrok2/harness.js';
import { runCli, startBridge, startGateway, waitFor, type RunningShare } from '../helpers/cli.js';
import { DYNAMIC_FIXTURE, dynamicBackend } from '../helpers/share-home.js';

// Who gets into a share we create on zrok: its owner, the accounts granted, or (asked for
// explicitly) anyone with the token. Three environments on one stand-in network: the owner,
// a colleague who may be granted access, and a stranger who holds the token but never is.
describe('zrok shares are closed unless granted', () => {
  let root: string;
  let network: string;
  const homes = { owner: '', colleague: '', stranger: '' };
  const env = (who: keyof typeof homes): NodeJS.ProcessEnv => ({
    ZROK2_BIN: ZROK2_STANDIN,
    ZROK2_STANDIN_NETWORK: network,
    MCP_SHARE_PROVIDER: 'zrok',
    HOME: homes[who],
    MCP_GATEWAY_HOME: join(homes[who], '.mcp-gateway'),
  });
  const shares: RunningShare[] = [];

  /** `mcp-tools call <token> echo` as `who`: the text back, or the one error line. */
  const echoAs = async (who: keyof typeof homes, token: string, name = 'echo'): Promise<{ code: number | null; out: string }> => {
    const result = await runCli('mcp-tools', ['call', token, name, '{"text":"hello"}'], env(who));
    return { code: result.code, out: result.code === 0 ? result.stdout : result.stderr.trim() };
  };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mcpgw-zrok-access-'));
    network = join(root, 'network');
    for (const who of Object.keys(homes) as (keyof typeof homes)[]) homes[who] = await enabledHome(root, who);
  });

  after(async () => {
    await Promise.allSettled(shares.map((s) => s.stop()));
    for (const home of Object.values(homes)) assert.deepEqual(await settledStandins(home, 10_000), [], 'no zrok2 left behind');
    await rm(root, { recursive: true, force: true });
  });

  it('a bridge admits only its owner until an account is granted', async () => {
    const bridge = await startBridge([process.execPath, DYNAMIC_FIXTURE], env('owner'));
    shares.push(bridge);
    const [serving] = (await standinProcesses(homes.owner)).filter((p) => p.args[0] === 'share');
    assert.ok(serving !== undefined, 'zrok2 share private runs');
    assert.ok(!serving.args.includes('--open'), `no --open unless asked: ${serving.args.join(' ')}`);

    assert.deepEqual(await echoAs('owner', bridge.token), { code: 0, out: 'hello' });
    const refused = await echoAs('colleague', bridge.token);
    assert.equal(refused.code, 1);
    assert.equal(refused.out.split('\n').length, 1, refused.out);
    assert.match(refused.out, /refused by zrok \(a closed share needs an access grant\)/);

    // Granting on a share that already runs (what the README says to do for a persistent one).
    const granted = await runZrok2(['modify', 'share', bridge.token, '--add-access-grant', 'account-colleague'], homes.owner, { ZROK2_STANDIN_NETWORK: network });
    assert.equal(granted.code, 0, granted.stderr);
    assert.deepEqual(await echoAs('colleague', bridge.token), { code: 0, out: 'hello' });
    assert.equal((await echoAs('stranger', bridge.token)).code, 1);
    assert.equal((await bridge.stop()).code, 0);
  });

  it('mcp-bridge --access-grant admits that account and no other', async () => {
    const bridge = await startBridge(['--access-grant', 'account-colleague', process.execPath, DYNAMIC_FIXTURE], env('owner'));
    shares.push(bridge);
    const [serving] = (await standinProcesses(homes.owner)).filter((p) => p.args[0] === 'share');
    assert.deepEqual(serving?.args.slice(serving.args.indexOf('--access-grant'), serving.args.indexOf('--access-grant') + 2), ['--access-grant', 'account-colleague']);
    assert.deepEqual(await echoAs('colleague', bridge.token), { code: 0, out: 'hello' });
    const refused = await echoAs('stranger', bridge.token);
    assert.equal(refused.code, 1);
    assert.match(refused.out, /access grant/);
    assert.equal((await bridge.stop()).code, 0);
  });

  it('the gateway passes zrok.share.access_grants to zrok2', async () => {
    const config = join(root, 'granted.yml');
    await writeFile(config, `zrok:\n  share:\n    access_grants: [account-colleague]\nbackends:\n${dynamicBackend('dyn')}`);
    const gateway = await startGateway(config, env('owner'));
    shares.push(gateway);
    assert.deepEqual(await echoAs('colleague', gateway.token, 'dyn_echo'), { code: 0, out: 'hello' });
    assert.equal((await echoAs('stranger', gateway.token, 'dyn_echo')).code, 1);
    assert.equal((await gateway.stop()).code, 0);
  });

  it('--open-share opens the share to anyone with the token, and says so', async () => {
    const bridge = await startBridge(['--open-share', process.execPath, DYNAMIC_FIXTURE], env('owner'));
    shares.push(bridge);
    await waitFor(() => /--open-share: any zrok account holding the token can reach this share/.test(bridge.stderr()), 5_000, 'the warning');
    assert.deepEqual(await echoAs('stranger', bridge.token), { code: 0, out: 'hello' });
    assert.equal((await bridge.stop()).code, 0);
  });

  it('zrok.share.enabled: false serves on the local share, and refuses --provider zrok', async () => {
    const config = join(root, 'local-only.yml');
    await writeFile(config, `zrok: {share: {enabled: false}}\nbackends:\n${dynamicBackend('dyn')}`);
    const refused = await runCli('mcp-gateway', ['run', config, '--provider', 'zrok'], env('owner'));
    assert.equal(refused.code, 1);
    assert.match(refused.stderr.trim(), /^mcp-gateway: --provider zrok, but zrok\.share\.enabled is false: at least one way of serving must be on$/);
    const gateway = await startGateway(config, { ...env('owner'), MCP_SHARE_PROVIDER: '' });
    shares.push(gateway);
    await waitFor(() => /"provider":"local"/.test(gateway.stderr()), 5_000, 'the provider in the log');
    assert.deepEqual(await standinProcesses(homes.owner), [], 'no zrok2 started');
    assert.equal((await gateway.stop()).code, 0);
  });

  it('refuses grants on a share it does not create, in one line', async () => {
    for (const flag of [['--access-grant', 'account-colleague'], ['--open-share']]) {
      const result = await runCli('mcp-bridge', ['--share-token', 'some-share', ...flag, process.execPath, DYNAMIC_FIXTURE], env('owner'));
      assert.equal(result.code, 1);
      const lines = result.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0] ?? '', /applies only to shares the bridge creates and cannot be used with --share-token/);
    }
  });
});
