import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EVERYTHING_BIN, startCli, waitFor, type RunningShare } from '../helpers/cli.js';
import { ShareHome } from '../helpers/share-home.js';

const INITIALIZE = { jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
const INITIALIZED = { jsonrpc: '2.0', method: 'notifications/initialized' };

function lines(...messages: (object | string)[]): string {
  return messages.map((m) => (typeof m === 'string' ? m : JSON.stringify(m))).join('\n') + '\n';
}

interface Reply {
  id?: string | number | null;
  result?: { content?: { text?: string }[] };
  error?: { code: number; message: string };
  method?: string;
}

function parsed(stdoutLines: string[]): Reply[] {
  return stdoutLines.map((line) => JSON.parse(line) as Reply);
}

describe('mcp-tools run on raw stdio', () => {
  let home: ShareHome;
  let env: NodeJS.ProcessEnv;
  let bridge: RunningShare;

  before(async () => {
    home = await ShareHome.create('run');
    env = home.env;
    bridge = await home.startBridge([process.execPath, EVERYTHING_BIN, 'stdio']);
  });
  after(async () => {
    await home.cleanup();
  });

  // Handed over, a bridged client talks to its server process directly and gets whatever that
  // server does with bad input; relaying, mcp-tools answers it itself.
  it('relaying, answers malformed JSON with -32700 and carries on; stdout holds JSON-RPC only', async () => {
    const cli = startCli('mcp-tools', ['run', bridge.token, '--no-handover'], env);
    cli.proc.stdin?.write(lines(INITIALIZE, '{"jsonrpc": "2.0", oops', INITIALIZED, { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: { message: 'after garbage' } } }));
    await waitFor(() => parsed(cli.stdoutLines).some((r) => r.id === 7), 10_000, 'echo answer');
    cli.proc.stdin?.end();
    const { code } = await cli.exited;
    assert.equal(code, 0);
    const replies = parsed(cli.stdoutLines);
    assert.equal(replies.find((r) => r.id === null)?.error?.code, -32700);
    assert.equal(replies.find((r) => r.id === 7)?.result?.content?.[0]?.text, 'Echo: after garbage');
    for (const line of cli.stdoutLines) assert.equal((JSON.parse(line) as { jsonrpc?: string }).jsonrpc, '2.0');
  });

  it('answers what was already asked when stdin closes, then exits 0', async () => {
    const cli = startCli('mcp-tools', ['run', bridge.token], env);
    cli.proc.stdin?.end(
      lines(INITIALIZE, INITIALIZED, { jsonrpc: '2.0', id: 'slow', method: 'tools/call', params: { name: 'trigger-long-running-operation', arguments: { duration: 0.6, steps: 2 } } }),
    );
    const { code } = await cli.exited;
    assert.equal(code, 0);
    assert.match(parsed(cli.stdoutLines).find((r) => r.id === 'slow')?.result?.content?.[0]?.text ?? '', /completed/i);
  });

  it('relaying, does not wait at stdin\'s end for the answer to a request the client cancelled', { timeout: 20_000 }, async () => {
    const cli = startCli('mcp-tools', ['run', bridge.token, '--no-handover'], env);
    const cancel = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'long', reason: 'changed my mind' } };
    // server-everything goes on with the operation when told it is cancelled: its answer would come in 60 s.
    cli.proc.stdin?.write(lines(INITIALIZE, INITIALIZED, { jsonrpc: '2.0', id: 'long', method: 'tools/call', params: { name: 'trigger-long-running-operation', arguments: { duration: 60, steps: 2 } } }));
    await waitFor(() => parsed(cli.stdoutLines).some((r) => r.id === 'init'), 10_000, 'initialize answer');
    cli.proc.stdin?.end(lines(cancel));
    const { code } = await cli.exited;
    assert.equal(code, 0);
    assert.ok(!parsed(cli.stdoutLines).some((r) => r.id === 'long'), 'it left without the answer');
  });

  it('relaying, fails pending requests with JSON-RPC errors and exits non-zero when the share goes away', async () => {
    const doomed = await home.startBridge([process.execPath, EVERYTHING_BIN, 'stdio']);
    const cli = startCli('mcp-tools', ['run', doomed.token, '--no-handover'], env);
    cli.proc.stdin?.write(
      lines(INITIALIZE, INITIALIZED, { jsonrpc: '2.0', id: 99, method: 'tools/call', params: { name: 'trigger-long-running-operation', arguments: { duration: 30, steps: 3 } } }),
    );
    await waitFor(() => parsed(cli.stdoutLines).some((r) => r.id === 'init'), 10_000, 'initialize answer');
    await doomed.stop();
    const { code } = await cli.exited;
    assert.equal(code, 1);
    const failure = parsed(cli.stdoutLines).find((r) => r.id === 99);
    assert.equal(failure?.error?.code, -32000);
    assert.match(failure?.error?.message ?? '', /closed the session/);
    assert.match(cli.stderr(), /mcp-tools: share '[a-z0-9]+' closed the session/);
  });
});
