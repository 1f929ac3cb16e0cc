// How a backend connection learns the backend's era (server/discover, then initialize) and what a
// modern connection puts on the wire: the client's envelope on every request, the log level with
// each request instead of logging/setLevel.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { silentLogger } from '../../src/log.js';
import { MemoryShareProvider } from '../../src/share/memory/index.js';
import { UpstreamConnection } from '../../src/mcp/upstream.js';
import { openUpstream, type OpenedUpstream } from '../../src/mcp/upstream-transport.js';
import { DUAL_ERA_FIXTURE, MODERN_FIXTURE } from '../helpers/era-fixtures.js';

const QUIRKS = fileURLToPath(new URL('../fixtures/legacy-quirks.js', import.meta.url));
const CLIENT = { protocolVersion: '2025-06-18', capabilities: { sampling: {}, tasks: {} }, clientInfo: { name: 'era-test', version: '1' } };
const noop = { onRequest: () => undefined, onNotification: () => undefined, onClose: () => undefined };

/** Opens a stdio backend `node script args` as the gateway does. */
function open(script: string, args: string[] = [], probeTimeoutMs?: number): Promise<OpenedUpstream> {
  return openUpstream(
    { type: 'stdio', command: process.execPath, args: [script, ...args], env: {} },
    { label: 'era-test', logger: silentLogger(), provider: new MemoryShareProvider() },
    { params: CLIENT, timeoutMs: 10_000, ...(probeTimeoutMs === undefined ? {} : { probeTimeoutMs }) },
    noop,
  );
}

describe('era detection on a backend connection', () => {
  for (const [name, script] of [
    ['a 2026-07-28-only server', MODERN_FIXTURE],
    ['a dual-era server', DUAL_ERA_FIXTURE],
  ] as const) {
    it(`finds ${name} modern and speaks to it without initialize`, async () => {
      const opened = await open(script);
      try {
        assert.equal(opened.era, 'modern');
        assert.deepEqual(opened.result['serverInfo'], { name: 'modern-fixture', version: '1.0.0' });
        const listed = await opened.connection.request('tools/list', {}, { timeoutMs: 5_000 });
        assert.ok(((listed.result?.['tools'] as unknown[] | undefined) ?? []).length > 0, JSON.stringify(listed));
      } finally {
        await opened.connection.close();
      }
    });
  }

  it('bounds the probe: a 2025 server that never answers server/discover is initialized after the probe time', async () => {
    const started = performance.now();
    const opened = await open(QUIRKS, ['--silent'], 300);
    try {
      assert.equal(opened.era, 'legacy');
      assert.ok(performance.now() - started < 5_000, 'not the whole connect timeout');
      const listed = await opened.connection.request('tools/list', {}, { timeoutMs: 5_000 });
      assert.deepEqual((listed.result?.['tools'] as { name: string }[]).map((t) => t.name), ['quirky']);
    } finally {
      await opened.connection.close();
    }
  });

  it('starts a 2025 server again for initialize when it exits on server/discover', async () => {
    const opened = await open(QUIRKS, ['--exit']);
    try {
      assert.equal(opened.era, 'legacy');
      const listed = await opened.connection.request('tools/list', {}, { timeoutMs: 5_000 });
      assert.deepEqual((listed.result?.['tools'] as { name: string }[]).map((t) => t.name), ['quirky']);
    } finally {
      await opened.connection.close();
    }
  });
});

describe('a modern connection on the wire', () => {
  it('sends the envelope of the client on every request, keeps the client _meta, and carries the log level', async () => {
    const [ours, theirs] = InMemoryTransport.createLinkedPair();
    const received: { method?: string; id?: unknown; params?: { _meta?: Record<string, unknown> } }[] = [];
    theirs.onmessage = (message) => {
      const m = message as (typeof received)[number];
      received.push(m);
      if (m.id !== undefined) void theirs.send({ jsonrpc: '2.0', id: m.id, result: {} } as JSONRPCMessage);
    };
    await theirs.start();
    const connection = new UpstreamConnection(ours, 'wire', silentLogger());
    await connection.start(noop);
    connection.speakModern(CLIENT);
    await connection.request('tools/call', { name: 'x', _meta: { progressToken: 7, custom: 'kept' } }, { timeoutMs: 1_000 });
    const setLevel = await connection.request('logging/setLevel', { level: 'warning' }, { timeoutMs: 1_000 });
    assert.deepEqual(setLevel, { jsonrpc: '2.0', result: {} }, 'answered by the connection itself, as a whole message');
    const other = { capabilities: { elicitation: {} }, clientInfo: { name: 'other', version: '2' } };
    await connection.request('prompts/get', { name: 'p' }, { timeoutMs: 1_000, client: other });
    assert.deepEqual(received.map((m) => m.method), ['tools/call', 'prompts/get'], 'no logging/setLevel on the wire');
    assert.deepEqual(received[0]?.params?._meta, {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientCapabilities': { sampling: {} },
      'io.modelcontextprotocol/clientInfo': { name: 'era-test', version: '1' },
      progressToken: 7,
      custom: 'kept',
    });
    assert.deepEqual(received[1]?.params?._meta, {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientCapabilities': { elicitation: {} },
      'io.modelcontextprotocol/clientInfo': { name: 'other', version: '2' },
      'io.modelcontextprotocol/logLevel': 'warning',
    });
    await connection.close();
  });
});
