import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config/index.js';

// The keys of newer originals that now take effect: zrok.share (closed shares and access grants),
// session_idle_timeout and resilience (the share listener watchdog).

const MINIMAL = 'backends:\n  - id: fs\n    transport: {type: stdio, command: mcp-filesystem}\n';

/** Every problem of a config that must be refused. */
function problemsOf(yaml: string): readonly string[] {
  try {
    parseConfig(yaml, {}, 'test.yml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  return assert.fail('expected the config to be refused');
}

void describe('zrok.share', () => {
  void it('defaults to serving on zrok, closed, with no grants', () => {
    const { config, warnings } = parseConfig(MINIMAL, {});
    assert.deepEqual(config.zrokShare, { enabled: true, accessGrants: [], open: false });
    assert.deepEqual(warnings, []);
  });

  void it('takes access grants, and enabled absent from a block means true', () => {
    const { config } = parseConfig(`${MINIMAL}zrok: {share: {access_grants: [alice@example.com, bob@example.com]}}\n`, {});
    assert.deepEqual(config.zrokShare, { enabled: true, accessGrants: ['alice@example.com', 'bob@example.com'], open: false });
  });

  void it("refuses grants without serving, grants with share_token, share_token without serving, each at its key", () => {
    assert.deepEqual(problemsOf(`${MINIMAL}zrok: {share: {enabled: false, access_grants: [a@b.c]}}\n`), [
      'zrok.share.access_grants: access grants require zrok share serving to be enabled (zrok.share.enabled)',
    ]);
    const withToken = problemsOf(`${MINIMAL}share_token: my-gateway\nzrok: {share: {access_grants: [a@b.c]}}\n`);
    assert.equal(withToken.length, 1);
    assert.match(withToken[0] ?? '', /^zrok\.share\.access_grants: access grants apply only to shares the gateway creates and cannot be used with share_token/);
    assert.deepEqual(problemsOf(`${MINIMAL}share_token: my-gateway\nzrok: {share: {enabled: false}}\n`), ['share_token: share_token requires zrok.share.enabled']);
    assert.match(problemsOf(`${MINIMAL}zrok: {share: {access_grants: ["a b"]}}\n`)[0] ?? '', /^zrok\.share\.access_grants\[0\]: must be a zrok account/);
  });

  void it('opens a share only when asked, with a warning, and never with grants or share_token', () => {
    const { config, warnings } = parseConfig(`${MINIMAL}zrok: {share: {open: true}}\n`, {});
    assert.equal(config.zrokShare.open, true);
    assert.deepEqual(warnings, ['zrok.share.open: the zrok share will be open: any zrok account holding the token can reach the gateway']);
    assert.match(problemsOf(`${MINIMAL}zrok: {share: {open: true, access_grants: [a@b.c]}}\n`)[0] ?? '', /^zrok\.share\.open: admits every zrok account/);
    assert.match(problemsOf(`${MINIMAL}share_token: my-gateway\nzrok: {share: {open: true}}\n`)[0] ?? '', /^zrok\.share\.open: applies only to shares the gateway creates/);
  });

  void it('takes enabled: false alone (the local share still serves)', () => {
    assert.equal(parseConfig(`${MINIMAL}zrok: {share: {enabled: false}}\n`, {}).config.zrokShare.enabled, false);
  });
});

void describe('session_idle_timeout', () => {
  void it('defaults to 30m; 0 disables; a duration is taken', () => {
    assert.equal(parseConfig(MINIMAL, {}).config.sessionIdleTimeoutMs, 30 * 60_000);
    assert.equal(parseConfig(`${MINIMAL}session_idle_timeout: 0\n`, {}).config.sessionIdleTimeoutMs, 0);
    assert.equal(parseConfig(`${MINIMAL}session_idle_timeout: 1m30s\n`, {}).config.sessionIdleTimeoutMs, 90_000);
  });

  void it('refuses a negative one', () => {
    assert.deepEqual(problemsOf(`${MINIMAL}session_idle_timeout: -5m\n`), ['session_idle_timeout: must not be negative']);
  });
});

void describe('resilience', () => {
  void it("takes the original's keys, defaults included", () => {
    assert.deepEqual(parseConfig(MINIMAL, {}).config.resilience, {
      watchdogEnabled: true,
      pollIntervalMs: 10_000,
      zeroEstablishedGraceMs: 90_000,
      maxRebuildFailures: 5,
      heartbeatIntervalMs: 300_000,
    });
    const yaml = `${MINIMAL}resilience: {watchdog_enabled: false, poll_interval: 2s, zero_established_grace: 0, max_rebuild_failures: 9, heartbeat_interval: 1m}\n`;
    const { config, warnings } = parseConfig(yaml, {});
    assert.deepEqual(config.resilience, { watchdogEnabled: false, pollIntervalMs: 2_000, zeroEstablishedGraceMs: 0, maxRebuildFailures: 9, heartbeatIntervalMs: 60_000 });
    assert.deepEqual(warnings, []);
  });

  void it('refuses a zero poll interval and a failure count below 1, at their keys', () => {
    const problems = problemsOf(`${MINIMAL}resilience: {poll_interval: 0s, max_rebuild_failures: 0, heartbeat_interval: -1s}\n`);
    assert.deepEqual(problems, [
      'resilience.poll_interval: must be greater than 0',
      'resilience.max_rebuild_failures: must be greater than 0',
      'resilience.heartbeat_interval: must not be negative',
    ]);
  });
});
