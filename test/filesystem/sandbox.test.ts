import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isGatewayError } from '../../src/errors.js';
import { Sandbox, SandboxError, type SandboxErrorReason } from '../../src/filesystem/sandbox.js';

// Layout, under a fresh temp dir (realpath'd: os.tmpdir() is itself a symlink on macOS):
//   docs/            the root        docs/a.txt, docs/..notes, docs/sub/b.txt
//   docs-evil/x.txt  sibling sharing the root's name as a prefix
//   outside/secret.txt
//   docs/link-out -> outside, docs/link-secret -> outside/secret.txt, docs/link-in -> docs/sub
//   docs/dangling-out -> outside/new.txt, docs/dangling-in -> docs/sub/created.txt (neither exists)
//   other/           a second root
let base: string;
let docs: string;
let outside: string;
let other: string;
let sandbox: Sandbox;

before(async () => {
  base = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'mcpfs-sandbox-')));
  docs = path.join(base, 'docs');
  outside = path.join(base, 'outside');
  other = path.join(base, 'other');
  for (const dir of [docs, path.join(docs, 'sub'), path.join(base, 'docs-evil'), outside, other]) await fs.mkdir(dir);
  await fs.writeFile(path.join(docs, 'a.txt'), 'a');
  await fs.writeFile(path.join(docs, '..notes'), 'n');
  await fs.writeFile(path.join(docs, 'sub', 'b.txt'), 'b');
  await fs.writeFile(path.join(base, 'docs-evil', 'x.txt'), 'x');
  await fs.writeFile(path.join(outside, 'secret.txt'), 's');
  await fs.writeFile(path.join(other, 'o.txt'), 'o');
  await fs.symlink(outside, path.join(docs, 'link-out'));
  await fs.symlink(path.join(outside, 'secret.txt'), path.join(docs, 'link-secret'));
  await fs.symlink(path.join(docs, 'sub'), path.join(docs, 'link-in'));
  await fs.symlink(path.join(outside, 'new.txt'), path.join(docs, 'dangling-out'));
  await fs.symlink('sub/created.txt', path.join(docs, 'dangling-in'));
  sandbox = await Sandbox.create([docs, other]);
});

after(async () => {
  await fs.rm(base, { recursive: true, force: true });
});

async function refused(requested: string, reason: SandboxErrorReason, forWrite = false): Promise<void> {
  await assert.rejects(sandbox.resolve(requested, { forWrite }), (err: unknown) => {
    assert.ok(err instanceof SandboxError, `expected SandboxError, got ${String(err)}`);
    assert.equal(err.reason, reason);
    // The message may echo the request, but must not reveal where a symlink or `..` led.
    if (!requested.includes(outside)) assert.ok(!err.message.includes(outside), `message leaks outside path: ${err.message}`);
    assert.ok(!err.message.includes('\n'));
    return true;
  });
}

void describe('Sandbox.create', () => {
  void it('realpaths its roots and drops duplicates', async () => {
    const viaLink = await Sandbox.create([path.join(docs, 'link-in'), path.join(docs, 'sub')]);
    assert.deepEqual(viaLink.roots, [path.join(docs, 'sub')]);
  });

  void it('rejects a missing root with a one-line USAGE error', async () => {
    await assert.rejects(Sandbox.create([path.join(base, 'nope')]), (err: unknown) => {
      assert.ok(isGatewayError(err, 'USAGE'));
      assert.match(err.message, /^root directory does not exist: /);
      assert.ok(!err.message.includes('\n'));
      return true;
    });
  });

  void it('rejects a file as root, and an empty root list', async () => {
    await assert.rejects(Sandbox.create([path.join(docs, 'a.txt')]), (err: unknown) => isGatewayError(err, 'USAGE'));
    await assert.rejects(Sandbox.create([]), (err: unknown) => isGatewayError(err, 'USAGE'));
  });
});

