// `run.js --profile`: our bridge chain and gateway chain under `node --cpu-prof` (mcp-tools, the
// bridge or gateway, and the server below them), then the top self-time functions of each
// process during the measured calls. Node 20 refuses --cpu-prof in NODE_OPTIONS, so each node
// process gets the flags on its own command line.
import { createInterface } from 'node:readline';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { EVERYTHING_BIN, binPath } from '../test/helpers/cli.js';
import { connectClient, writeGatewayConfig, type BenchContext } from './paths.js';
import { formatSummary, summariseFile } from './profile-summary.js';
import { ms, summarise, timeSequential } from './stats.js';
import { sleep, spawnTracked, tempDir, withTimeout, type Tracked } from './support.js';

/** Starts `node <flags> <cli> <args…>` (mcp-bridge or mcp-gateway) and reads its share token. */
async function startProfiledShare(flags: string[], cli: 'mcp-bridge' | 'mcp-gateway', args: string[], env: NodeJS.ProcessEnv): Promise<{ share: Tracked; token: string }> {
  const share = spawnTracked(process.execPath, [...flags, binPath(cli), ...args], { env: { ...process.env, ...env } });
  const lines = createInterface({ input: share.proc.stdout as NodeJS.ReadableStream });
  const first = new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    share.proc.once('exit', (code) => reject(new Error(`${cli} exited with ${code}: ${share.output()}`)));
  });
  const line = await withTimeout(first, 60_000, `${cli} start-up`);
  lines.close();
  return { share, token: (JSON.parse(line) as { share_token: string }).share_token };
}

/** Profiles `calls` sequential echo calls through one chain; returns a Markdown report. */
async function profileChain(ctx: BenchContext, chain: 'bridge' | 'gateway', calls: number, warmup: number): Promise<string> {
  const dir = await tempDir(`mcpgw-bench-prof-${chain}-`);
  const flags = ['--cpu-prof', `--cpu-prof-dir=${dir}`];
  const server = [process.execPath, ...flags, EVERYTHING_BIN, 'stdio'];
  const cli = chain === 'bridge' ? 'mcp-bridge' : 'mcp-gateway';
  const args = chain === 'bridge' ? server : ['run', await writeGatewayConfig(dir, 1, { server, name: 'profile' })];
  const tool = chain === 'bridge' ? 'echo' : 'ev0_echo';
  const { share, token } = await startProfiledShare(flags, cli, args, ctx.env);
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [...flags, binPath('mcp-tools'), 'run', token],
    env: { ...(process.env as Record<string, string>), ...(ctx.env as Record<string, string>) },
    stderr: 'ignore',
  });
  const tools = await connectClient(transport, 'bench-profile');
  await timeSequential(tools.client, tool, warmup);
  const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
  const window = { fromUs: nowUs(), toUs: 0 };
  const run = await timeSequential(tools.client, tool, calls);
  window.toUs = nowUs();
  const latency = summarise(run.samples, run.wallMs);
  const sharePid = share.proc.pid as number;
  const toolsPid = transport.pid ?? Number.NaN;
  // Profiles are written when each process exits normally: mcp-tools on stdin EOF, the bridge or
  // gateway on SIGTERM (it stops its server, which exits on stdin EOF).
  await tools.close();
  await share.stop();
  await sleep(500);

  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile')).sort();
  const pidOf = (file: string): number => Number(/^CPU\.\d+\.\d+\.(\d+)\./.exec(file)?.[1] ?? Number.NaN);
  const label = (pid: number): string => (pid === toolsPid ? 'mcp-tools run' : pid === sharePid ? cli : 'server-everything');
  const order = (pid: number): number => (pid === toolsPid ? 0 : pid === sharePid ? 1 : 2);
  const sections = files
    .map((file) => ({ file, pid: pidOf(file) }))
    .sort((a, b) => order(a.pid) - order(b.pid))
    .map(({ file, pid }) => ({ title: `${chain} chain: ${label(pid)} (pid ${pid})`, summary: summariseFile(join(dir, file), 15, window) }))
    // Start-up checks and discovery run servers that are gone before the measured calls.
    .filter(({ summary }) => summary.totalMs > 0)
    .map(({ title, summary }) => formatSummary(title, summary));
  return [
    `## Profile: ${chain} chain, ${calls} sequential ${tool} calls after ${warmup} warm-up`,
    `p50 ${ms(latency.p50)} ms, p99 ${ms(latency.p99)} ms under the profiler (profiling slows every process).`,
    `Only samples taken while the measured calls ran (${((window.toUs - window.fromUs) / 1000).toFixed(0)} ms) are counted: no start-up, no shutdown.`,
    '',
    ...sections,
    files.length === 0 ? '(no .cpuprofile was written: did the processes exit normally?)' : '',
  ].join('\n');
}

/** Profiles the bridge chain, then the gateway chain (1 backend). */
export async function profileChains(ctx: BenchContext, calls: number, warmup: number): Promise<string> {
  return `${await profileChain(ctx, 'bridge', calls, warmup)}\n${await profileChain(ctx, 'gateway', calls, warmup)}`;
}
