// Runs the official MCP conformance server suite against our fixture, and checks the fixture's
// stdio mode (the one used behind the bridge) separately since the suite only speaks HTTP.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { runConformance } from './helpers/conformance.js';
import { CONFORMANCE_FIXTURE as FIXTURE, startHttpFront, type RunningCli } from './helpers/cli.js';
import { ShareHome, startHttpFixture, stdioBackend } from './helpers/share-home.js';

/** Every server scenario of @modelcontextprotocol/conformance 0.1.13 (`npx conformance list`). */
const SCENARIOS = [
  'server-initialize',
  'logging-set-level',
  'ping',
  'completion-complete',
  'tools-list',
  'tools-call-simple-text',
  'tools-call-image',
  'tools-call-audio',
  'tools-call-embedded-resource',
  'tools-call-mixed-content',
  'tools-call-with-logging',
  'tools-call-error',
  'tools-call-with-progress',
  'tools-call-sampling',
  'tools-call-elicitation',
  'json-schema-2020-12',
  'elicitation-sep1034-defaults',
  'server-sse-polling',
  'server-sse-multiple-streams',
  'elicitation-sep1330-enums',
  'resources-list',
  'resources-read-text',
  'resources-read-binary',
  'resources-templates-read',
  'resources-subscribe',
  'resources-unsubscribe',
  'prompts-list',
  'prompts-get-simple',
  'prompts-get-with-args',
  'prompts-get-embedded-resource',
  'prompts-get-with-image',
  'dns-rebinding-protection',
];

/** POSTs an initialize request with arbitrary Host/Origin headers, which fetch() refuses to set. */
function postWithHost(url: URL, host: string): Promise<number> {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'dns-test', version: '1.0.0' } },
  });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: {
          Host: host,
          Origin: `http://${host}`,
          'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream',
        },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        // A successful initialize answers over SSE; the status is all we need.
        res.destroy();
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}

void describe('conformance fixture over streamable HTTP', () => {
  let fixture: ChildProcess;
  let url: string;

  before(async () => {
    ({ proc: fixture, url } = await startHttpFixture());
  });

  after(async () => {
    if (fixture.exitCode === null && fixture.signalCode === null) {
      const exited = once(fixture, 'exit');
      fixture.kill('SIGTERM');
      // The fixture bounds its own shutdown; this only guards against it being wedged entirely.
      const escalate = setTimeout(() => fixture.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(escalate);
    }
  });

  void it('passes every conformance server scenario', { timeout: 300_000 }, async () => {
    const outcome = await runConformance(url);
    // Visible in the TAP output, so a slow suite or new warnings get noticed.
    console.log(`conformance: ${outcome.passed.length} passed in ${outcome.durationMs} ms`);
    for (const warning of outcome.warnings) console.log(`conformance warning: ${warning.scenario}: ${warning.detail}`);
    assert.deepEqual(outcome.failed, []);
    assert.deepEqual([...outcome.passed].sort(), [...SCENARIOS].sort());
  });

  void it('answers 403 to a foreign Host header and accepts its own', async () => {
    const endpoint = new URL(url);
    assert.equal(await postWithHost(endpoint, 'evil.example.com'), 403);
    assert.equal(await postWithHost(endpoint, `localhost:${endpoint.port}`), 200);
  });
});

void describe('conformance fixture over stdio', () => {
  // A fixture that hung instead of exiting would run into the test's timeout.
  void it('answers pending requests and exits cleanly once stdin ends', { timeout: 60_000 }, async () => {
    const child = spawn(process.execPath, [FIXTURE, '--stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const messages = [
      {
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'stdio-test', version: '1.0.0' } },
      },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      // Takes ~100 ms, so its answer is only written after stdin has already ended.
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'test_tool_with_logging', arguments: {} } },
    ];
    child.stdin.end(messages.map((message) => `${JSON.stringify(message)}\n`).join(''));

    const [code, signal] = await exited;
    assert.equal(signal, null);
    assert.equal(code, 0);

    const replies = stdout
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as { id?: number; method?: string; result?: { content?: unknown } });
    assert.equal(replies.filter((reply) => reply.method === 'notifications/message').length, 3);
    assert.deepEqual(replies.find((reply) => reply.id === 2)?.result?.content, [
      { type: 'text', text: 'Tool with logging executed successfully' },
    ]);
  });
});

void describe('conformance through mcp-tools http → local share → mcp-bridge → fixture (stdio)', () => {
  let home: ShareHome;
  let http: RunningCli;
  let url: string;

  before(async () => {
    home = await ShareHome.create('conf');
    const bridge = await home.startBridge([process.execPath, FIXTURE, '--stdio']);
    const front = await startHttpFront(bridge.token, home.env);
    http = front.cli;
    url = front.url.href;
  });

  after(async () => {
    http.proc.kill('SIGTERM');
    await http.exited;
    await home.cleanup();
  });

  void it('passes every scenario the fixture passes directly', { timeout: 300_000 }, async () => {
    const outcome = await runConformance(url);
    console.log(`conformance through the chain: ${outcome.passed.length} passed in ${outcome.durationMs} ms`);
    for (const warning of outcome.warnings) console.log(`conformance warning: ${warning.scenario}: ${warning.detail}`);
    assert.deepEqual(outcome.failed, []);
    assert.deepEqual([...outcome.passed].sort(), [...SCENARIOS].sort());
  });
});

void describe('conformance through mcp-tools http → local share → mcp-gateway (namespace "") → fixture (stdio)', () => {
  let home: ShareHome;
  let http: RunningCli;
  let url: string;

  before(async () => {
    home = await ShareHome.create('confgw');
    const gateway = await home.startGateway(`backends:\n${stdioBackend('conformance', FIXTURE, ['--stdio'], '    namespace: ""\n')}`);
    const front = await startHttpFront(gateway.token, home.env);
    http = front.cli;
    url = front.url.href;
  });

  after(async () => {
    http.proc.kill('SIGTERM');
    await http.exited;
    await home.cleanup();
  });

  void it('passes every scenario the fixture passes directly', { timeout: 300_000 }, async () => {
    const outcome = await runConformance(url);
    console.log(`conformance through the gateway: ${outcome.passed.length} passed in ${outcome.durationMs} ms`);
    for (const failure of outcome.failed) console.log(`conformance failure: ${failure.scenario}: ${failure.detail}`);
    assert.deepEqual(outcome.failed, []);
    assert.deepEqual([...outcome.passed].sort(), [...SCENARIOS].sort());
  });
});
