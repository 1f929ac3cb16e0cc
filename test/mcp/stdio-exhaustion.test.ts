import assert from 'node:assert/strict';
import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { GatewayError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { StdioUpstream } from '../../src/mcp/stdio-upstream.js';

const RAW = fileURLToPath(new URL('../fixtures/raw-server.js', import.meta.url));

describe('StdioUpstream when descriptors run out', () => {
  const held: number[] = [];
  const release = (): void => {
    for (const fd of held.splice(0)) closeSync(fd);
  };
  after(release);

  it('reports a spawn failing with EMFILE through exited, transport() and stop(), and works again once they are free', async () => {
    const logger = silentLogger();
    try {
      for (;;) held.push(openSync('/dev/null', 'r'));
    } catch (error) {
      assert.equal((error as NodeJS.ErrnoException).code, 'EMFILE');
    }
    const upstream = new StdioUpstream({ command: process.execPath, args: [RAW] }, { logger, label: 'emfile' });
    assert.throws(() => upstream.transport(), (error: unknown) => error instanceof GatewayError && error.code === 'UPSTREAM_START_FAILED');
    const exit = await upstream.stop(100);
    assert.equal((exit.error as NodeJS.ErrnoException | undefined)?.code, 'EMFILE');
    release();

    const later = new StdioUpstream({ command: process.execPath, args: [RAW] }, { logger, label: 'later' });
    const transport = later.transport();
    const answer = new Promise((resolve) => (transport.onmessage = resolve));
    await transport.start();
    await transport.send({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    assert.deepEqual(((await answer) as { id: number }).id, 1);
    await transport.close();
    assert.equal((await later.exited).code, 0);
  });
});
