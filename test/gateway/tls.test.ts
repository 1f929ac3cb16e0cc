import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { connectThroughTools, runCli } from '../helpers/cli.js';
import { text } from '../helpers/mcp.js';
import { ShareHome } from '../helpers/share-home.js';

/** A stateless HTTPS MCP server with one tool, on a certificate made for this test. */
async function startHttpsServer(key: string, cert: string): Promise<Server> {
  const server = createServer({ key, cert }, (req, res) => {
    const mcp = new McpServer({ name: 'tls-backend', version: '1' });
    mcp.registerTool('whoami', { inputSchema: { name: z.string().optional() } }, () => ({ content: [{ type: 'text', text: 'served over TLS' }] }));
    const transport = new StreamableHTTPServerTransport({ enableJsonResponse: true });
    res.once('close', () => void transport.close());
    void mcp.connect(transport).then(() => transport.handleRequest(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

describe('https backends with tls settings', () => {
  let home: ShareHome;
  let server: Server;
  let endpoint: string;
  let caFile: string;

  before(async () => {
    home = await ShareHome.create('tls');
    caFile = join(home.dir, 'cert.pem');
    const keyFile = join(home.dir, 'key.pem');
    // A self-signed certificate for 127.0.0.1 stands in for an internal CA.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', caFile], { stdio: 'ignore' });
    server = await startHttpsServer(await readFile(keyFile, 'utf8'), await readFile(caFile, 'utf8'));
    endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  });
  after(async () => {
    await home.cleanup();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const configWith = (tls: string): string => `backends:\n  - id: secure\n    transport:\n      type: https\n      endpoint: "${endpoint}"\n      protocol: streamable\n${tls}`;

  /** Serves a gateway with these tls settings and calls the backend through it. */
  async function callThrough(tls: string): Promise<string> {
    const gateway = await home.startGateway(configWith(tls));
    try {
      const { client } = await connectThroughTools(gateway.token, home.env);
      const answer = text(await client.callTool({ name: 'secure_whoami', arguments: {} }));
      await client.close();
      return answer;
    } finally {
      await gateway.stop();
    }
  }

  it('trusts a certificate given as tls.ca_cert_file', async () => {
    assert.equal(await callThrough(`      tls: { ca_cert_file: "${caFile}" }\n`), 'served over TLS');
  });

  it('refuses an untrusted certificate without tls settings, naming the backend', async () => {
    const result = await runCli('mcp-gateway', ['run', await home.writeConfig(configWith(''))], home.env);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /backend 'secure'/);
  });

  it('skips verification with tls.insecure_skip_verify', async () => {
    assert.equal(await callThrough('      tls: { insecure_skip_verify: true }\n'), 'served over TLS');
  });
});