void describe('Sandbox.resolve inside the roots', () => {
  void it('resolves relative paths against the first root', async () => {
    assert.equal(await sandbox.resolve('a.txt'), path.join(docs, 'a.txt'));
    assert.equal(await sandbox.resolve('.'), docs);
    assert.equal(await sandbox.resolve('./sub/b.txt'), path.join(docs, 'sub', 'b.txt'));
  });

  void it('accepts absolute paths in any root', async () => {
    assert.equal(await sandbox.resolve(path.join(docs, 'a.txt')), path.join(docs, 'a.txt'));
    assert.equal(await sandbox.resolve(path.join(other, 'o.txt')), path.join(other, 'o.txt'));
    assert.equal(await sandbox.resolve(other), other);
  });

  void it('accepts ".." that stays inside, and names that merely start with ".."', async () => {
    assert.equal(await sandbox.resolve('sub/../a.txt'), path.join(docs, 'a.txt'));
    assert.equal(await sandbox.resolve('..notes'), path.join(docs, '..notes'));
  });

  void it('follows symlinks that stay inside and returns the real path', async () => {
    assert.equal(await sandbox.resolve('link-in/b.txt'), path.join(docs, 'sub', 'b.txt'));
  });

  void it('reports a missing path as not_found unless forWrite', async () => {
    await refused('missing.txt', 'not_found');
    await refused('no-dir/missing.txt', 'not_found');
    assert.equal(await sandbox.resolve('new.txt', { forWrite: true }), path.join(docs, 'new.txt'));
    assert.equal(await sandbox.resolve('sub/x/y.txt', { forWrite: true }), path.join(docs, 'sub', 'x', 'y.txt'));
  });

  void it('follows a dangling symlink that points inside, for write', async () => {
    assert.equal(await sandbox.resolve('dangling-in', { forWrite: true }), path.join(docs, 'sub', 'created.txt'));
    await refused('dangling-in', 'not_found');
  });
});

void describe('Sandbox.resolve refuses escapes', () => {
  void it('refuses ".." segments that climb out', async () => {
    await refused('..', 'outside');
    await refused('../outside/secret.txt', 'outside');
    await refused('sub/../../outside/secret.txt', 'outside');
    await refused('../outside/new.txt', 'outside', true);
  });

  void it('refuses absolute paths outside the roots', async () => {
    await refused(path.join(outside, 'secret.txt'), 'outside');
    await refused('/etc/passwd', 'outside');
    await refused(base, 'outside');
    await refused('/', 'outside');
  });

  void it('refuses a sibling directory sharing the root as a prefix', async () => {
    await refused(path.join(base, 'docs-evil', 'x.txt'), 'outside');
    await refused(path.join(base, 'docs-evil'), 'outside');
    await refused('../docs-evil/x.txt', 'outside');
    await refused(`${docs}-evil/new.txt`, 'outside', true);
  });

  void it('refuses symlinks that point outside', async () => {
    await refused('link-secret', 'outside');
    await refused('link-out', 'outside');
    await refused('link-out/secret.txt', 'outside');
    await refused('link-out/new.txt', 'outside', true);
    await refused('link-out/deeper/new.txt', 'outside', true);
  });

  void it('refuses a dangling symlink that would create a file outside', async () => {
    await refused('dangling-out', 'outside', true);
    await refused('dangling-out', 'outside');
  });

  void it('checks containment before existence, so outside paths cannot be probed', async () => {
    await refused(path.join(outside, 'does-not-exist'), 'outside');
    await refused('../outside/does-not-exist', 'outside');
  });

  void it('refuses null bytes and empty paths', async () => {
    await refused('a.txt\0.png', 'invalid');
    await refused('\0', 'invalid', true);
    await refused('', 'invalid');
  });

  void it('refuses symlink loops', async () => {
    await fs.symlink('loop-b', path.join(docs, 'loop-a'));
    await fs.symlink('loop-a', path.join(docs, 'loop-b'));
    await refused('loop-a', 'unresolvable');
    await refused('loop-a', 'unresolvable', true);
  });

  void it('is a GatewayError, so describeError and code checks work on it', async () => {
    await assert.rejects(sandbox.resolve('../x'), (err: unknown) => isGatewayError(err, 'USAGE'));
  });
});
