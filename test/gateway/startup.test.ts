// Start-up: the share is served as soon as discovery is done, not after its processes are gone.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { descendants, isAlive, waitFor } from '../helpers/cli.js';
import { DYNAMIC_FIXTURE, ShareHome, stdioBackend } from '../helpers/share-home.js';

describe('mcp-gateway start-up', () => {
  let home: ShareHome;

  before(async () => {
    home = await ShareHome.create('startup');
  });

  after(() => home.cleanup());

  it('prints its token without waiting for a discovery process that ignores the end of its input', async () => {
    const gateway = await home.startGateway(`backends:\n${stdioBackend('slow', DYNAMIC_FIXTURE, ['--stubborn'])}`);
    const pid = gateway.proc.pid as number;
    // The discovery process ignores the end of its input and SIGTERM, so stopping it takes the two
    // grace periods (2 s each) before SIGKILL: a gateway that waited for it would have served 4 s
    // or more after discovery. The log's own times tell, however late this process gets to look.
    await waitFor(() => /serving; connect with/.test(gateway.stderr()), 10_000, 'the serving line in the log');
    const lines = gateway.stderr().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { time: number; msg: string });
    const discovered = lines.find((line) => line.msg === 'backend ready')?.time;
    const served = lines.find((line) => line.msg.startsWith("gateway 'mcp-gateway' serving"))?.time;
    assert.ok(discovered !== undefined && served !== undefined && served - discovered < 4_000, `discovered at ${discovered}, served at ${served}`);
    await waitFor(() => !descendants(pid).some(isAlive), 15_000, 'the discovery process to be stopped');
    const { code } = await gateway.stop();
    assert.equal(code, 0);
  });

  it('stops a discovery process still closing when the gateway stops', async () => {
    const gateway = await home.startGateway(`backends:\n${stdioBackend('slow', DYNAMIC_FIXTURE, ['--stubborn'])}`);
    const pid = gateway.proc.pid as number;
    const backends = descendants(pid).filter(isAlive);
    assert.ok(backends.length > 0);
    await gateway.stop();
    assert.deepEqual(backends.filter(isAlive), []);
  });
});
