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
    // The discovery process is still being stopped: it ignores the end of its input and SIGTERM, so
    // it lasts the two grace periods (2 s each) before SIGKILL.
    assert.ok(descendants(pid).some(isAlive), 'the token came before the discovery process was gone');
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
