import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { isGatewayError, type GatewayErrorCode } from '../../src/errors.js';
import { createListenProvider, createShareProvider, dialShare, LocalShareProvider } from '../../src/share/index.js';
import type { ShareProvider } from '../../src/share/provider.js';
import { classifyZrokError, isZrokEnabled, ZrokShareProvider } from '../../src/share/zrok/index.js';
import { enabledHome, runZrok2, settledStandins, shareRecord, standinProcesses, ZROK2_STANDIN } from '../fixtures/zrok2/harness.js';
import { runShareProviderContract } from './contract.js';

const root = await mkdtemp(join(tmpdir(), 'mcpgw-zrok-'));
const contractHome = await enabledHome(root, 'contract');
const home = await enabledHome(root, 'specific');
const standinEnv = { ...process.env, ZROK2_BIN: ZROK2_STANDIN };
const providers: ZrokShareProvider[] = [];

/** A zrok provider on the stand-in, with its HOME passed in rather than set on process.env. */
function zrok(onHome = home, extraEnv: NodeJS.ProcessEnv = {}): ZrokShareProvider {
  const provider = new ZrokShareProvider({ env: { ...standinEnv, ...extraEnv }, home: onHome });
  providers.push(provider);
  return provider;
}

/**
 * zrok serves a chosen token only as a persistent share created beforehand; this does what a user
 * does first (`zrok2 create share --share-token NAME`) so the shared contract applies unchanged.
 */
function createsPersistentShares(provider: ZrokShareProvider): ShareProvider {
  return {
    name: provider.name,
    listen: async (options) => {
      if (options.token !== undefined) {
        await provider.createShare(options.token).catch((err: unknown) => {
          if (!isGatewayError(err, 'SHARE_TOKEN_IN_USE')) throw err;
        });
      }
      return provider.listen(options);
    },
    dial: (token) => provider.dial(token),
  };
}

after(async () => {
  // The contract leaves some connectors open: releasing them is the provider's close().
  await Promise.all(providers.map((p) => p.close()));
  const left = [...(await settledStandins(contractHome)), ...(await settledStandins(home))];
  for (const { pid } of left) process.kill(pid, 'SIGTERM');
  await rm(root, { recursive: true, force: true });
  assert.deepEqual(left, [], 'no stand-in zrok2 may outlive the tests');
});

runShareProviderContract({
  name: 'zrok (stand-in zrok2)',
  create: () => ({ server: createsPersistentShares(zrok(contractHome)), client: zrok(contractHome) }),
});

function echo(socket: Duplex): void {
  socket.on('error', () => undefined);
  socket.pipe(socket);
}

async function roundTrip(socket: Duplex, text: string, until = text): Promise<string> {
  let received = '';
  const done = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8');
      if (received.includes(until)) resolve();
    });
  });
  socket.write(text);
  await done;
  return received;
}

function oneLineError(code: GatewayErrorCode, pattern?: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isGatewayError(err, code), `expected ${code}, got ${String(err)}`);
    assert.doesNotMatch(err.message, /\n/);
    if (pattern !== undefined) assert.match(err.message, pattern);
    return true;
  };
}

async function assertNoStandins(onHome = home): Promise<void> {
  assert.deepEqual(await settledStandins(onHome), [], 'every stand-in zrok2 has been stopped');
}

