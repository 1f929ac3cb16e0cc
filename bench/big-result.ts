// An 8 MiB tool result through the bridge chain and the gateway chain: time, whether it arrived
// whole, and how much the bridge's or gateway's (and mcp-tools') resident memory grew carrying it.
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { startBridge, startGateway, type RunningShare } from '../test/helpers/cli.js';
import { BIG_DEFAULT_BYTES, bigText } from './fixtures/big-text.js';
import { connectClient, connectTools, track, writeGatewayConfig, type BenchContext } from './paths.js';
import { median } from './stats.js';
import { benchFile, rssBytes } from './support.js';

/** One chain's run: `mcp-tools run` → local share → the share's process (bridge or gateway) → server. */
export interface BigChainResult {
  /** Median time of one `big` call, in ms. */
  ms: number;
  shareRssBeforeBytes: number;
  shareRssPeakBytes: number;
  toolsRssBeforeBytes: number;
  toolsRssPeakBytes: number;
  whole: boolean;
}

/** What the 8 MiB run found. */
export interface BigResult {
  payloadBytes: number;
  runs: number;
  bridge: BigChainResult;
  /** The gateway with the big server as its one (session) backend. */
  gateway: BigChainResult;
  /** Median time of the same call on a direct stdio connection, in ms. */
  directMs: number;
  whole: boolean;
  sha256: string;
}

// Sampled from a worker thread so that the main thread, busy parsing 8 MiB of JSON, cannot
// make it miss the peak.
const SAMPLER = `
const { workerData, parentPort } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
const stop = new Int32Array(workerData.stop);
const peaks = workerData.pids.map(() => 0);
const read = (pid) => {
  try { const m = /^VmRSS:\\s+(\\d+) kB/m.exec(readFileSync('/proc/' + pid + '/status', 'utf8')); return m ? Number(m[1]) * 1024 : 0; }
  catch { return 0; }
};
while (Atomics.load(stop, 0) === 0) {
  workerData.pids.forEach((pid, i) => { peaks[i] = Math.max(peaks[i], read(pid)); });
  Atomics.wait(stop, 0, 0, 2);
}
parentPort.postMessage(peaks);
`;

/** Samples the peak RSS of `pids` until the returned function is called. */
function samplePeaks(pids: readonly number[]): () => Promise<number[]> {
  const stop = new SharedArrayBuffer(4);
  const worker = new Worker(SAMPLER, { eval: true, workerData: { pids, stop } });
  const result = new Promise<number[]>((resolve, reject) => {
    worker.once('message', (peaks: number[]) => resolve(peaks));
    worker.once('error', reject);
  });
  return async () => {
    const flag = new Int32Array(stop);
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    const peaks = await result;
    await worker.terminate();
    return peaks;
  };
}

async function callBig(client: Client, tool: string, bytes: number): Promise<{ ms: number; text: string }> {
  const t0 = performance.now();
  const result = await client.callTool({ name: tool, arguments: { bytes } }, undefined, { timeout: 120_000 });
  const ms = performance.now() - t0;
  const text = (result.content as { text?: string }[] | undefined)?.[0]?.text ?? '';
  return { ms, text };
}

/** `runs` big calls through `mcp-tools run` to a running share, sampling its and mcp-tools' RSS. */
async function measureChain(ctx: BenchContext, share: RunningShare, tool: string, bytes: number, expected: string, runs: number): Promise<BigChainResult & { hash: string }> {
  const tools = await connectTools(share.token, ctx.env);
  const sharePid = share.proc.pid as number;
  // Warm up: a bridge starts this client's server process on connect, a gateway on first call.
  await callBig(tools.client, tool, 1024);
  const shareBefore = rssBytes(sharePid);
  const toolsBefore = rssBytes(tools.pid);
  const finish = samplePeaks([sharePid, tools.pid]);
  const times: number[] = [];
  let whole = true;
  let hash = '';
  for (let r = 0; r < runs; r++) {
    const { ms, text } = await callBig(tools.client, tool, bytes);
    times.push(ms);
    hash = createHash('sha256').update(text).digest('hex');
    whole &&= text.length === bytes && text === expected;
  }
  const [sharePeak = Number.NaN, toolsPeak = Number.NaN] = await finish();
  await tools.close();
  await share.stop();
  return {
    ms: median(times),
    shareRssBeforeBytes: shareBefore,
    shareRssPeakBytes: Math.max(sharePeak, shareBefore),
    toolsRssBeforeBytes: toolsBefore,
    toolsRssPeakBytes: Math.max(toolsPeak, toolsBefore),
    whole,
    hash,
  };
}

/** Runs the 8 MiB result through the bridge chain and the gateway chain (and directly, for reference). */
export async function measureBigResult(ctx: BenchContext, bytes = BIG_DEFAULT_BYTES): Promise<BigResult> {
  const runs = ctx.quick ? 1 : 3;
  const server = [process.execPath, benchFile('fixtures/big-server.js')];
  const expected = bigText(bytes);
  const expectedHash = createHash('sha256').update(expected).digest('hex');

  const { hash: bridgeHash, ...bridge } = await measureChain(ctx, track(await startBridge(server, ctx.env)), 'big', bytes, expected, runs);
  const config = await writeGatewayConfig(ctx.home, 1, { server, name: 'big' });
  const { hash: gatewayHash, ...gateway } = await measureChain(ctx, track(await startGateway(config, ctx.env)), 'ev0_big', bytes, expected, runs);

  const [command, ...args] = server as [string, ...string[]];
  const direct = await connectClient(new StdioClientTransport({ command, args, stderr: 'ignore' }), 'bench-big-direct');
  await callBig(direct.client, 'big', 1024);
  const directTimes: number[] = [];
  let directWhole = true;
  for (let r = 0; r < runs; r++) {
    const { ms, text } = await callBig(direct.client, 'big', bytes);
    directTimes.push(ms);
    directWhole &&= text === expected;
  }
  await direct.close();

  return {
    payloadBytes: bytes,
    runs,
    bridge,
    gateway,
    directMs: median(directTimes),
    whole: bridge.whole && gateway.whole && directWhole && bridgeHash === expectedHash && gatewayHash === expectedHash,
    sha256: gatewayHash,
  };
}
