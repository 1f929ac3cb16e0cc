import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EVERYTHING_BIN, runCli } from '../helpers/cli.js';
import { ShareHome } from '../helpers/share-home.js';

/** A failure is one line on stderr, nothing on stdout, a non-zero exit and no stack trace. */
function assertOneLineError(result: { code: number | null; stdout: string; stderr: string }, pattern: RegExp): void {
  assert.notEqual(result.code, 0, 'exit code');
  assert.equal(result.stdout, '', 'stdout must stay empty');
  const lines = result.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `expected one stderr line, got:\n${result.stderr}`);
  assert.match(lines[0] as string, pattern);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

describe('bad input on the command line', () => {
  let home: ShareHome;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    home = await ShareHome.create('cli');
    env = home.env;
    await home.startBridge(['--share-token', 'taken-token', process.execPath, EVERYTHING_BIN, 'stdio']);
  });
  after(() => home.cleanup());

  it('mcp-tools run: unknown token', async () => {
    assertOneLineError(await runCli('mcp-tools', ['run', 'no-such-share'], env), /^mcp-tools: share 'no-such-share' not found/);
  });

  it('mcp-tools run: malformed token', async () => {
    assertOneLineError(await runCli('mcp-tools', ['run', 'Not/A/Token'], env), /^mcp-tools: invalid share token/);
  });

  it('mcp-tools http: malformed --bind', async () => {
    assertOneLineError(await runCli('mcp-tools', ['http', 'taken-token', '--bind', 'nowhere'], env), /^mcp-tools: invalid --bind 'nowhere'/);
  });

  it('mcp-tools: unknown command and unknown option', async () => {
    assertOneLineError(await runCli('mcp-tools', ['frobnicate'], env), /^mcp-tools: unknown command 'frobnicate'/);
    assertOneLineError(await runCli('mcp-tools', ['run', '--bogus', 'x'], env), /^mcp-tools: unknown option '--bogus'/);
  });

  it('mcp-tools create/delete point to zrok2', async () => {
    const created = await runCli('mcp-tools', ['create', 'my-share'], env);
    assertOneLineError(created, /zrok2 create share --share-token NAME \[--access-grant ACCOUNT\]/);
    const deleted = await runCli('mcp-tools', ['delete', 'my-share'], env);
    assertOneLineError(deleted, /zrok2 delete share NAME/);
  });

  it('--provider zrok without zrok2 installed says what to install', async () => {
    const noZrok = { ...env, ZROK2_BIN: '/nonexistent/zrok2' };
    assertOneLineError(await runCli('mcp-tools', ['run', 'taken-token', '--provider', 'zrok'], noZrok), /zrok v2\.0\.x.*zrok2 enable/);
    assertOneLineError(await runCli('mcp-tools', ['run', 'taken-token'], { ...env, MCP_SHARE_PROVIDER: 'carrier-pigeon' }), /unknown share provider 'carrier-pigeon'/);
  });

  it('mcp-bridge: missing program', async () => {
    assertOneLineError(await runCli('mcp-bridge', ['definitely-not-a-program-xyz'], env), /^mcp-bridge: 'definitely-not-a-program-xyz' was not found/);
  });

  it('mcp-bridge: a program that exits at once', async () => {
    assertOneLineError(await runCli('mcp-bridge', ['false'], env), /^mcp-bridge: 'false' exited with code 1 before answering initialize/);
  });

  it('mcp-bridge: a program that is not an MCP server', async () => {
    const result = await runCli('mcp-bridge', ['--startup-timeout', '300', 'sh', '-c', 'echo not json; sleep 30'], env);
    assertOneLineError(result, /^mcp-bridge: 'sh' did not answer initialize within 300 ms/);
  });

  it('mcp-bridge: a token already in use', async () => {
    const result = await runCli('mcp-bridge', ['--share-token', 'taken-token', process.execPath, EVERYTHING_BIN, 'stdio'], env);
    assertOneLineError(result, /^mcp-bridge: share token 'taken-token' is already served/);
  });

  it('mcp-bridge: an invalid token name', async () => {
    const result = await runCli('mcp-bridge', ['--share-token', 'NO', process.execPath, EVERYTHING_BIN, 'stdio'], env);
    assertOneLineError(result, /^mcp-bridge: invalid share token "NO"/);
  });

  it('mcp-bridge: bad flags and bad --env', async () => {
    assertOneLineError(await runCli('mcp-bridge', ['--bogus', 'cmd'], env), /^mcp-bridge: unknown option '--bogus'/);
    assertOneLineError(await runCli('mcp-bridge', [], env), /^mcp-bridge: missing required argument 'command'/);
    assertOneLineError(await runCli('mcp-bridge', ['--env', 'NOEQUALS', 'cmd'], env), /^mcp-bridge: invalid --env 'NOEQUALS'/);
  });
});
