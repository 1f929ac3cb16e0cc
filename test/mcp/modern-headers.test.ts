// The 2026-07-28 HTTP headers the gateway sends a backend, against our SDK v2 fixture over
// streamable HTTP (which checks them): Mcp-Param-* from the tools' declarations, and a refusal
// of the server's (HTTP 400 with the JSON-RPC error as its body) heard as the answer it is.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { silentLogger } from '../../src/log.js';
import { envelopeFor } from '../../src/mcp/era.js';
import { type ToolHeaders, learningToolHeaders, paramHeaders, scanHeaderDeclarations, withModernHeaders } from '../../src/mcp/modern-headers.js';
import { type RawResponse, UpstreamConnection } from '../../src/mcp/upstream.js';
import { startDualEraHttp } from '../helpers/era-fixtures.js';

const CLIENT = { capabilities: {}, clientInfo: { name: 'headers-test', version: '1' } };

describe('x-mcp-header declarations', () => {
  it('finds the marked primitive properties and the header values of a call', () => {
    const scan = scanHeaderDeclarations({
      type: 'object',
      properties: { region: { type: 'string', 'x-mcp-header': 'Region' }, deep: { type: 'object', properties: { on: { type: 'boolean', 'x-mcp-header': 'On' } } } },
    });
    assert.ok(scan.valid);
    assert.deepEqual(paramHeaders(scan.declarations, { region: 'Zürich', deep: { on: true } }), [
      ['Mcp-Param-Region', `=?base64?${Buffer.from('Zürich').toString('base64')}?=`],
      ['Mcp-Param-On', 'true'],
    ]);
    assert.deepEqual(paramHeaders(scan.declarations, {}), [], 'an absent argument has no header');
  });

  it('refuses markers the rules forbid', () => {
    const invalid = [
      { type: 'object', properties: { o: { type: 'object', 'x-mcp-header': 'O' } } },
      { type: 'object', properties: { a: { type: 'array', items: { type: 'string', 'x-mcp-header': 'A' } } } },
      { type: 'object', properties: { a: { type: 'string', 'x-mcp-header': 'Two words' } } },
      { type: 'object', properties: { a: { type: 'string', 'x-mcp-header': 'X' }, b: { type: 'string', 'x-mcp-header': 'x' } } },
      { type: 'object', $defs: { d: { type: 'string', 'x-mcp-header': 'D' } } },
    ];
    for (const schema of invalid) assert.equal(scanHeaderDeclarations(schema).valid, false, JSON.stringify(schema));
  });
});

describe('the gateway’s HTTP requests to a 2026-07-28 backend', () => {
  let http: { proc: ChildProcess; url: string };

  before(async () => {
    http = await startDualEraHttp();
  });
  after(() => {
    http.proc.kill('SIGTERM');
  });

  /** A modern connection to the fixture whose requests go through `fetchImpl`, its tools listed once. */
  async function connect(fetchImpl: FetchLike): Promise<{ connection: UpstreamConnection; tools: ToolHeaders }> {
    const tools: ToolHeaders = new Map();
    const transport = learningToolHeaders(new StreamableHTTPClientTransport(new URL(http.url), { fetch: withModernHeaders(fetchImpl, tools) }), tools, silentLogger());
    const connection = new UpstreamConnection(transport, 'h', silentLogger());
    await connection.start({ onRequest: () => undefined, onNotification: () => undefined, onClose: () => undefined });
    connection.speakModern(CLIENT);
    const listed = await connection.request('tools/list', { _meta: envelopeFor(CLIENT) }, { timeoutMs: 10_000 });
    const names = (listed.result?.['tools'] as { name: string }[]).map((t) => t.name);
    assert.ok(names.includes('regional') && !names.includes('misdeclared'), 'the invalid declaration is left out');
    return { connection, tools };
  }

  const call = (connection: UpstreamConnection, region: string): Promise<RawResponse> =>
    connection.request('tools/call', { name: 'regional', arguments: { region } }, { timeoutMs: 10_000 });

  it('carries the declared Mcp-Param header, so the backend takes the call', async () => {
    const { connection, tools } = await connect(fetch);
    try {
      assert.deepEqual(tools.get('regional'), [{ path: ['region'], header: 'Region' }]);
      const answer = await call(connection, 'eu-west');
      assert.deepEqual(answer.result?.['content'], [{ type: 'text', text: 'region eu-west' }]);
    } finally {
      await connection.close();
    }
  });

  it('hears the backend’s HTTP 400 refusal as the JSON-RPC error it carries', async () => {
    // A hop that loses the header on the way: the backend refuses the call (-32020).
    const losing: FetchLike = (url, init) => {
      const headers = new Headers(init?.headers);
      headers.delete('mcp-param-region');
      return fetch(url, { ...init, headers });
    };
    const { connection } = await connect(losing);
    try {
      const answer = await call(connection, 'eu-west');
      assert.equal(answer.error?.code, -32020);
      assert.match(answer.error?.message ?? '', /Mcp-Param-Region header is absent/);
    } finally {
      await connection.close();
    }
  });
});
