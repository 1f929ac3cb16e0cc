// The admin listener: Prometheus metrics that count exactly, health and readiness, the status
// view, and the loopback rules.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { connectThroughTools, runCli, waitFor, type RunningShare } from '../helpers/cli.js';
import { text } from '../helpers/mcp.js';
import { DYNAMIC_FIXTURE, ShareHome, dynamicBackend } from '../helpers/share-home.js';

/** GET `path` from `address` (host:port) with the given Host header. */
function get(address: string, path: string, host = 'localhost'): Promise<{ status: number; body: string }> {
  const [hostname, port] = address.split(':') as [string, string];
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port: Number(port), path, headers: { host } }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The value of one sample line of the Prometheus text, 0 when absent. */
function sample(metricsText: string, series: string): number {
  const line = metricsText.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** The admin address the gateway logged. */
async function adminAddress(gateway: RunningShare): Promise<string> {
  const find = (): string | undefined => /"bind":"([^"]+)"[^\n]*admin listener/.exec(gateway.stderr())?.[1];
  await waitFor(() => find() !== undefined, 10_000, 'the admin listener line');
  return find() as string;
}

describe('mcp-gateway admin listener', () => {
  let home: ShareHome;
  let gateway: RunningShare;
  let admin: string;

  before(async () => {
    home = await ShareHome.create('admin');
    gateway = await home.startGateway(`backends:\n${dynamicBackend('dyn')}`, { args: ['--metrics-bind', '127.0.0.1:0'] });
    admin = await adminAddress(gateway);
  });

  after(() => home.cleanup());

  it('answers /healthz and /readyz once serving', async () => {
    assert.deepEqual(await get(admin, '/healthz'), { status: 200, body: 'ok\n' });
    assert.deepEqual(await get(admin, '/readyz'), { status: 200, body: 'ready\n' });
  });

  it('counts calls, sessions, backend processes, refusals and bytes exactly', async () => {
    const calls = 'mcp_gateway_calls_total{method="tools/call",backend="dyn",name="dyn_echo",outcome="ok"}';
    const before = (await get(admin, '/metrics')).body;
    const { client } = await connectThroughTools(gateway.token, home.env);
    for (let i = 0; i < 7; i++) assert.equal(text(await client.callTool({ name: 'dyn_echo', arguments: { text: `n${i}` } })), `n${i}`);
    await assert.rejects(client.callTool({ name: 'dyn_nothing', arguments: {} }), /Unknown tool/);
    const during = (await get(admin, '/metrics')).body;
    assert.equal(sample(during, calls) - sample(before, calls), 7);
    assert.equal(sample(during, 'mcp_gateway_refused_total{reason="unknown_name"}') - sample(before, 'mcp_gateway_refused_total{reason="unknown_name"}'), 1);
    assert.equal(sample(during, 'mcp_gateway_sessions_active'), 1);
    assert.equal(sample(during, 'mcp_gateway_backend_connections{backend="dyn"}'), 1, "the session's own process");
    assert.ok(sample(during, 'mcp_gateway_client_bytes_total{direction="in"}') > sample(before, 'mcp_gateway_client_bytes_total{direction="in"}'));
    assert.ok(sample(during, 'mcp_gateway_client_bytes_total{direction="out"}') > sample(before, 'mcp_gateway_client_bytes_total{direction="out"}'));
    assert.equal(sample(during, 'mcp_gateway_call_duration_seconds_count{method="tools/call",backend="dyn"}') - sample(before, 'mcp_gateway_call_duration_seconds_count{method="tools/call",backend="dyn"}'), 7);
    // A crash counts as one; the closed session leaves no connection behind.
    await assert.rejects(client.callTool({ name: 'dyn_crash', arguments: {} }));
    await client.close();
    await waitFor(async () => sample((await get(admin, '/metrics')).body, 'mcp_gateway_sessions_active') === 0, 10_000, 'the session closed');
    const ended = (await get(admin, '/metrics')).body;
    assert.equal(sample(ended, 'mcp_gateway_backend_crashes_total{backend="dyn"}'), 1);
    assert.equal(sample(ended, 'mcp_gateway_backend_connections{backend="dyn"}'), 0);
  });

  it('shows backends and sessions with mcp-gateway status', async () => {
    const { client } = await connectThroughTools(gateway.token, home.env);
    try {
      await client.callTool({ name: 'dyn_echo', arguments: { text: 'x' } });
      const shown = await runCli('mcp-gateway', ['status', '--metrics-bind', admin], home.env);
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /^BACKEND\s+STATE\s+CONNECTIONS\s+CALLS\s+ERRORS\s+P50 MS\s+P99 MS$/m);
      assert.match(shown.stdout, /^dyn\s+ready\s+1\s+\d+\s+\d+\s+[\d.]+\s+[\d.]+$/m);
      assert.match(shown.stdout, /^SESSION\s+IN FLIGHT$/m);
    } finally {
      await client.close();
    }
  });

  it('says in one line that nothing listens where status looks', async () => {
    const shown = await runCli('mcp-gateway', ['status', '--metrics-bind', '127.0.0.1:1'], home.env);
    assert.equal(shown.code, 1);
    assert.equal(shown.stderr.trim().split('\n').length, 1);
    assert.match(shown.stderr, /nothing listens on 127\.0\.0\.1:1/);
  });

  it('refuses a non-loopback Host header and a non-loopback bind', async () => {
    const refused = await get(admin, '/metrics', 'attacker.example');
    assert.equal(refused.status, 403);
    const wide = await runCli('mcp-gateway', ['run', await home.writeConfig(`backends:\n${dynamicBackend('dyn')}`), '--metrics-bind', '0.0.0.0:0'], home.env);
    assert.equal(wide.code, 1);
    assert.match(wide.stderr, /not a loopback address/);
  });
});

describe('mcp-bridge admin listener', () => {
  let home: ShareHome;

  before(async () => {
    home = await ShareHome.create('bridge-admin');
  });

  after(() => home.cleanup());

  it('counts sessions and server processes, and shows them with mcp-gateway status', async () => {
    const bridge = await home.startBridge(['--metrics-bind', '127.0.0.1:0', process.execPath, DYNAMIC_FIXTURE]);
    const admin = await adminAddress(bridge);
    assert.deepEqual(await get(admin, '/readyz'), { status: 200, body: 'ready\n' });
    const clients = await Promise.all([connectThroughTools(bridge.token, home.env), connectThroughTools(bridge.token, home.env)]);
    for (const { client } of clients) await client.callTool({ name: 'echo', arguments: { text: 'x' } });
    const during = (await get(admin, '/metrics')).body;
    assert.equal(sample(during, 'mcp_bridge_sessions_active'), 2);
    assert.equal(sample(during, 'mcp_bridge_backend_connections{backend="server"}'), 2);
    const shown = await runCli('mcp-gateway', ['status', '--metrics-bind', admin], home.env);
    assert.match(shown.stdout, /^server\s+ready\s+2\s/m);
    await Promise.all(clients.map(({ client }) => client.close()));
    await waitFor(async () => sample((await get(admin, '/metrics')).body, 'mcp_bridge_sessions_active') === 0, 10_000, 'both sessions ended');
    const ended = (await get(admin, '/metrics')).body;
    assert.equal(sample(ended, 'mcp_bridge_sessions_total'), 2);
    assert.equal(sample(ended, 'mcp_bridge_backend_crashes_total{backend="server"}'), 0);
  });
});
