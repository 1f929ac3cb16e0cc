import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { ZROK2_STANDIN, enabledHome, runZrok2, settledStandins, standinProcesses } from '../fixtures/zrok2/harness.js';
import { EVERYTHING_BIN, binPath, connectThroughTools, runCli, startBridge, startGateway, waitFor, type RunningShare } from '../helpers/cli.js';
import { tapProgress, text } from '../helpers/mcp.js';
import { dynamicBackend, firstJsonLine } from '../helpers/share-home.js';
import { nativePackage } from '../../src/wire/native.js';

const GUARD_SKIP = nativePackage()?.parentGuardPath === undefined ? 'the parent guard of @mcp-gateway/fd-passing is not built here (Linux with a compiler)' : undefined;
const SSE_ONLY = fileURLToPath(new URL('../fixtures/sse-only-server.js', import.meta.url));
const ROOT_STREAMABLE = fileURLToPath(new URL('../fixtures/root-streamable-server.js', import.meta.url));

describe('zrok shares through the zrok2 stand-in', () => {
  let root: string;
  let network: string;
  let serverHome: string;
  let clientHome: string;
  let serverEnv: NodeJS.ProcessEnv;
  let clientEnv: NodeJS.ProcessEnv;
  const children: ChildProcess[] = [];
  const shares: RunningShare[] = [];

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mcpgw-zrok-'));
    network = join(root, 'network');
    // Two machines on one overlay: separate HOMEs (zrok environments and local shares), one network.
    const common = { ZROK2_BIN: ZROK2_STANDIN, ZROK2_STANDIN_NETWORK: network, ZROK2_STANDIN_HTTP_ONLY: '1', MCP_SHARE_PROVIDER: '' };
    serverHome = await enabledHome(root, 'server');
    clientHome = await enabledHome(root, 'client');
    serverEnv = { ...common, HOME: serverHome, MCP_GATEWAY_HOME: join(serverHome, '.mcp-gateway') };
    clientEnv = { ...common, HOME: clientHome, MCP_GATEWAY_HOME: join(clientHome, '.mcp-gateway') };
  });

  after(async () => {
    await Promise.allSettled(shares.map((s) => s.stop()));
    for (const child of children) child.kill('SIGTERM');
    assert.deepEqual(await settledStandins(serverHome, 10_000), [], 'no zrok2 left on the serving side');
    assert.deepEqual(await settledStandins(clientHome, 10_000), [], 'no zrok2 left on the client side');
    await rm(root, { recursive: true, force: true });
  });

  it('serves mcp-bridge on zrok, reached with --provider zrok and with auto; the ephemeral share goes on SIGTERM', async () => {
    const bridge = await startBridge(['--provider', 'zrok', '--access-grant', 'account-client', process.execPath, EVERYTHING_BIN, 'stdio'], serverEnv);
    shares.push(bridge);
    assert.equal(bridge.stdoutLines.length, 1);
    for (const env of [{ ...clientEnv, MCP_SHARE_PROVIDER: 'zrok' }, clientEnv]) {
      const { client } = await connectThroughTools(bridge.token, env);
      assert.equal(text(await client.callTool({ name: 'echo', arguments: { message: 'over zrok' } })), 'Echo: over zrok');
      await client.close();
    }
    assert.equal((await bridge.stop()).code, 0);
    await assert.rejects(stat(join(network, 'shares', `${bridge.token}.json`)), { code: 'ENOENT' });
    const gone = await runCli('mcp-tools', ['run', bridge.token, '--provider', 'zrok'], clientEnv);
    assert.equal(gone.code, 1);
    assert.equal(gone.stderr.split('\n').filter(Boolean).length, 1, gone.stderr);
  });

  it('stops the zrok2 access of mcp-tools run when mcp-tools is sent SIGTERM, SIGINT or SIGHUP', async () => {
    const bridge = await startBridge(['--provider', 'zrok', '--access-grant', 'account-client', process.execPath, EVERYTHING_BIN, 'stdio'], serverEnv);
    shares.push(bridge);
    for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130], ['SIGHUP', 129]] as const) {
      const tools = spawn(process.execPath, [binPath('mcp-tools'), 'run', bridge.token, '--provider', 'zrok'], { env: { ...process.env, ...clientEnv }, stdio: ['pipe', 'pipe', 'ignore'] });
      // Connected once it answers: its access is up.
      const answered = firstJsonLine<{ id: number }>(tools);
      tools.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'signals', version: '1' } } })}\n`);
      assert.equal((await answered).id, 1);
      assert.equal((await standinProcesses(clientHome)).length, 1, 'one access while connected');
      const exited = new Promise<number | null>((resolve) => tools.once('exit', (exitCode) => resolve(exitCode)));
      tools.kill(signal);
      assert.equal(await exited, code, `exit status after ${signal}`);
      assert.deepEqual(await settledStandins(clientHome, 10_000), [], `no zrok2 access left after ${signal}`);
    }
    await bridge.stop();
  });

  it('leaves no zrok2 behind when the bridge or mcp-tools is killed with SIGKILL (the parent guard)', { skip: GUARD_SKIP }, async () => {
    const bridge = await startBridge(['--provider', 'zrok', '--access-grant', 'account-client', process.execPath, EVERYTHING_BIN, 'stdio'], serverEnv);
    shares.push(bridge);
    const tools = spawn(process.execPath, [binPath('mcp-tools'), 'run', bridge.token, '--provider', 'zrok', '--no-handover'], { env: { ...process.env, ...clientEnv }, stdio: ['pipe', 'pipe', 'ignore'] });
    const answered = firstJsonLine<{ id: number }>(tools);
    tools.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'sigkill', version: '1' } } })}\n`);
    assert.equal((await answered).id, 1);
    assert.equal((await standinProcesses(clientHome)).length, 1, 'the access');
    assert.equal((await standinProcesses(serverHome)).length, 1, 'the share');
    tools.kill('SIGKILL');
    assert.deepEqual(await settledStandins(clientHome, 10_000), [], 'the access went with mcp-tools');
    bridge.proc.kill('SIGKILL');
    await bridge.exited;
    assert.deepEqual(await settledStandins(serverHome, 10_000), [], 'the share went with the bridge');
  });

  it('auto serves on zrok when zrok2 is enabled, and says so', async () => {
    const bridge = await startBridge([process.execPath, EVERYTHING_BIN, 'stdio'], serverEnv);
    shares.push(bridge);
    const record = JSON.parse(await readFile(join(network, 'shares', `${bridge.token}.json`), 'utf8')) as { persistent?: boolean };
    assert.equal(record.persistent, false, 'an ephemeral share on the zrok network');
    await waitFor(() => /"provider":"zrok"/.test(bridge.stderr()), 5_000, 'the provider choice in the log');
    assert.equal((await bridge.stop()).code, 0);
  });

  it('keeps a persistent token across restarts of the gateway', async () => {
    const created = await runZrok2(['create', 'share', '--share-token', 'persist-gw', '--access-grant', 'account-client'], serverHome, { ZROK2_STANDIN_NETWORK: network });
    assert.equal(created.code, 0, created.stderr);
    const config = join(root, 'persist.yml');
    await writeFile(config, `share_token: persist-gw\nbackends:\n${dynamicBackend('dyn')}`);
    for (let round = 0; round < 2; round++) {
      const gateway = await startGateway(config, serverEnv, ['--provider', 'zrok']);
      assert.equal(gateway.token, 'persist-gw');
      const { client } = await connectThroughTools('persist-gw', clientEnv);
      assert.equal(text(await client.callTool({ name: 'dyn_echo', arguments: { text: `round ${round}` } })), `round ${round}`);
      await client.close();
      assert.equal((await gateway.stop()).code, 0);
      await stat(join(network, 'shares', 'persist-gw.json')); // a persistent share outlives its server
    }
  });

  it('reports not-installed, not-enabled, invalid-name and not-found in one line each', async () => {
    const cases: [NodeJS.ProcessEnv, string[], RegExp][] = [
      [{ ...serverEnv, ZROK2_BIN: join(root, 'no-such-zrok2') }, ['mcp-bridge', '--provider', 'zrok', 'true'], /zrok v2\.0\.x/],
      [{ ...serverEnv, HOME: await mkdtemp(join(root, 'fresh-')) }, ['mcp-bridge', '--provider', 'zrok', 'true'], /zrok2 enable/],
      [serverEnv, ['mcp-bridge', '--provider', 'zrok', '--share-token', 'Not_Valid', 'true'], /invalid share token/],
      [clientEnv, ['mcp-tools', 'run', 'no-such-share-zz', '--provider', 'zrok'], /not found/],
    ];
    for (const [env, [bin, ...args], pattern] of cases) {
      const result = await runCli(bin as 'mcp-bridge' | 'mcp-tools', args, env);
      assert.equal(result.code, 1, `${bin} ${args.join(' ')}: ${result.stderr}`);
      assert.equal(result.stdout, '');
      const lines = result.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0] as string, pattern);
    }
  });

  it('chains a gateway to a bridge through a zrok backend, whole protocol included', async () => {
    const bridge = await startBridge(['--provider', 'zrok', '--access-grant', 'account-client', process.execPath, EVERYTHING_BIN, 'stdio'], serverEnv);
    shares.push(bridge);
    const config = join(root, 'chain.yml');
    await writeFile(config, `backends:\n  - id: remote\n    transport: { type: zrok, share_token: ${bridge.token} }\n`);
    const gateway = await startGateway(config, clientEnv, ['--provider', 'local']);
    shares.push(gateway);
    const { client, transport } = await connectThroughTools(gateway.token, clientEnv, { capabilities: { sampling: {}, elicitation: {} } });
    client.setRequestHandler(CreateMessageRequestSchema, () => ({ model: 'm', role: 'assistant', content: { type: 'text', text: 'sampled across zrok' } }));
    client.setRequestHandler(ElicitRequestSchema, () => ({ action: 'accept', content: { name: 'Zed' } }));
    assert.equal(text(await client.callTool({ name: 'remote_echo', arguments: { message: 'chained' } })), 'Echo: chained');
    assert.match(text(await client.callTool({ name: 'remote_trigger-sampling-request', arguments: { prompt: 'x' } })), /sampled across zrok/);
    assert.match(text(await client.callTool({ name: 'remote_trigger-elicitation-request', arguments: {} })), /Zed/);
    const { seen, restore } = tapProgress(transport);
    await client.callTool({ name: 'remote_trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } }, undefined, { onprogress: () => undefined });
    restore();
    assert.deepEqual(seen.map((p) => p.progress), [1, 2, 3]);
    const resources = (await client.listResources()).resources;
    assert.equal((await client.readResource({ uri: resources[0]?.uri ?? '' })).contents[0]?.uri, resources[0]?.uri);
    assert.match(JSON.stringify((await client.getPrompt({ name: 'remote_args-prompt', arguments: { city: 'Oslo' } })).messages), /Oslo/);
    await client.close();
  });

  it('serves the original mcp-tools (SSE at /sse over a zrok access) from our gateway', async () => {
    const config = join(root, 'interop.yml');
    await writeFile(config, `zrok: {share: {access_grants: [account-client]}}\nbackends:\n${dynamicBackend('dyn')}`);
    const gateway = await startGateway(config, serverEnv, ['--provider', 'zrok']);
    shares.push(gateway);
    // What the Go mcp-tools does: a zrok access, then MCP over SSE to its local port. On port 0
    // the stand-in boots once it listens, on the port it reports.
    const access = spawn(ZROK2_STANDIN, ['access', 'private', gateway.token, '--bind', '127.0.0.1:0', '--subordinate'], { env: { ...process.env, ...clientEnv }, stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(access);
    const boot = await firstJsonLine<{ bind_address: string }>(access);
    assert.match(boot.bind_address, /^127\.0\.0\.1:[1-9]\d*$/);
    const client = new Client({ name: 'go-mcp-tools-stand-in', version: '0.1.3' });
    await client.connect(new SSEClientTransport(new URL(`http://${boot.bind_address}/sse`)));
    assert.equal(text(await client.callTool({ name: 'dyn_echo', arguments: { text: 'from the original' } })), 'from the original');
    await client.close();
    access.kill('SIGTERM');
  });

  it('reaches the original gateway (SSE only) from our mcp-tools and our gateway', async () => {
    const token = await shareForeign([SSE_ONLY]);

    const called = await runCli('mcp-tools', ['call', token, 'fs_read_file', '{"path":"a.txt"}', '--provider', 'zrok'], clientEnv);
    assert.equal(called.stdout, 'contents of a.txt', called.stderr);

    const { client } = await connectThroughTools(token, { ...clientEnv, MCP_SHARE_PROVIDER: 'zrok' });
    assert.equal(client.getServerVersion()?.name, 'original-go-gateway');
    assert.equal(text(await client.callTool({ name: 'fs_read_file', arguments: { path: 'b.txt' } })), 'contents of b.txt');
    await client.close();

    const config = join(root, 'to-original.yml');
    await writeFile(config, `backends:\n  - id: team\n    transport: { type: zrok, share_token: ${token} }\n`);
    const gateway = await startGateway(config, clientEnv, ['--provider', 'local']);
    shares.push(gateway);
    const chained = await connectThroughTools(gateway.token, clientEnv);
    assert.equal(text(await chained.client.callTool({ name: 'team_fs_read_file', arguments: { path: 'c.txt' } })), 'contents of c.txt');
    await chained.client.close();
  });

  /** Starts a stand-in of another implementation's server and shares it on the stand-in zrok. */
  async function shareForeign(args: string[]): Promise<string> {
    const foreign = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(foreign);
    const { port } = await firstJsonLine<{ port: number }>(foreign);
    const share = spawn(ZROK2_STANDIN, ['share', 'private', `http://127.0.0.1:${port}`, '--backend-mode', 'proxy', '--open', '--subordinate'], {
      env: { ...process.env, ...serverEnv },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    children.push(share);
    return (await firstJsonLine<{ token: string }>(share)).token;
  }

  it('reaches the newest original (streamable HTTP at /) from our mcp-tools and our gateway', async () => {
    const token = await shareForeign([ROOT_STREAMABLE]);
    const called = await runCli('mcp-tools', ['call', token, 'fs_read_file', '{"path":"a.txt"}', '--provider', 'zrok'], clientEnv);
    assert.equal(called.stdout, 'contents of a.txt', called.stderr);
    const config = join(root, 'to-newest.yml');
    await writeFile(config, `backends:\n  - id: team\n    transport: { type: zrok, share_token: ${token} }\n`);
    const gateway = await startGateway(config, clientEnv, ['--provider', 'local']);
    shares.push(gateway);
    const chained = await connectThroughTools(gateway.token, clientEnv);
    assert.equal(text(await chained.client.callTool({ name: 'team_fs_read_file', arguments: { path: 'c.txt' } })), 'contents of c.txt');
    const paths = JSON.parse(text(await chained.client.callTool({ name: 'team_paths', arguments: {} }))) as string[];
    await chained.client.close();
    assert.ok(paths.includes('POST /'), 'spoken at /');
    assert.ok(!paths.some((p) => p.endsWith(' /mcp') || p.endsWith(' /sse')), `nothing else tried: ${paths.join(', ')}`);
  });

  it('falls back from / to /mcp for a server that only answers there', async () => {
    const token = await shareForeign([ROOT_STREAMABLE, '--mcp-only']);
    const { client } = await connectThroughTools(token, { ...clientEnv, MCP_SHARE_PROVIDER: 'zrok' });
    assert.equal(text(await client.callTool({ name: 'fs_read_file', arguments: { path: 'd.txt' } })), 'contents of d.txt');
    const paths = JSON.parse(text(await client.callTool({ name: 'paths', arguments: {} }))) as string[];
    await client.close();
    assert.ok(paths.includes('POST /') && paths.includes('POST /mcp'), paths.join(', '));
  });

  it('serves the newest original’s mcp-tools (streamable HTTP at / over a zrok access) from our gateway', async () => {
    const config = join(root, 'interop-root.yml');
    await writeFile(config, `zrok: {share: {access_grants: [account-client]}}\nbackends:\n${dynamicBackend('dyn')}`);
    const gateway = await startGateway(config, serverEnv, ['--provider', 'zrok']);
    shares.push(gateway);
    const access = spawn(ZROK2_STANDIN, ['access', 'private', gateway.token, '--bind', '127.0.0.1:0', '--subordinate'], { env: { ...process.env, ...clientEnv }, stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(access);
    const boot = await firstJsonLine<{ bind_address: string }>(access);
    const client = new Client({ name: 'go-mcp-tools-stand-in', version: '0.1.10' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://${boot.bind_address}/`)));
    assert.equal(text(await client.callTool({ name: 'dyn_echo', arguments: { text: 'at the root' } })), 'at the root');
    await client.close();
    access.kill('SIGTERM');
  });
});
