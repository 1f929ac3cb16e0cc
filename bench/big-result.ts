// An 8 MiB tool result through the bridge chain: time, whether it arrived whole, and how much
// the bridge's (and mcp-tools') resident memory grew while carrying it.
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { startBridge } from '../test/helpers/cli.js';
import { BIG_DEFAULT_BYTES, bigText } from './fixtures/big-text.js';
import { connectClient, connectTools, track, type BenchContext } from './paths.js';
import { median } from './stats.js';
import { benchFile, rssBytes } from './support.js';

/** What the 8 MiB run found. */
export interface BigResult {
  payloadBytes: number;
  runs: number;
  /** Median time of one `big` call through the bridge chain, in ms. */
  bridgeMs: number;
  /** Median time of the same call on a direct stdio connection, in ms. */
  directMs: number;
  bridgeRssBeforeBytes: number;
  bridgeRssPeakBytes: number;
  toolsRssBeforeBytes: number;
  toolsRssPeakBytes: number;
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

async function callBig(client: Client, bytes: number): Promise<{ ms: number; text: string }> {
  const t0 = performance.now();
  const result = await client.callTool({ name: 'big', arguments: { bytes } }, undefined, { timeout: 120_000 });
  const ms = performance.now() - t0;
  const text = (result.content as { text?: string }[] | undefined)?.[0]?.text ?? '';
  return { ms, text };
}

/** Runs the 8 MiB result through the bridge chain (and directly, for reference). */
export async function measureBigResult(ctx: BenchContext, bytes = BIG_DEFAULT_BYTES): Promise<BigResult> {
  const runs = ctx.quick ? 1 : 3;
  const server = [process.execPath, benchFile('fixtures/big-server.js')];
  const expected = bigText(bytes);
  const expectedHash = createHash('sha256').update(expected).digest('hex');

  const bridge = track(await startBridge(server, ctx.env));
  const tools = await connectTools(bridge.token, ctx.env);
  const bridgePid = bridge.proc.pid as number;
  // Warm up: the bridge starts this client's server process on connect; one small call first.
  await callBig(tools.client, 1024);
  const bridgeBefore = rssBytes(bridgePid);
  const toolsBefore = rssBytes(tools.pid);

  const finish = samplePeaks([bridgePid, tools.pid]);
  const times: number[] = [];
  let whole = true;
  let hash = '';
  for (let r = 0; r < runs; r++) {
    const { ms, text } = await callBig(tools.client, bytes);
    times.push(ms);
    hash = createHash('sha256').update(text).digest('hex');
    whole &&= text.length === bytes && text === expected;
  }
  const [bridgePeak = Number.NaN, toolsPeak = Number.NaN] = await finish();
  await tools.close();
  await bridge.stop();

  const [command, ...args] = server as [string, ...string[]];
  const direct = await connectClient(new StdioClientTransport({ command, args, stderr: 'ignore' }), 'bench-big-direct');
  await callBig(direct.client, 1024);
  const directTimes: number[] = [];
  for (let r = 0; r < runs; r++) {
    const { ms, text } = await callBig(direct.client, bytes);
    directTimes.push(ms);
    whole &&= text === expected;
  }
  await direct.close();

  return {
    payloadBytes: bytes,
    runs,
    bridgeMs: median(times),
    directMs: median(directTimes),
    bridgeRssBeforeBytes: bridgeBefore,
    bridgeRssPeakBytes: Math.max(bridgePeak, bridgeBefore),
    toolsRssBeforeBytes: toolsBefore,
    toolsRssPeakBytes: Math.max(toolsPeak, toolsBefore),
    whole: whole && hash === expectedHash,
    sha256: hash,
  };
}
