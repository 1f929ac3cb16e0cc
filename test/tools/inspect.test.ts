// `mcp-tools list` and `call` speak both eras (SDK v2, versionNegotiation 'auto'), and
// `mcp-tools run` carries a 2026-07-28 client to a bridged 2026-07-28 server untouched,
// handed over and relayed (src/tools/inspect.ts, run.ts).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { FD_PASSING_SKIP } from '../helpers/addons.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { EVERYTHING_BIN, runCli, startHttpFront, type RunningShare } from '../helpers/cli.js';
import { text } from '../helpers/mcp.js';
import { SAMPLED, modernClient, runTransport } from '../helpers/modern.js';
import { ShareHome } from '../helpers/share-home.js';

const ERA_SERVER = fileURLToPath(new URL('../fixtures/era-client-server.js', import.meta.url));

describe('mcp-tools list, call and run against both protocol eras', () => {
  let home: ShareHome;
  let modernOnly: RunningShare;
  let legacy: RunningShare;

  before(async () => {
    home = await ShareHome.create('eras');
    // The bridge's start-up check initializes the first process; every client's process after it refuses initialize.
    const marker = join(home.dir, 'modern-only');
    modernOnly = await home.startBridge(['--env', `MODERN_ONLY_AFTER=${marker}`, process.execPath, ERA_SERVER]);
    legacy = await home.startBridge([process.execPath, EVERYTHING_BIN, 'stdio']);
  });

  after(async () => {
    await home.cleanup();
  });

  it('lists and calls on a server that speaks only 2026-07-28', async () => {
    const listed = await runCli('mcp-tools', ['list', modernOnly.token], home.env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /TOOLS \(3\)/);
    assert.match(listed.stdout, /echo +echoes text/);
    const called = await runCli('mcp-tools', ['call', modernOnly.token, 'echo', '{"text":"from the modern era"}'], home.env);
    assert.equal(called.code, 0, called.stderr);
    assert.equal(called.stdout.trim(), 'from the modern era');
  });

  it('still lists and calls on a 2025 server (falls back to initialize)', async () => {
    const listed = await runCli('mcp-tools', ['list', legacy.token], home.env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /trigger-long-running-operation/);
    const called = await runCli('mcp-tools', ['call', legacy.token, 'echo', '{"message":"old"}'], home.env);
    assert.equal(called.stdout.trim(), 'Echo: old');
  });

  it('mcp-tools http serves a pinned 2026-07-28 client of the bridged modern server, without a session', async () => {
    const { cli, url } = await startHttpFront(modernOnly.token, home.env);
    const client = modernClient('pin');
    const transport = new StreamableHTTPClientTransport(url);
    try {
      await client.connect(transport);
      assert.equal(text(await client.callTool({ name: 'ask', arguments: {} })), `the client said: ${SAMPLED}`);
      assert.equal(transport.sessionId, undefined);
    } finally {
      await client.close();
      cli.proc.kill('SIGTERM');
      await cli.exited;
    }
  });

  for (const [way, extra, skip] of [
    ['handed over', [], FD_PASSING_SKIP],
    ['relayed', ['--no-handover'], undefined],
  ] as const) {
    it(`mcp-tools run (${way}) carries a pinned 2026-07-28 client to the bridged modern server untouched`, { skip }, async () => {
      const client = modernClient('pin');
      await client.connect(runTransport(modernOnly.token, home.env, extra));
      try {
        assert.equal(client.getNegotiatedProtocolVersion(), '2026-07-28');
        // The server's own input_required, fulfilled by the client and retried, end to end.
        assert.equal(text(await client.callTool({ name: 'ask', arguments: {} })), `the client said: ${SAMPLED}`);
        // A subscription open when the client leaves does not keep mcp-tools waiting.
        await client.listen({ toolsListChanged: true });
      } finally {
        await client.close();
      }
    });
  }
});