describe('zrok provider on the stand-in zrok2', () => {
  it('close() stops zrok2 with SIGTERM, which deletes the ephemeral share', async () => {
    const listener = await zrok().listen({ onConnection: echo });
    const record = await shareRecord(home, listener.token);
    assert.equal(record?.persistent, false);
    assert.ok(record?.pid !== undefined);
    await listener.close();
    // The stand-in deletes an ephemeral share only on SIGINT/SIGTERM; a SIGKILL would leave it.
    assert.equal(await shareRecord(home, listener.token), undefined);
    // A quiet period, not a wait for an event: a deliberate close must not settle `failed`.
    assert.equal(await Promise.race([listener.failed.then(() => 'failed'), delay(100, 'quiet')]), 'quiet');
    await assert.rejects(zrok().dial(listener.token), oneLineError('SHARE_NOT_FOUND', /not found on zrok/));
    await assertNoStandins();
  });

  it('a persistent share is served, closed, served again and still reachable', async () => {
    const name = `persist-${Date.now().toString(36)}`;
    const created = await runZrok2(['create', 'share', '--share-token', name, '--open'], home);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, new RegExp(`created share '${name}'`));
    const server = zrok();
    for (const round of ['first', 'second']) {
      const listener = await server.listen({ token: name, onConnection: echo });
      assert.equal(listener.token, name);
      const connector = await zrok().dial(name);
      const socket = await connector.connect();
      assert.equal(await roundTrip(socket, `${round}\n`), `${round}\n`);
      socket.destroy();
      await connector.close();
      await listener.close();
      const record = await shareRecord(home, name);
      assert.equal(record?.persistent, true, 'a persistent share survives its server');
      assert.equal(record.pid, undefined);
    }
    const deleted = await runZrok2(['delete', 'share', name], home);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(await shareRecord(home, name), undefined);
    await assertNoStandins();
  });

  it('a chosen token that was never created says how to create it', async () => {
    await assert.rejects(
      zrok().listen({ token: 'never-created', onConnection: echo }),
      oneLineError('SHARE_NOT_FOUND', /zrok2 create share --share-token never-created'/),
    );
    await assertNoStandins();
  });

  it('an unknown token is SHARE_NOT_FOUND, in one line', async () => {
    await assert.rejects(zrok().dial('no-such-share'), oneLineError('SHARE_NOT_FOUND', /'no-such-share' not found/));
    await assertNoStandins();
  });

  it('zrok2 dying while serving settles `failed`', async () => {
    const listener = await zrok().listen({ onConnection: echo });
    const pid = (await shareRecord(home, listener.token))?.pid;
    assert.ok(pid !== undefined);
    process.kill(pid, 'SIGKILL');
    const failure = await Promise.race([listener.failed, delay(5000, undefined)]);
    assert.ok(isGatewayError(failure, 'SHARE_CLOSED'), `failed settled with ${String(failure)}`);
    assert.match(failure.message, new RegExp(`zrok2 stopped serving share '${listener.token}'`));
    await listener.close();
    // SIGKILL leaks an ephemeral share, as on the real network: remove it by hand.
    assert.notEqual(await shareRecord(home, listener.token), undefined);
    assert.equal((await runZrok2(['delete', 'share', listener.token], home)).code, 0);
    await assertNoStandins();
  });

  it('dials of one token share one zrok2 access, stopped when the last connector closes', async () => {
    const listener = await zrok().listen({ onConnection: echo });
    const client = zrok();
    const [a, b] = await Promise.all([client.dial(listener.token), client.dial(listener.token)]);
    const accesses = async (): Promise<number> => (await standinProcesses(home)).filter((p) => p.args[0] === 'access').length;
    assert.equal(await accesses(), 1);
    await a.close();
    await assert.rejects(a.connect(), oneLineError('SHARE_CLOSED'));
    const socket = await b.connect();
    assert.equal(await roundTrip(socket, 'still there'), 'still there');
    socket.destroy();
    await b.close();
    assert.equal(await accesses(), 0);
    await listener.close();
    await assertNoStandins();
  });

  it('HTTP and an Upgrade to a raw stream cross the share (stand-in in HTTP-only mode)', async () => {
    const http = createHttpServer((_req, res) => res.end('plain'));
    http.on('upgrade', (_req, socket: Duplex) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: mcp-ndjson\r\nConnection: Upgrade\r\n\r\n');
      echo(socket);
    });
    const listener = await zrok().listen({ onConnection: (socket) => http.emit('connection', socket) });
    const connector = await zrok(home, { ZROK2_STANDIN_HTTP_ONLY: '1' }).dial(listener.token);
    const socket = await connector.connect();
    const head = await roundTrip(socket, 'GET /mcp HTTP/1.1\r\nHost: x\r\nUpgrade: mcp-ndjson\r\nConnection: Upgrade\r\n\r\n', '\r\n\r\n');
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.equal(await roundTrip(socket, '{"jsonrpc":"2.0"}\n'), '{"jsonrpc":"2.0"}\n');
    socket.destroy();
    // What an HTTP reverse proxy could not carry is refused, so raw bytes cannot pass unnoticed.
    const raw = await connector.connect();
    assert.match(await roundTrip(raw, 'not http\n', '\r\n\r\n'), /^HTTP\/1\.1 400 /);
    raw.destroy();
    await connector.close();
    await listener.close();
    http.close();
    await assertNoStandins();
  });
});

