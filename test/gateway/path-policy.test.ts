import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { BackendConfig } from '../../src/config/types.js';
import { isGatewayError } from '../../src/errors.js';
import { POLICY_DENIED, PathPolicy, isPolicyRefusal } from '../../src/gateway/path-policy.js';
import { binPath, connectThroughTools, runCli, waitFor, type RunningShare } from '../helpers/cli.js';
import { text } from '../helpers/mcp.js';
import { ShareHome, stdioBackend } from '../helpers/share-home.js';

function backendWith(roots: string[], workingDir?: string): BackendConfig {
  return {
    id: 'fs',
    name: 'fs',
    namespace: 'fs',
    transport: { type: 'stdio', command: 'x', args: [], env: {}, envPolicy: 'additive', ...(workingDir === undefined ? {} : { workingDir }) },
    isolation: 'session',
    required: true,
    warm: 0,
    policy: { paths: [{ tool: 'read_file', argument: 'path', roots }, { tool: 'copy', argument: 'to', roots }] },
  };
}

/** The refusal text of a call, or undefined when the policy lets it through. */
function denial(policy: PathPolicy, name: string, args: unknown): string | undefined {
  const answer = policy.refusal({ name, arguments: args });
  if (answer === undefined) return undefined;
  assert.ok(isPolicyRefusal(answer));
  assert.equal(answer.result?.['isError'], true);
  const content = answer.result?.['content'] as { type: string; text: string }[];
  assert.equal(content[0]?.type, 'text');
  assert.ok(content[0]?.text.startsWith(POLICY_DENIED), content[0]?.text);
  return content[0]?.text;
}

