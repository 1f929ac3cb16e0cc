import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { EVERYTHING_BIN, descendants, isAlive, runCli, type RunningShare } from '../helpers/cli.js';
import { ShareHome, dynamicBackend } from '../helpers/share-home.js';

const ORIGINAL_EXAMPLE = fileURLToPath(new URL('../../../test/fixtures/configs/original-example.yml', import.meta.url));
const QUICKSTART = fileURLToPath(new URL('../../../examples/quickstart.yml', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));

describe('mcp-gateway command line', () => {
  let home: ShareHome;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    home = await ShareHome.create('gwcli');
    env = home.env;
  });
  after(() => home.cleanup());

  it('validates the original project’s example configuration unchanged', async () => {
    const result = await runCli('mcp-gateway', ['validate', ORIGINAL_EXAMPLE], { ...env, GITHUB_TOKEN: 'ghp_not_a_real_token' });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /valid — gateway 'mcp-gateway' 1\.0\.0, separator '_', 2 backend\(s\)/);
    assert.match(result.stdout, /filesystem .*tools allow read_file, list_directory, search_files/);
    assert.doesNotMatch(result.stdout + result.stderr, /ghp_not_a_real_token/, 'secrets stay out of output');
  });

  it('lists every problem with its field path', async () => {
    const path = await home.writeConfig('aggregator:\n  separatr: "_"\nbackends:\n  - id: a\n    transport: { type: stdio }\n  - id: a\n    transport: { type: http, endpoint: "http://x/mcp" }\n');
    const result = await runCli('mcp-gateway', ['validate', path], env);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /aggregator\.separatr: unknown key \(did you mean "separator"\?\)/);
    assert.match(result.stderr, /backends\[0\]\.transport\.command/);
    assert.match(result.stderr, /backends\[1\]\.id/);
    assert.match(result.stderr, /backends\[1\]\.transport\.allow_insecure/);
  });

  // The log is batched; a batch still waiting at exit once made pino's destination retry its
  // write forever when the reader of stderr (a supervisor that died) had gone.
  for (const which of ['mcp-gateway', 'mcp-bridge'] as const) {
    it(`${which} exits on SIGTERM after the reader of its stderr has gone`, async () => {
      const share =
        which === 'mcp-gateway'
          ? await home.startGateway(`backends:\n${dynamicBackend('dyn')}`)
          : await home.startBridge([process.execPath, EVERYTHING_BIN, 'stdio']);
      const children = descendants(share.proc.pid as number);
      share.proc.stderr?.destroy();
      share.proc.kill('SIGTERM');
      const timer = setTimeout(() => share.proc.kill('SIGKILL'), 10_000);
      const { code, signal } = await share.exited;
      clearTimeout(timer);
      assert.deepEqual({ code, signal }, { code: 0, signal: null }, 'exited by itself, not killed after 10 s');
      for (const pid of children) assert.ok(!isAlive(pid), `child ${pid} outlived ${which}`);
    });
  }

  it('refuses to run a bad config with one line naming the field, nothing on stdout', async () => {
    const path = await home.writeConfig('backends:\n  - id: gh\n    transport: { type: stdio, command: x, env: { TOKEN: "${UNSET_VARIABLE_FOR_TEST}" } }\n');
    const result = await runCli('mcp-gateway', ['run', path], env);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr.split('\n').filter(Boolean).length, 1, result.stderr);
    assert.match(result.stderr, /^mcp-gateway: .*backends\[0\]\.transport\.env\.TOKEN.*UNSET_VARIABLE_FOR_TEST/);
  });

  it('names a required backend that cannot start', async () => {
    const path = await home.writeConfig('backends:\n  - id: ghost\n    transport: { type: stdio, command: no-such-mcp-server-xyz }\n');
    const result = await runCli('mcp-gateway', ['run', path], env);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /mcp-gateway: backend 'ghost': 'no-such-mcp-server-xyz' was not found/);
  });

  it('refuses two backends exposing the same name, naming both', async () => {
    const unprefixed = '    namespace: ""\n';
    const path = await home.writeConfig(`backends:\n${dynamicBackend('one', unprefixed)}${dynamicBackend('two', unprefixed)}`);
    const result = await runCli('mcp-gateway', ['run', path], env);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /tool 'echo' is exposed by both backend 'one' and backend 'two'/);
  });

  describe('the quickstart through mcp-tools list and call', () => {
    let gateway: RunningShare;
    let workspace: string;
    before(async () => {
      workspace = join(home.dir, 'workspace');
      const notes = join(workspace, 'notes');
      await mkdir(notes, { recursive: true });
      // The quickstart names `mcp-filesystem` as its command: the package's own bin, linked by npm ci.
      const path = `${join(REPO, 'node_modules', '.bin')}:${process.env['PATH'] ?? ''}`;
      const env = { PATH: path, QUICKSTART_NOTES: notes, QUICKSTART_WORKSPACE: workspace };
      gateway = await home.startGateway({ file: QUICKSTART }, { env });
    });

    it('lists tools of both backends, the read-only one without write_file', async () => {
      const result = await runCli('mcp-tools', ['list', gateway.token], env);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^TOOLS \(5\)/m);
      assert.match(result.stdout, /notes_write_file/);
      assert.match(result.stdout, /workspace_read_file/);
      assert.doesNotMatch(result.stdout, /workspace_write_file/);
    });

    it('calls tools, and refuses the filtered one by name', async () => {
      const wrote = await runCli('mcp-tools', ['call', gateway.token, 'notes_write_file', '{"path":"hello.txt","content":"hi there"}'], env);
      assert.equal(wrote.code, 0, wrote.stderr);
      const read = await runCli('mcp-tools', ['call', gateway.token, 'workspace_read_file', '{"path":"notes/hello.txt"}'], env);
      assert.equal(read.stdout, 'hi there');
      const refused = await runCli('mcp-tools', ['call', gateway.token, 'workspace_write_file', '{"path":"x","content":"y"}'], env);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /Unknown tool: workspace_write_file/);
      const badJson = await runCli('mcp-tools', ['call', gateway.token, 'notes_read_file', '{nope'], env);
      assert.equal(badJson.code, 1);
      assert.match(badJson.stderr, /^mcp-tools: arguments are not valid JSON/);
    });
  });
});