describe('zrok set-up errors: one clear line each', () => {
  it('zrok2 not installed (ZROK2_BIN or PATH) names zrok v2.0.x and how to get it', async () => {
    for (const env of [{ ...process.env, ZROK2_BIN: '/nonexistent/zrok2' }, { PATH: join(root, 'no-bin-here') }]) {
      const provider = new ZrokShareProvider({ env, home });
      const expected = oneLineError('ZROK_NOT_INSTALLED', /zrok v2\.0\.x.*install zrok2 v2\.0\.x .*zrok2 enable <token>/);
      await assert.rejects(provider.listen({ onConnection: echo }), expected);
      await assert.rejects(provider.dial('some-share'), expected);
    }
  });

  it('an environment that is not enabled says to run `zrok2 enable <token>`', async () => {
    const empty = await mkdtemp(join(root, 'empty-'));
    const provider = new ZrokShareProvider({ env: standinEnv, home: empty });
    const expected = oneLineError('ZROK_NOT_ENABLED', /run 'zrok2 enable <token>'/);
    await assert.rejects(provider.listen({ onConnection: echo }), expected);
    await assert.rejects(provider.dial('some-share'), expected);
    assert.equal(isZrokEnabled(empty), false);
    assert.equal(isZrokEnabled(home), true);
    // metadata.json of another version, or an unreadable environment.json, is not enabled either.
    const old = await mkdtemp(join(root, 'old-'));
    await mkdir(join(old, '.zrok2'));
    await writeFile(join(old, '.zrok2', 'metadata.json'), '{"v":"v0.3"}');
    await writeFile(join(old, '.zrok2', 'environment.json'), '{}');
    assert.equal(isZrokEnabled(old), false);
    await writeFile(join(old, '.zrok2', 'metadata.json'), '{"v":"v0.4"}');
    await writeFile(join(old, '.zrok2', 'environment.json'), '{not json');
    assert.equal(isZrokEnabled(old), false);
    // The stand-in agrees: `status` exits 0 either way, share private refuses.
    assert.equal((await runZrok2(['status'], empty)).code, 0);
    assert.equal((await runZrok2(['status'], home)).code, 0);
    const share = await runZrok2(['share', 'private', '8080', '--backend-mode', 'proxy', '--open', '--subordinate'], empty);
    assert.equal(share.code, 1);
    assert.equal(share.stderr, "[ERROR] unable to load environment; did you 'zrok2 enable'?\n");
  });

  it('invalid share names are refused by the provider and by zrok2 with its 409 text', async () => {
    const provider = zrok();
    await assert.rejects(provider.listen({ token: 'Bad_Name', onConnection: echo }), oneLineError('SHARE_TOKEN_INVALID'));
    await assert.rejects(provider.createShare('Bad_Name'), oneLineError('SHARE_TOKEN_INVALID'));
    const cli = await runZrok2(['create', 'share', '--share-token', 'Bad_Name', '--open'], home);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /requested private share token 'Bad_Name' has invalid unique name/);
    assert.equal(classifyZrokError(cli.stderr), 'invalid-name');
    // v2 has no positional name (cobra NoArgs).
    const positional = await runZrok2(['create', 'share', 'my-gateway', '--open'], home);
    assert.notEqual(positional.code, 0);
    assert.equal(await shareRecord(home, 'my-gateway'), undefined);
  });

  it('classifies the zrok2 error texts the provider acts on', () => {
    assert.equal(classifyZrokError("unable to access share 'x': [POST /access][404] accessNotFound"), 'not-found');
    assert.equal(classifyZrokError("unable to create share: share 'x' already has a running backend"), 'in-use');
    assert.equal(classifyZrokError("unable to load environment; did you 'zrok2 enable'?"), 'not-enabled');
    assert.equal(classifyZrokError("unable to access share 'x': [POST /access][401] accessUnauthorized"), 'denied');
    assert.equal(classifyZrokError('dial tcp: i/o timeout'), 'other');
  });
});

describe('provider choice (auto)', () => {
  const localHome = join(root, 'local');
  const zrokEnv = { ...standinEnv, HOME: home };

  it('listens on zrok when zrok2 is installed and enabled, else on the local share, saying why', async () => {
    const chosen = createListenProvider('auto', { home: localHome, env: zrokEnv });
    assert.equal(chosen.provider.name, 'zrok');
    const empty = await mkdtemp(join(root, 'auto-empty-'));
    const notEnabled = createListenProvider('auto', { home: localHome, env: { ...standinEnv, HOME: empty } });
    assert.equal(notEnabled.provider.name, 'local');
    assert.match(notEnabled.reason, /zrok2 enable/);
    const notInstalled = createListenProvider('auto', { home: localHome, env: { ...zrokEnv, ZROK2_BIN: '/nonexistent/zrok2' } });
    assert.equal(notInstalled.provider.name, 'local');
    assert.match(notInstalled.reason, /v2\.0\.x/);
  });

  it('dials a live local share locally, anything else over zrok, and says so when zrok is not set up', async () => {
    const local = await new LocalShareProvider(localHome).listen({ onConnection: echo });
    const remote = await zrok().listen({ onConnection: echo });
    const viaLocal = await dialShare('auto', local.token, { home: localHome, env: zrokEnv });
    assert.equal(viaLocal.provider, 'local');
    await viaLocal.connector.close();
    const viaZrok = await dialShare('auto', remote.token, { home: localHome, env: zrokEnv });
    assert.equal(viaZrok.provider, 'zrok');
    const socket = await viaZrok.connector.connect();
    assert.equal(await roundTrip(socket, 'over zrok'), 'over zrok');
    socket.destroy();
    await viaZrok.connector.close();
    const empty = await mkdtemp(join(root, 'auto-none-'));
    await assert.rejects(
      dialShare('auto', 'nowhere-at-all', { home: localHome, env: { ...standinEnv, HOME: empty } }),
      oneLineError('SHARE_NOT_FOUND', /not a local share, and zrok cannot be tried: .*zrok2 enable/),
    );
    // createShareProvider('auto') keeps working for existing callers; its name follows its choice.
    const auto = createShareProvider('auto', { home: localHome, env: zrokEnv });
    const listener = await auto.listen({ onConnection: echo });
    assert.equal(auto.name, 'zrok');
    await listener.close();
    await Promise.all([local.close(), remote.close()]);
    await assertNoStandins();
  });
});
