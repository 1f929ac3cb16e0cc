import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const RUN = fileURLToPath(new URL('../bench/run.js', import.meta.url));

describe('benchmark smoke run (no timing is asserted)', () => {
  it('runs `bench/run.js --quick` to the end and prints the targets table', { timeout: 600_000 }, async () => {
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
    assert.match(stdout, /## Targets \(issue 6\)/);
    const rows = (stdout.split('## Targets')[1] ?? '').split('\n').filter((line) => line.startsWith('| '));
    for (const target of ['bridge chain p50 / direct p50', 'gateway chain (1 backend)', 'first tools/list', 'gateway RSS with 1,000 idle sessions', '8 MB result']) {
      const row = rows.find((line) => line.startsWith(`| ${target}`));
      assert.ok(row !== undefined, `no targets row for '${target}'`);
      assert.match(row, /\| (pass|FAIL) +\|$/, `'${target}' was not measured: ${row}`);
    }
    assert.doesNotMatch(stderr, /leftover process/);
  });
});
