import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { ShareHome } from '../helpers/share-home.js';

const REFUSED = /Agora is not supported by this implementation/;

/** One stderr line naming the flag and Agora, nothing on stdout, exit 1, no "unknown option". */
function assertRefused(result: { code: number | null; stdout: string; stderr: string }, prefix: string): void {
  assert.equal(result.code, 1, result.stderr);
  assert.equal(result.stdout, '');
  const lines = result.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, result.stderr);
  assert.ok(lines[0]?.startsWith(prefix), lines[0]);
  assert.match(lines[0] ?? '', REFUSED);
  assert.doesNotMatch(result.stderr, /unknown (option|key)/);
}

void describe("the original's Agora options and keys: recognised, refused in one line", () => {
  let home: ShareHome;

  before(async () => {
    home = await ShareHome.create('agora');
  });
  after(() => home.cleanup());

  void it('mcp-tools run|http --agora TUNNEL and --agora-integration-file', async () => {
    assertRefused(await runCli('mcp-tools', ['run', '--agora', 'mcp-gateway'], home.env), 'mcp-tools: --agora: ');
    assertRefused(await runCli('mcp-tools', ['http', '--agora', 'mcp-gateway', '--bind', '127.0.0.1:8080'], home.env), 'mcp-tools: --agora: ');
    assertRefused(await runCli('mcp-tools', ['run', '--agora', 'gw', '--agora-integration-file', '/x.yaml'], home.env), 'mcp-tools: --agora: ');
    assertRefused(await runCli('mcp-tools', ['http', 'tok', '--agora-integration-file', '/x.yaml'], home.env), 'mcp-tools: --agora-integration-file: ');
  });

  void it('mcp-bridge --network=agora, --agora-tunnel, --agora-integration-file (and --network=zrok still works)', async () => {
    assertRefused(await runCli('mcp-bridge', ['--network=agora', 'mcp-filesystem', '/tmp'], home.env), 'mcp-bridge: --network agora: ');
    assertRefused(await runCli('mcp-bridge', ['--agora-tunnel', 'lore', '--', 'lore', 'serve'], home.env), 'mcp-bridge: --agora-tunnel: ');
    assertRefused(await runCli('mcp-bridge', ['--agora-integration-file', '/p.yaml', 'mcp-filesystem', '/tmp'], home.env), 'mcp-bridge: --agora-integration-file: ');
    const zrok = await runCli('mcp-bridge', ['--network=zrok', 'definitely-not-a-program-xyz'], home.env);
    assert.match(zrok.stderr, /'definitely-not-a-program-xyz' was not found/);
  });

  void it('mcp-gateway run --network agora, --agora-integration-file, and agora in the config', async () => {
    const plain = await home.writeConfig('backends:\n  - id: fs\n    transport: { type: stdio, command: mcp-filesystem, args: ["/tmp"] }\n');
    assertRefused(await runCli('mcp-gateway', ['run', plain, '--network', 'agora'], home.env), 'mcp-gateway: --network agora: ');
    assertRefused(await runCli('mcp-gateway', ['run', plain, '--agora-integration-file', '/i.yaml'], home.env), 'mcp-gateway: --agora-integration-file: ');
    const served = await home.writeConfig(`zrok:\n  share:\n    enabled: true\nagora:\n  enabled: true\n  serve: { enabled: true, tunnel: mcp-gateway }\nbackends:\n  - id: fs\n    transport: { type: stdio, command: mcp-filesystem, args: ["/tmp"] }\n`);
    const run = await runCli('mcp-gateway', ['run', served], home.env);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /agora\.enabled: Agora is not supported by this implementation/);
    const backend = await home.writeConfig('agora: { enabled: true }\nbackends:\n  - id: remote\n    transport: { type: agora, agora_tunnel: filesystem-relay }\n');
    const validated = await runCli('mcp-gateway', ['validate', backend], home.env);
    assert.equal(validated.code, 1);
    assert.match(validated.stderr, /backends\[0\]\.transport\.type: Agora is not supported by this implementation/);
    assert.doesNotMatch(validated.stderr, /unknown key/);
  });
});