void describe('PathPolicy: the original semantics', () => {
  let dir: string;
  let root: string;
  let outside: string;
  let policy: PathPolicy;

  before(async () => {
    dir = await realpath(await mkdtemp(join(tmpdir(), 'mcpgw-pathpol-')));
    root = join(dir, 'root');
    outside = join(dir, 'outside');
    await mkdir(join(root, 'sub'), { recursive: true });
    await mkdir(outside);
    await writeFile(join(root, 'inside.txt'), 'inside');
    await writeFile(join(outside, 'secret.txt'), 'secret');
    await symlink(outside, join(root, 'escape'));
    await symlink(join(outside, 'new-file'), join(root, 'dangling'));
    await symlink(join(root, 'sub'), join(root, 'inner-link'));
    await symlink(join(root, 'loop'), join(root, 'loop'));
    policy = PathPolicy.fromConfig(backendWith([root], root)) as PathPolicy;
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  void it('lets through paths inside a root: absolute, relative to working_dir, new targets, symlinks that stay in', () => {
    for (const path of [join(root, 'inside.txt'), 'inside.txt', './sub/../inside.txt', join(root, 'new.txt'), 'sub/new.txt', root, 'inner-link/x.txt']) {
      assert.equal(denial(policy, 'read_file', { path }), undefined, path);
    }
  });

  void it('refuses escaping, traversing, symlinked-out, dangling, unresolvable and malformed arguments', () => {
    const cases: [unknown, RegExp][] = [
      [{ path: join(outside, 'secret.txt') }, /argument "path": path ".*secret.txt" resolves outside allowed roots/],
      [{ path: `../${basename(outside)}/secret.txt` }, /resolves outside allowed roots/],
      [{ path: join(root, '..', basename(outside), 'secret.txt') }, /resolves outside allowed roots/],
      [{ path: `${root}-evil/x` }, /cannot be resolved|outside allowed roots/],
      [{ path: 'escape/secret.txt' }, /resolves outside allowed roots/],
      [{ path: 'escape/new.txt' }, /resolves outside allowed roots/],
      [{ path: 'dangling' }, /path cannot be resolved \(ENOENT\)/],
      [{ path: 'loop' }, /path cannot be resolved \(ELOOP\)/],
      [{ path: join(root, 'missing', 'new.txt') }, /path and its parent cannot be resolved/],
      [{}, /required path argument "path" is missing/],
      [{ path: 42 }, /path argument "path" must be a non-empty string/],
      [{ path: '' }, /must be a non-empty string/],
      [{ path: null }, /must be a non-empty string/],
      [undefined, /argument "path": arguments must be a JSON object: got null/],
      [['/x'], /arguments must be a JSON object: got array/],
    ];
    for (const [args, pattern] of cases) assert.match(denial(policy, 'read_file', args) ?? 'allowed', pattern, JSON.stringify(args));
  });

  void it('checks every rule of a tool, and leaves tools without rules alone', () => {
    assert.match(denial(policy, 'copy', { to: join(outside, 'x') }) ?? '', /"copy" argument "to"/);
    assert.equal(denial(policy, 'list_directory', { path: outside }), undefined);
  });

  void it('refuses at set-up a root that is not an existing directory, and rules for tools not advertised', () => {
    assert.throws(() => PathPolicy.fromConfig(backendWith([join(dir, 'missing')])), (e) => isGatewayError(e, 'CONFIG_INVALID') && /roots\[0\].*ENOENT/.test(e.message));
    assert.throws(() => PathPolicy.fromConfig(backendWith([join(root, 'inside.txt')])), /not a directory/);
    assert.doesNotThrow(() => policy.checkAdvertised('fs', [{ name: 'read_file' }, { name: 'copy' }]));
    assert.throws(() => policy.checkAdvertised('fs', [{ name: 'read_file' }]), /policy.paths names tool "copy", which the backend does not advertise/);
  });
});

void describe('policy.paths in a gateway, in front of mcp-filesystem', () => {
  let home: ShareHome;
  let gateway: RunningShare;
  let client: Client;
  let sandbox: string;
  let project: string;

  before(async () => {
    home = await ShareHome.create('pathpol');
    // mcp-filesystem may reach all of sandbox/; the policy narrows the gateway's clients to project/.
    sandbox = await realpath(join(home.dir));
    project = join(sandbox, 'project');
    await mkdir(project);
    await writeFile(join(project, 'notes.txt'), 'project notes');
    await writeFile(join(sandbox, 'private.txt'), 'not for clients');
    const rules = ['read_file', 'write_file'].map((tool) => `      - { tool: ${tool}, argument: path, roots: ["${project}"] }\n`).join('');
    const extra = `    policy:\n      paths:\n${rules}`;
    // (mcp-filesystem resolves relative paths from its first directory: the working_dir here too.)
    const config = `backends:\n${stdioBackend('fs', binPath('mcp-filesystem'), [project, sandbox], extra).replace('args:', `working_dir: "${project}", args:`)}`;
    gateway = await home.startGateway(config, { args: ['--metrics-bind', '127.0.0.1:0'] });
    ({ client } = await connectThroughTools(gateway.token, home.env));
  });

  after(async () => {
    await client.close();
    await home.cleanup();
  });

  void it('forwards calls inside the roots (relative ones from working_dir)', async () => {
    assert.equal(text(await client.callTool({ name: 'fs_read_file', arguments: { path: join(project, 'notes.txt') } })), 'project notes');
    assert.equal(text(await client.callTool({ name: 'fs_read_file', arguments: { path: 'notes.txt' } })), 'project notes');
  });

  void it('answers a call outside them with a tool error, without calling the backend, and logs it as refused', async () => {
    const read = await client.callTool({ name: 'fs_read_file', arguments: { path: '../private.txt' } });
    assert.equal(read.isError, true);
    assert.match(text(read), /^gateway policy denied tool call: call policy tool "read_file" argument "path": path "..\/private.txt" resolves outside allowed roots$/);
    const write = await client.callTool({ name: 'fs_write_file', arguments: { path: join(sandbox, 'planted.txt'), content: 'x' } });
    assert.equal(write.isError, true);
    await assert.rejects(stat(join(sandbox, 'planted.txt')), { code: 'ENOENT' });
    const missing = await client.callTool({ name: 'fs_write_file', arguments: { content: 'x' } });
    assert.match(text(missing), /^gateway policy denied tool call: .*required path argument "path" is missing/);
    // Ungoverned tools keep today's behaviour: mcp-filesystem's own sandbox decides.
    assert.match(text(await client.callTool({ name: 'fs_list_directory', arguments: { path: sandbox } })), /private\.txt/);
    await waitFor(() => /"name":"fs_read_file"[^\n]*"outcome":"refused"/.test(gateway.stderr()), 5_000, 'a refused call log line');
    assert.equal(await readFile(join(sandbox, 'private.txt'), 'utf8'), 'not for clients');
    // Counted as refused, as the admin listener's metrics show (the three calls above).
    const admin = /"bind":"([^"]+)"[^\n]*admin listener/.exec(gateway.stderr())?.[1];
    assert.ok(admin !== undefined, 'the admin listener line');
    const metrics = await (await fetch(`http://${admin}/metrics`)).text();
    assert.match(metrics, /^mcp_gateway_refused_total\{reason="policy"\} 3$/m);
  });

  void it('refuses to start when a rule names a tool the backend does not advertise', async () => {
    const config = await home.writeConfig(
      `backends:\n${stdioBackend('fs', binPath('mcp-filesystem'), [sandbox], `    policy: { paths: [{ tool: read_files, argument: path, roots: ["${project}"] }] }\n`)}`,
    );
    const { code, stderr } = await runCli('mcp-gateway', ['run', config], home.env);
    assert.equal(code, 1);
    assert.match(stderr, /policy\.paths names tool "read_files", which the backend does not advertise/);
  });
});
