// `run.js --profile`: our bridge chain under `node --cpu-prof` (mcp-tools, mcp-bridge and the
// server below them), then the top self-time functions of each process. Node 20 refuses
// --cpu-prof in NODE_OPTIONS, so each node process gets the flags on its own command line.
import { createInterface } from 'node:readline';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { EVERYTHING_BIN, binPath } from '../test/helpers/cli.js';
import { connectClient, type BenchContext } from './paths.js';
import { formatSummary, summariseFile } from './profile-summary.js';
import { ms, summarise, timeSequential } from './stats.js';
import { sleep, spawnTracked, tempDir, withTimeout, type Tracked } from './support.js';

/** Starts `node <flags> mcp-bridge <server…>` and reads its share token. */
async function startProfiledBridge(flags: string[], server: string[], env: NodeJS.ProcessEnv): Promise<{ bridge: Tracked; token: string }> {
  const bridge = spawnTracked(process.execPath, [...flags, binPath('mcp-bridge'), ...server], { env: { ...process.env, ...env } });
  const lines = createInterface({ input: bridge.proc.stdout as NodeJS.ReadableStream });
  const first = new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    bridge.proc.once('exit', (code) => reject(new Error(`mcp-bridge exited with ${code}: ${bridge.output()}`)));
  });
  const line = await withTimeout(first, 30_000, 'the bridge start-up');
  lines.close();
  return { bridge, token: (JSON.parse(line) as { share_token: string }).share_token };
}

/** Profiles `calls` sequential echo calls through the bridge chain; returns a Markdown report. */
export async function profileBridgeChain(ctx: BenchContext, calls: number, warmup: number): Promise<string> {
  const dir = await tempDir('mcpgw-bench-prof-');
  const flags = ['--cpu-prof', `--cpu-prof-dir=${dir}`];
  const { bridge, token } = await startProfiledBridge(flags, [process.execPath, ...flags, EVERYTHING_BIN, 'stdio'], ctx.env);
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [...flags, binPath('mcp-tools'), 'run', token],
    env: { ...(process.env as Record<string, string>), ...(ctx.env as Record<string, string>) },
    stderr: 'ignore',
  });
  const tools = await connectClient(transport, 'bench-profile');
  await timeSequential(tools.client, 'echo', warmup);
  const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
  const window = { fromUs: nowUs(), toUs: 0 };
  const run = await timeSequential(tools.client, 'echo', calls);
  window.toUs = nowUs();
  const latency = summarise(run.samples, run.wallMs);
  const bridgePid = bridge.proc.pid as number;
  const toolsPid = transport.pid ?? Number.NaN;
  // Profiles are written when each process exits normally: mcp-tools on stdin EOF, the bridge on
  // SIGTERM (it stops its server, which exits on stdin EOF).
  await tools.close();
  await bridge.stop();
  await sleep(500);

  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile')).sort();
  const pidOf = (file: string): number => Number(/^CPU\.\d+\.\d+\.(\d+)\./.exec(file)?.[1] ?? Number.NaN);
  const label = (pid: number): string => (pid === toolsPid ? 'mcp-tools run' : pid === bridgePid ? 'mcp-bridge' : 'server-everything');
  const order = (pid: number): number => (pid === toolsPid ? 0 : pid === bridgePid ? 1 : 2);
  const sections = files
    .map((file) => ({ file, pid: pidOf(file) }))
    .sort((a, b) => order(a.pid) - order(b.pid))
    .map(({ file, pid }) => ({ title: `${label(pid)} (pid ${pid})`, summary: summariseFile(join(dir, file), 15, window) }))
    // The bridge's start-up check runs a server that is gone before the measured calls.
    .filter(({ summary }) => summary.totalMs > 0)
    .map(({ title, summary }) => formatSummary(title, summary));
  return [
    `## Profile: bridge chain, ${calls} sequential echo calls after ${warmup} warm-up`,
    `p50 ${ms(latency.p50)} ms, p99 ${ms(latency.p99)} ms under the profiler (profiling slows every process).`,
    `Only samples taken while the measured calls ran (${((window.toUs - window.fromUs) / 1000).toFixed(0)} ms) are counted: no start-up, no shutdown.`,
    '',
    ...sections,
    files.length === 0 ? '(no .cpuprofile was written: did the processes exit normally?)' : '',
  ].join('\n');
}
