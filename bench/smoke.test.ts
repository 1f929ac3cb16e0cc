// `npm run bench:smoke` (CI runs it after `npm test`, outside the test tree): the benchmark's quick
// run goes to the end, measures every row the targets need and leaves no process behind. No
// timing is asserted: CI machines differ too much for that.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const RUN = fileURLToPath(new URL('./run.js', import.meta.url));

const TARGETS = [
  'bridge chain p50 / direct p50',
  'gateway chain (1 backend)',
  'peer chain p50 / our chain (bridge) p50',
  'first tools/list',
  'gateway RSS with 1,000 idle sessions',
  '8 MB result: bridge',
  '8 MB result: gateway',
  'cold start: mcp-tools run',
  'cold start: mcp-tools --help',
];

describe('benchmark smoke run (no timing is asserted)', () => {
  it('runs `bench/run.js --quick` to the end and measures every target', { timeout: 600_000 }, async () => {
    const proc = spawn(process.execPath, [RUN, '--quick'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));

    assert.equal(code, 0, `bench exited with ${code}\n${stdout}\n${stderr}`);
    assert.match(stdout, /## Sequential echo calls/);
    assert.match(stdout, /^\| direct stdio +\| \d/m);
    assert.match(stdout, /^\| ours: bridge +\| \d/m);
    assert.match(stdout, /^\| ours: gateway \(1 backend\) +\| \d/m);

    const coldRows = (stdout.split('## Cold start')[1]?.split('## ')[0] ?? '').split('\n');
    for (const what of ['bare `node -e 0`', '`mcp-tools run', '`mcp-tools --help`', '`mcp-bridge', '`mcp-gateway run']) {
      const row = coldRows.find((line) => line.startsWith(`| ${what}`));
      assert.ok(row !== undefined, `no cold-start row for ${what}`);
      assert.match(row, /\| \d+(\.\d+)? +\| \d+\.\d\d× +\|$/, `${what} was not measured: ${row}`);
    }

    const rows = (stdout.split('## Targets')[1] ?? '').split('\n').filter((line) => line.startsWith('| '));
    for (const target of TARGETS) {
      const row = rows.find((line) => line.startsWith(`| ${target}`));
      assert.ok(row !== undefined, `no targets row for '${target}'`);
      assert.match(row, /\| (pass|FAIL) +\|$/, `'${target}' was not measured: ${row}`);
    }
    assert.doesNotMatch(stderr, /leftover process/);
  });
});
