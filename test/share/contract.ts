import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { after, describe, it } from 'node:test';
import { isGatewayError } from '../../src/errors.js';
import type { ShareListener, ShareProvider } from '../../src/share/provider.js';

/** A provider under test, and how to make a second instance that sees the same shares. */
export interface ContractSubject {
  name: string;
  /** Two providers on the same "network": one listens, the other dials. */
  create(): { server: ShareProvider; client: ShareProvider };
  /** Tests this provider cannot run, each with its reason. */
  skip?: { test: string; reason: string }[];
}

/** An echo handler: every connection writes back what it reads. */
function echo(socket: Duplex): void {
  socket.on('error', () => undefined);
  socket.pipe(socket);
}

async function roundTrip(socket: Duplex, text: string): Promise<string> {
  const received: Buffer[] = [];
  let size = 0;
  const done = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      size += chunk.length;
      if (size >= Buffer.byteLength(text)) resolve();
    });
  });
  socket.write(text);
  await done;
  return Buffer.concat(received).toString('utf8');
}

/** The behaviour every ShareProvider must have; run it from one test file per provider. */
export function runShareProviderContract(subject: ContractSubject): void {
  const skipped = new Map((subject.skip ?? []).map((s) => [s.test, s.reason]));
  const test = (name: string, fn: () => Promise<void>): void => {
    const reason = skipped.get(name);
    if (reason !== undefined) it(name, { skip: reason }, fn);
    else it(name, fn);
  };

  describe(`share provider contract: ${subject.name}`, () => {
    const listeners: ShareListener[] = [];
    after(async () => {
      await Promise.allSettled(listeners.map((l) => l.close()));
    });

    test('listen without a token serves under a fresh random 12-char token', async () => {
      const { server } = subject.create();
      const a = await server.listen({ onConnection: echo });
      const b = await server.listen({ onConnection: echo });
      listeners.push(a, b);
      assert.match(a.token, /^[a-z0-9]{12}$/);
      assert.notEqual(a.token, b.token);
    });

    test('dial reaches the listener and bytes flow both ways', async () => {
      const { server, client } = subject.create();
      const listener = await server.listen({ onConnection: echo });
      listeners.push(listener);
      const connector = await client.dial(listener.token);
      const socket = await connector.connect();
      assert.equal(await roundTrip(socket, 'hello share\n'), 'hello share\n');
      socket.destroy();
      await connector.close();
    });

    test('each connect() opens an independent connection', async () => {
      const { server, client } = subject.create();
      // Count connections that carried data: a provider may open a probe connection on dial.
      let connections = 0;
      const listener = await server.listen({
        onConnection: (socket) => {
          socket.once('data', () => connections++);
          echo(socket);
        },
      });
      listeners.push(listener);
      const connector = await client.dial(listener.token);
      const [s1, s2] = await Promise.all([connector.connect(), connector.connect()]);
      const [r1, r2] = await Promise.all([roundTrip(s1, 'one'), roundTrip(s2, 'two')]);
      assert.deepEqual([r1, r2], ['one', 'two']);
      assert.equal(connections, 2);
      s1.destroy();
      s2.destroy();
      await connector.close();
    });

    test('a chosen token is served under that name', async () => {
      const { server, client } = subject.create();
      const token = `contract-${Date.now().toString(36)}`;
      const listener = await server.listen({ token, onConnection: echo });
      listeners.push(listener);
      assert.equal(listener.token, token);
      const connector = await client.dial(token);
      const socket = await connector.connect();
      assert.equal(await roundTrip(socket, 'x'), 'x');
      socket.destroy();
    });

    test('a malformed token is refused by listen and dial', async () => {
      const { server, client } = subject.create();
      for (const bad of ['AB', 'Upper-case', 'has space', 'a'.repeat(33), '../etc']) {
        await assert.rejects(server.listen({ token: bad, onConnection: echo }), (e) => isGatewayError(e, 'SHARE_TOKEN_INVALID'));
        await assert.rejects(client.dial(bad), (e) => isGatewayError(e, 'SHARE_TOKEN_INVALID'));
      }
    });

    test('a token served by a live listener is refused', async () => {
      const { server } = subject.create();
      const listener = await server.listen({ onConnection: echo });
      listeners.push(listener);
      await assert.rejects(server.listen({ token: listener.token, onConnection: echo }), (e) => isGatewayError(e, 'SHARE_TOKEN_IN_USE'));
    });

    test('dialling an unknown token fails with SHARE_NOT_FOUND', async () => {
      const { client } = subject.create();
      await assert.rejects(client.dial('no-such-share-here'), (e) => isGatewayError(e, 'SHARE_NOT_FOUND'));
    });

    test('after close the token is gone and can be served again', async () => {
      const { server, client } = subject.create();
      const listener = await server.listen({ onConnection: echo });
      await listener.close();
      await assert.rejects(client.dial(listener.token), (e) => isGatewayError(e, 'SHARE_NOT_FOUND'));
      const again = await server.listen({ token: listener.token, onConnection: echo });
      listeners.push(again);
      const socket = await (await client.dial(again.token)).connect();
      assert.equal(await roundTrip(socket, 'again'), 'again');
      socket.destroy();
    });

    test('closing the client side ends the server side of a connection', async () => {
      const { server, client } = subject.create();
      let accepted!: (socket: Duplex) => void;
      const serverSideOpened = new Promise<Duplex>((resolve) => (accepted = resolve));
      const listener = await server.listen({
        // The one that reads the byte we send: a provider may open others of its own (a probe).
        onConnection: (socket) => {
          socket.on('error', () => undefined);
          socket.once('data', () => accepted(socket));
        },
      });
      listeners.push(listener);
      const socket = await (await client.dial(listener.token)).connect();
      socket.write('x');
      const serverSide = await serverSideOpened;
      const closed = once(serverSide, 'close');
      assert.equal(serverSide.destroyed, false, 'open while the client side is');
      socket.destroy();
      await closed;
    });
  });
}
