import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isGatewayError } from '../../src/errors.js';
import { LocalShareProvider } from '../../src/share/local/index.js';
import { runShareProviderContract } from './contract.js';

const home = await mkdtemp(join(tmpdir(), 'mcpgw-local-'));
after(() => rm(home, { recursive: true, force: true }));

runShareProviderContract({
  name: 'local',
  create: () => ({ server: new LocalShareProvider(home), client: new LocalShareProvider(home) }),
});

describe('local share specifics', () => {
  it('keeps sockets 0600 in a 0700 directory, even one that existed with a looser mode', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpgw-perm-'));
    const provider = new LocalShareProvider(dir);
    const first = await provider.listen({ onConnection: (s) => s.destroy() });
    await first.close();
    const { chmod } = await import('node:fs/promises');
    await chmod(join(dir, 'shares'), 0o755);
    const listener = await provider.listen({ onConnection: (s) => s.destroy() });
    assert.equal((await stat(join(dir, 'shares'))).mode & 0o777, 0o700);
    assert.equal((await stat(provider.socketPath(listener.token))).mode & 0o777, 0o600);
    await listener.close();
    await assert.rejects(stat(provider.socketPath(listener.token)), { code: 'ENOENT' });
    await rm(dir, { recursive: true, force: true });
  });

  it('reclaims a stale socket nobody answers on', async () => {
    const provider = new LocalShareProvider(home);
    // A socket file left by a killed process: bound once, then the server is gone without unlinking.
    const path = provider.socketPath('stale-one');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(home, 'shares'), { recursive: true, mode: 0o700 });
    const ghost = createServer();
    await new Promise<void>((resolve) => ghost.listen(path, resolve));
    // Closing a net.Server unlinks its socket; put a plain file there to stand for the leftover.
    await new Promise<void>((resolve) => ghost.close(() => resolve()));
    await writeFile(path, '');
    const listener = await provider.listen({ token: 'stale-one', onConnection: (s) => s.destroy() });
    assert.equal(listener.token, 'stale-one');
    await listener.close();
  });

  it('refuses a token held by another live process', async () => {
    const a = new LocalShareProvider(home);
    const listener = await a.listen({ token: 'held-token', onConnection: (s) => s.destroy() });
    await assert.rejects(new LocalShareProvider(home).listen({ token: 'held-token', onConnection: (s) => s.destroy() }), (e) =>
      isGatewayError(e, 'SHARE_TOKEN_IN_USE'),
    );
    await listener.close();
  });

  it('refuses, and leaves alone, a live socket it cannot connect to for another reason than ECONNREFUSED (a full accept queue)', async () => {
    const provider = new LocalShareProvider(home);
    const path = provider.socketPath('busy-token');
    // A live server that does not accept: listening with a backlog of 1, then stopped.
    const script = `require('net').createServer().listen({ path: ${JSON.stringify(path)}, backlog: 1 }, () => process.stdout.write('up'))`;
    const server = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const clients: Socket[] = [];
    try {
      await once(server.stdout, 'data');
      server.kill('SIGSTOP');
      // Fill its queue until a connect fails with EAGAIN.
      let full = false;
      for (let i = 0; i < 20 && !full; i++) {
        const socket = connect(path);
        clients.push(socket);
        full = await new Promise<boolean>((resolve) => {
          socket.once('connect', () => resolve(false));
          socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'EAGAIN'));
        });
      }
      assert.ok(full, 'the accept queue filled up');
      await assert.rejects(provider.listen({ token: 'busy-token', onConnection: (s) => s.destroy() }), (e) => isGatewayError(e, 'SHARE_TOKEN_IN_USE'));
      assert.ok((await stat(path)).isSocket(), 'the live socket is still there');
    } finally {
      for (const socket of clients) socket.destroy();
      server.kill('SIGKILL');
      await once(server, 'exit');
      await rm(path, { force: true });
    }
  });
});
