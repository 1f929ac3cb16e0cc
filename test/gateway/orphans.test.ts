// Backends die with a gateway or bridge killed by SIGKILL (issue 17, finding 11), even one busy in
// a call that reads nothing meanwhile (stdin EOF cannot end it): the optional package's parent
// guard (PR_SET_PDEATHSIG) stops each backend's process group (SIGTERM, SIGKILL 2 s later).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectThroughTools, descendants, isAlive, waitFor } from '../helpers/cli.js';
import { callAndSeeStart, text } from '../helpers/mcp.js';
import { ShareHome, DYNAMIC_FIXTURE, dynamicBackend } from '../helpers/share-home.js';
import { nativePackage } from '../../src/wire/native.js';

const SKIP =
  nativePackage()?.parentGuardPath === undefined
    ? 'the parent guard of @mcp-gateway/fd-passing is not built here (Linux with a compiler): a busy backend outlives a killed gateway (README, Reliability)'
    : undefined;
/** Longer than the test may take: only the guard can end this call early. */
const BUSY_MS = 60_000;

describe('orphans: SIGKILL of the serving process', { skip: SKIP }, () => {
  let home: ShareHome;
  const leftovers: number[] = [];

  before(async () => {
    home = await ShareHome.create('orphans');
  });
  after(async () => {
    // Without the guard the busy processes would spin on for a minute: not past this file.
    for (const pid of leftovers) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    await home.cleanup();
  });

  it('kills a gateway’s busy session backend and its shared backend within 2 s', async () => {
    const config = `backends:\n${dynamicBackend('own')}${dynamicBackend('common', '    isolation: shared\n')}`;
    const gateway = await home.startGateway(config);
    const pid = gateway.proc.pid as number;
    const { client } = await connectThroughTools(gateway.token, home.env);
    assert.equal(text(await client.callTool({ name: 'common_echo', arguments: { text: 'up' } })), 'up');
    const call = callAndSeeStart(client, { name: 'own_busy', arguments: { ms: BUSY_MS } }, { timeout: BUSY_MS });
    call.result.catch(() => undefined);
    await call.started;
    const backends = descendants(pid);
    leftovers.push(...backends);
    assert.equal(backends.length, 2, 'the session backend and the shared one');
    gateway.proc.kill('SIGKILL');
    await gateway.exited;
    const killed = Date.now();
    await waitFor(() => backends.every((child) => !isAlive(child)), 2_000, 'backends to die with the gateway');
    assert.ok(Date.now() - killed < 2_000);
    await client.close().catch(() => undefined);
  });

  it('kills a bridge’s busy server process (handed the client’s stdio) within 2 s', async () => {
    const bridge = await home.startBridge([process.execPath, DYNAMIC_FIXTURE]);
    const pid = bridge.proc.pid as number;
    const { client } = await connectThroughTools(bridge.token, home.env);
    const call = callAndSeeStart(client, { name: 'busy', arguments: { ms: BUSY_MS } }, { timeout: BUSY_MS });
    call.result.catch(() => undefined);
    await call.started;
    const servers = descendants(pid);
    leftovers.push(...servers);
    assert.equal(servers.length, 1);
    bridge.proc.kill('SIGKILL');
    await bridge.exited;
    await waitFor(() => servers.every((child) => !isAlive(child)), 2_000, 'the server process to die with the bridge');
    await client.close().catch(() => undefined);
  });
});
