import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../src/log.js';
import type { ListenerHealth, ShareListener } from '../../src/share/index.js';
import { ShareWatchdog, type WatchdogOptions } from '../../src/share/watchdog.js';

/** A listener whose health a test sets, recording its rebuilds (each one a promise the test can await). */
class FakeListener implements ShareListener {
  readonly token = 'fake-share';
  readonly failed = new Promise<Error>(() => undefined);
  current: ListenerHealth = { serving: true, established: 1 };
  rebuildOutcome: 'ok' | 'fail' = 'ok';
  readonly rebuilt: (() => void)[] = [];
  rebuilds = 0;

  health(): ListenerHealth {
    return this.current;
  }

  rebuild(): Promise<void> {
    this.rebuilds++;
    for (const notify of this.rebuilt.splice(0)) notify();
    if (this.rebuildOutcome === 'fail') return Promise.reject(new Error('the API is down'));
    this.current = { serving: true, established: 1 };
    return Promise.resolve();
  }

  nextRebuild(): Promise<void> {
    return new Promise((resolve) => this.rebuilt.push(resolve));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

const options = (extra: Partial<WatchdogOptions> = {}): WatchdogOptions => ({
  pollIntervalMs: 20,
  zeroEstablishedGraceMs: 150,
  maxRebuildFailures: 3,
  failFast: true,
  logger: silentLogger(),
  ...extra,
});

void describe('ShareWatchdog', () => {
  // The watchdog's timers never keep a process alive (the server does): here the test must.
  let keepAlive: NodeJS.Timeout;
  before(() => (keepAlive = setInterval(() => undefined, 1_000)));
  after(() => clearInterval(keepAlive));

  void it('rebuilds a listener with zero established terminators only once the grace has passed', async () => {
    const listener = new FakeListener();
    const watchdog = ShareWatchdog.watch(listener, options()) as ShareWatchdog;
    const started = performance.now();
    listener.current = { serving: true, established: 0 };
    await listener.nextRebuild();
    assert.ok(performance.now() - started >= 150, `rebuilt after ${performance.now() - started} ms`);
    assert.equal(listener.rebuilds, 1);
    watchdog.stop();
  });

  void it('escalates after max_rebuild_failures consecutive failures (failFast: failed settles)', async () => {
    const listener = new FakeListener();
    listener.rebuildOutcome = 'fail';
    const watchdog = ShareWatchdog.watch(listener, options()) as ShareWatchdog;
    listener.current = { serving: false, reason: 'zrok2 exited' };
    const error = await watchdog.failed;
    assert.match(error.message, /share listener recovery failed after 3 attempts: the API is down/);
    assert.equal(listener.rebuilds, 3);
  });

  void it('without failFast keeps retrying, tells onUnrecoverable once, and onRecovered when healthy again', async () => {
    const listener = new FakeListener();
    listener.rebuildOutcome = 'fail';
    const events: string[] = [];
    let recovered!: () => void;
    const back = new Promise<void>((resolve) => (recovered = resolve));
    const watchdog = ShareWatchdog.watch(listener, options({
      failFast: false,
      onUnrecoverable: () => events.push('unrecoverable'),
      onRecovered: () => {
        events.push('recovered');
        recovered();
      },
    })) as ShareWatchdog;
    listener.current = { serving: false, reason: 'zrok2 exited' };
    while (listener.rebuilds < 4) await listener.nextRebuild();
    listener.rebuildOutcome = 'ok';
    await back;
    assert.deepEqual(events, ['unrecoverable', 'recovered']);
    watchdog.stop();
  });

  void it('leaves a listener that cannot be rebuilt (local) alone', () => {
    const local: ShareListener = { token: 'x', failed: new Promise(() => undefined), close: () => Promise.resolve() };
    assert.equal(ShareWatchdog.watch(local, options()), undefined);
  });
});
