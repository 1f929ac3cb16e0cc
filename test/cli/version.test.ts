import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';

const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
const BINARIES = ['mcp-gateway', 'mcp-bridge', 'mcp-tools', 'mcp-filesystem'] as const;

/** True when `commit` names a commit of this checkout (the build stamps HEAD, which may have moved on since). */
function knownCommit(commit: string): boolean {
  try {
    execFileSync('git', ['cat-file', '-e', `${commit}^{commit}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

void describe('the version subcommand of every binary', () => {
  for (const name of BINARIES) {
    void it(`${name} version: version, commit, build date and Node.js version; --version still works`, async () => {
      const shown = await runCli(name, ['version']);
      assert.equal(shown.code, 0, shown.stderr);
      const match = /^(\S+) (\S+)\ncommit: (\S+)\nbuilt: (\S+)\nnode: (\S+)$/.exec(shown.stdout);
      assert.ok(match !== null, shown.stdout);
      const [, shownName, shownVersion, commit, built, node] = match as unknown as string[];
      assert.equal(shownName, name);
      assert.equal(shownVersion, version);
      assert.equal(node, process.version);
      assert.ok(commit === 'unknown' || (/^[0-9a-f]{12}$/.test(commit ?? '') && knownCommit(commit ?? '')), `commit ${commit}`);
      assert.ok(built === 'unknown' || !Number.isNaN(Date.parse(built ?? '')), `built ${built}`);
      const flag = await runCli(name, ['--version']);
      assert.equal(flag.code, 0);
      assert.equal(flag.stdout, version);
      assert.match((await runCli(name, ['--help'])).stdout, /version\s+print the version, commit, build date/);
    });
  }
});
