import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectThroughTools, isAlive, waitFor, type RunningShare } from '../helpers/cli.js';
import { text } from '../helpers/mcp.js';
import { ShareHome, dynamicBackend } from '../helpers/share-home.js';

// session_idle_timeout: a client session with nothing in flight and no message either way for
// that long is closed, and the backend processes it started are stopped; a long call is not idleness.
describe('gateway: session_idle_timeout', () => {
  let home: ShareHome;
  let gateway: RunningShare;

  before(async () => {
    home = await ShareHome.create('idle');
    gateway = await home.startGateway(`session_idle_timeout: 1s\nbackends:\n${dynamicBackend('dyn')}`);
  });
  after(() => home.cleanup());

  it('closes an idle session and stops its backend process, and logs it', { timeout: 30_000 }, async () => {
    const { client } = await connectThroughTools(gateway.token, home.env);
    const closed = new Promise<void>((resolve) => (client.onclose = resolve));
    const pid = Number(text(await client.callTool({ name: 'dyn_whoami', arguments: {} })).split(' ')[0]);
    assert.ok(isAlive(pid), 'the session started its backend process');
    await closed;
    await waitFor(() => !isAlive(pid), 10_000, 'the backend process to stop');
    await waitFor(() => /session idle: closing it and its backends/.test(gateway.stderr()), 5_000, 'the log line');
  });

  it('does not close a session while a call runs longer than the timeout; idleness starts at the answer', { timeout: 30_000 }, async () => {
    const { client } = await connectThroughTools(gateway.token, home.env);
    let closedAt: number | undefined;
    const closed = new Promise<void>((resolve) => (client.onclose = () => {
      closedAt = performance.now();
      resolve();
    }));
    const result = await client.callTool({ name: 'dyn_sleep', arguments: { ms: 2500 } }, undefined, { timeout: 10_000 });
    const answeredAt = performance.now();
    assert.equal(text(result), 'slept 2500');
    assert.equal(closedAt, undefined, 'still open when the answer came');
    await closed;
    assert.ok((closedAt ?? 0) - answeredAt >= 800, `closed ${String((closedAt ?? 0) - answeredAt)} ms after the answer`);
  });
});
