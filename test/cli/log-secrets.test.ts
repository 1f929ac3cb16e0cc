import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startBridge, startGateway, waitFor } from '../helpers/cli.js';

const RAW = fileURLToPath(new URL('../fixtures/raw-server.js', import.meta.url));

describe('logs keep secrets: log_file is 0600, share tokens are redacted at info', () => {
  let home: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'mcpgw-logsecrets-'));
    env = { MCP_GATEWAY_HOME: home, MCP_SHARE_PROVIDER: 'local' };
  });

  after(() => rm(home, { recursive: true, force: true }));

  it('the gateway creates its log_file 0600 even under umask 000, and logs no token', async () => {
    const logFile = join(home, 'logs', 'gateway.log');
    const config = join(home, 'gateway.yml');
    await writeFile(config, `log_file: "${logFile}"\nbackends:\n  - { id: raw, transport: { type: stdio, command: "${process.execPath}", args: ["${RAW}"] } }\n`);
    // The child inherits the umask it was forked with.
    const umask = process.umask(0);
    const gateway = await startGateway(config, env).finally(() => process.umask(umask));
    try {
      await waitFor(async () => (await readFile(logFile, 'utf8').catch(() => '')).includes('serving'), 5_000, 'the log file');
      assert.equal((await stat(logFile)).mode & 0o777, 0o600);
      const log = await readFile(logFile, 'utf8');
      assert.ok(!log.includes(gateway.token), `the token is in the log: ${log}`);
      assert.match(log, new RegExp(`mcp-tools run ${gateway.token.slice(0, 4)}…`));
      assert.deepEqual(JSON.parse(gateway.stdoutLines[0] as string), { share_token: gateway.token });
    } finally {
      await gateway.stop();
    }
  });

  it('the bridge logs no token', async () => {
    const bridge = await startBridge([process.execPath, RAW], env);
    try {
      await waitFor(() => bridge.stderr().includes('connect with'), 5_000, 'the serving line');
      assert.ok(!bridge.stderr().includes(bridge.token), `the token is in the log: ${bridge.stderr()}`);
    } finally {
      await bridge.stop();
    }
  });
});
