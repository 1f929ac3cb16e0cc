// The local share trusts only files of its own user (issue 17, finding 5): home, shares/ and each
// socket are checked with lstat on both sides, links are never followed, and where the native
// package is built the peer's uid is checked on every connection.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmod, chown, mkdir, mkdtemp, rename, rm, stat, symlink, unlink } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isGatewayError } from '../../src/errors.js';
import { LocalShareProvider } from '../../src/share/local/index.js';
import { nativePackage } from '../../src/wire/native.js';

const NOBODY = 65534;
const AS_ROOT = process.getuid?.() === 0 ? undefined : 'acting as another user (chown, setuid) needs root';
/** Another user must be able to run this node (CI's Node 24 lives in root's cache, 0700). */
const NODE_FOR_NOBODY =
  AS_ROOT ?? (spawnSync(process.execPath, ['-e', '0'], { uid: NOBODY, gid: NOBODY }).status === 0 ? undefined : `uid ${NOBODY} cannot run ${process.execPath}`);
const PEER_CHECK =
  NODE_FOR_NOBODY ?? (typeof nativePackage()?.peerCredentials === 'function' ? undefined : 'the optional package @mcp-gateway/fd-passing is not built here');

const temps: string[] = [];
const servers: Server[] = [];
after(async () => {
  for (const server of servers) server.close();
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

/** A socket that counts who connects to it: the attacker's stand-in. */
async function listeningSocket(path: string): Promise<{ connections: () => number }> {
  let count = 0;
  const server = createServer((socket) => {
    count += 1;
    socket.destroy();
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { connections: () => count };
}

function untrusted(pattern: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(isGatewayError(error, 'SHARE_UNTRUSTED'), `expected SHARE_UNTRUSTED, got ${String(error)}`);
    assert.match(error.message, pattern);
    assert.equal(error.message.includes('\n'), false);
    return true;
  };
}

const serve = { onConnection: (s: { destroy(): void }) => s.destroy() };

describe('local share trust', () => {
  it('refuses a planted shares symlink on both sides and chmods nothing through it', async () => {
    const home = await tempDir('mcpgw-trust-');
    const target = await tempDir('mcpgw-target-');
    await chmod(target, 0o755);
    await symlink(target, join(home, 'shares'));
    const provider = new LocalShareProvider(home);
    await assert.rejects(provider.listen({ ...serve, token: 'planted' }), untrusted(/shares: it is a symbolic link$/));
    assert.equal((await stat(target)).mode & 0o777, 0o755, 'the link target was not chmodded');
    // A live socket behind the link is not dialled either.
    const decoy = await listeningSocket(join(target, 'planted.sock'));
    await assert.rejects(provider.dial('planted'), untrusted(/shares: it is a symbolic link$/));
    assert.equal(decoy.connections(), 0);
  });

  it('refuses a home that is a symbolic link', async () => {
    const base = await tempDir('mcpgw-trust-');
    await mkdir(join(base, 'real'), { mode: 0o700 });
    await symlink(join(base, 'real'), join(base, 'home'));
    const provider = new LocalShareProvider(join(base, 'home'));
    await assert.rejects(provider.listen(serve), untrusted(/home: it is a symbolic link$/));
    await assert.rejects(provider.dial('whatever'), untrusted(/home: it is a symbolic link$/));
  });

  it('a client refuses a shares directory others can write to', async () => {
    const home = await tempDir('mcpgw-trust-');
    const provider = new LocalShareProvider(home);
    const listener = await provider.listen({ ...serve, token: 'loose-mode' });
    try {
      await chmod(join(home, 'shares'), 0o777);
      await assert.rejects(provider.dial('loose-mode'), untrusted(/shares: other users can write to it \(mode 0777\)$/));
    } finally {
      await listener.close();
    }
  });

  it('a client refuses a socket replaced by a symbolic link', async () => {
    const home = await tempDir('mcpgw-trust-');
    const elsewhere = await tempDir('mcpgw-evil-');
    const provider = new LocalShareProvider(home);
    const listener = await provider.listen({ ...serve, token: 'swapped' });
    try {
      const evil = await listeningSocket(join(elsewhere, 'evil.sock'));
      await unlink(provider.socketPath('swapped'));
      await symlink(join(elsewhere, 'evil.sock'), provider.socketPath('swapped'));
      await assert.rejects(provider.dial('swapped'), untrusted(/swapped\.sock: it is a symbolic link$/));
      assert.equal(evil.connections(), 0);
    } finally {
      await listener.close();
    }
  });

  it('refuses a shares directory or a socket owned by another user', { skip: AS_ROOT }, async () => {
    const home = await tempDir('mcpgw-trust-');
    const provider = new LocalShareProvider(home);
    const listener = await provider.listen({ ...serve, token: 'foreign' });
    try {
      await chown(provider.socketPath('foreign'), NOBODY, NOBODY);
      await assert.rejects(provider.dial('foreign'), untrusted(new RegExp(`foreign\\.sock: it belongs to uid ${NOBODY}, not to this user \\(uid 0\\)$`)));
      await chown(provider.socketPath('foreign'), 0, 0);
      await chown(join(home, 'shares'), NOBODY, NOBODY);
      await assert.rejects(provider.dial('foreign'), untrusted(new RegExp(`shares: it belongs to uid ${NOBODY}`)));
      await assert.rejects(provider.listen({ ...serve, token: 'another' }), untrusted(new RegExp(`shares: it belongs to uid ${NOBODY}`)));
    } finally {
      await chown(join(home, 'shares'), 0, 0);
      await listener.close();
    }
  });

  it('a server drops a connection from another user even with the modes loosened', { skip: PEER_CHECK }, async () => {
    const home = await tempDir('mcpgw-trust-');
    let accepted = 0;
    const provider = new LocalShareProvider(home);
    const listener = await provider.listen({ token: 'peer-check', onConnection: (socket) => ((accepted += 1), socket.destroy()) });
    try {
      // Take the file modes out of the way, so only the uid check stands.
      await chmod(home, 0o711);
      await chmod(join(home, 'shares'), 0o711);
      await chmod(provider.socketPath('peer-check'), 0o666);
      const script = `const s = require('net').connect(process.argv[1]);
        let got = 0; s.on('data', (d) => (got += d.length)); s.on('error', () => undefined);
        s.on('connect', () => s.write('GET / HTTP/1.1\\r\\nhost: x\\r\\n\\r\\n'));
        s.on('close', () => process.stdout.write(String(got)));`;
      const intruder = spawn(process.execPath, ['-e', script, provider.socketPath('peer-check')], { uid: NOBODY, gid: NOBODY, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      intruder.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      await once(intruder, 'exit');
      assert.equal(out, '0', 'the connection was closed with nothing answered');
      assert.equal(accepted, 0);
      // Our own user still gets through.
      const own = await provider.dial('peer-check');
      (await own.connect()).destroy();
    } finally {
      await listener.close();
    }
  });

  it('a client refuses a socket of its own user that another user serves', { skip: PEER_CHECK }, async () => {
    const home = await tempDir('mcpgw-trust-');
    const provider = new LocalShareProvider(home);
    // Makes home and shares/ as a server would.
    await (await provider.listen({ ...serve, token: 'placeholder' })).close();
    const drop = await tempDir('mcpgw-drop-');
    await chmod(drop, 0o777);
    const script = `require('net').createServer((s) => s.destroy()).listen(process.argv[1], () => process.stdout.write('up'))`;
    const impostor = spawn(process.execPath, ['-e', script, join(drop, 'evil.sock')], { uid: NOBODY, gid: NOBODY, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await once(impostor.stdout, 'data');
      // Bound by the other user, then moved in and given our owner: only the peer uid tells.
      await rename(join(drop, 'evil.sock'), provider.socketPath('impostor'));
      await chown(provider.socketPath('impostor'), 0, 0);
      await assert.rejects(provider.dial('impostor'), untrusted(/impostor\.sock: it is served by another user$/));
    } finally {
      impostor.kill('SIGKILL');
      await once(impostor, 'exit');
    }
  });
});
