// The gateway's own per-call cost, without processes, pipes or the scheduler: a client's lines go
// through StreamTransport → GatewaySession → UpstreamConnection → StreamTransport to a stand-in
// server in this process that answers like server-everything's echo. The same stand-ins run
// behind a few lines doing what any multiplexing hop must (parse, rename, new id, serialise), so
// the difference is what the gateway's logic costs per call. Every hop waits for a turn of the
// event loop (setImmediate), as real I/O would. Far less noisy than the process
// benchmarks: use it to judge a change to the hot path, then confirm with `run.js`. With
// --allocations it also samples what each side allocates a call (objects collected since
// included) and where, by the nearest function of ours or pino's.
//   node dist/bench/in-process.js [--calls N] [--concurrency N] [--allocations]
import { openSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { PassThrough, Writable } from 'node:stream';
import { pino } from 'pino';
import { intFlag, orExit } from './args.js';
import { parseConfig } from '../src/config/index.js';
import { Backend } from '../src/gateway/backend.js';
import { Catalogue } from '../src/gateway/catalogue.js';
import { GatewaySession, type SessionHost } from '../src/gateway/session.js';
import { BatchedWriter } from '../src/log.js';
import { StreamTransport } from '../src/mcp/stream-transport.js';
import { UpstreamConnection } from '../src/mcp/upstream.js';

interface Options {
  calls: number;
  concurrency: number;
  allocations: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  return orExit('in-process', () => ({ calls: intFlag(argv, '--calls', 200_000), concurrency: intFlag(argv, '--concurrency', 1), allocations: argv.includes('--allocations') }));
}

/** Splits `\n`-terminated text written to `onLine`. */
function lineWriter(onLine: (line: string) => void): Writable {
  let buffered = '';
  const take = (chunk: Buffer | string): void => {
    buffered += chunk.toString();
    let end = buffered.indexOf('\n');
    while (end !== -1) {
      onLine(buffered.slice(0, end));
      buffered = buffered.slice(end + 1);
      end = buffered.indexOf('\n');
    }
  };
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      take(chunk);
      done();
    },
    writev(chunks, done) {
      for (const { chunk } of chunks) take(chunk as Buffer);
      done();
    },
  });
}

/** A server that answers every request one loop turn later, like server-everything's echo. */
function standInServer(): { input: Writable; output: PassThrough } {
  const output = new PassThrough();
  const input = lineWriter((line) => {
    const request = JSON.parse(line) as { id?: unknown; method?: string; params?: { arguments?: { message?: string } } };
    if (request.id === undefined || request.method === undefined) return;
    const answer = `${JSON.stringify({ result: { content: [{ type: 'text', text: `Echo: ${request.params?.arguments?.message}` }] }, jsonrpc: '2.0', id: request.id })}\n`;
    setImmediate(() => output.write(answer));
  });
  return { input, output };
}

const request = (id: number): string => `{"method":"tools/call","params":{"name":"ev0_echo","arguments":{"message":"hello from the benchmark"}},"jsonrpc":"2.0","id":${id}}\n`;

/** Drives echo calls, `concurrency` at a time, into `clientIn`; answers arrive at `output`. */
function client(clientIn: PassThrough, concurrency: number): { output: Writable; run(calls: number): Promise<{ wallUs: number; cpuUs: number }> } {
  let sent = 0;
  let answered = 0;
  let total = 0;
  let finish: (() => void) | undefined;
  const output = lineWriter(() => {
    answered++;
    if (answered === total) finish?.();
    else if (sent < total) {
      const line = request(++sent);
      setImmediate(() => clientIn.write(line));
    }
  });
  return {
    output,
    async run(calls) {
      sent = 0;
      answered = 0;
      total = calls;
      const done = new Promise<void>((resolve) => (finish = resolve));
      const start = performance.now();
      const cpu = process.cpuUsage();
      for (let i = 0; i < Math.min(concurrency, calls); i++) clientIn.write(request(++sent));
      await done;
      const used = process.cpuUsage(cpu);
      return { wallUs: ((performance.now() - start) * 1000) / calls, cpuUs: (used.user + used.system) / calls };
    },
  };
}

/** The least a multiplexing hop does per message (own ids, rename), on the same stand-ins. */
function minimalMux(clientIn: PassThrough, clientOut: Writable, server: ReturnType<typeof standInServer>): void {
  const routes = new Map<number, unknown>();
  let nextId = 0;
  clientIn.pipe(
    lineWriter((line) => {
      const message = JSON.parse(line) as { id: unknown; params: { name: string } };
      const id = ++nextId;
      routes.set(id, message.id);
      message.id = id;
      message.params.name = message.params.name.slice(4);
      server.input.write(`${JSON.stringify(message)}\n`);
    }),
  );
  server.output.pipe(
    lineWriter((line) => {
      const message = JSON.parse(line) as { id: number };
      const id = routes.get(message.id);
      routes.delete(message.id);
      clientOut.write(`${JSON.stringify({ ...message, id })}\n`);
    }),
  );
}

/** One GatewaySession with one shared backend, as the gateway builds them, logging calls to /dev/null. */
async function gatewaySession(clientIn: PassThrough, clientOut: Writable, server: ReturnType<typeof standInServer>): Promise<void> {
  const { config } = parseConfig('backends:\n  - id: ev0\n    isolation: shared\n    transport: { type: stdio, command: stand-in }\n', {});
  const logger = pino({ name: 'mcp-gateway' }, new BatchedWriter(openSync('/dev/null', 'w'), 65536));
  const backend = new Backend(config.backends[0] as (typeof config.backends)[0]);
  backend.catalogue = { tools: [{ name: 'echo' }], prompts: [], resources: [], resourceTemplates: [], capabilities: { tools: {} } };
  const catalogue = Catalogue.build([backend], config.aggregator.separator, true);
  const upstream = new UpstreamConnection(new StreamTransport({ input: server.output, output: server.input }), 'ev0', logger);
  await upstream.start({ onRequest: () => undefined, onNotification: () => undefined, onClose: () => undefined });
  const host: SessionHost = {
    config,
    logger,
    metrics: undefined,
    tracing: undefined,
    ready: Promise.resolve(),
    catalogue: () => catalogue,
    subscribedElsewhere: () => false,
    buildCatalogue: (view) => Catalogue.build([backend], config.aggregator.separator, false, view),
    initializeResult: (protocolVersion) => ({ protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'in-process', version: '1' } }),
    openSessionConnection: () => Promise.resolve(upstream),
    sharedConnection: () => Promise.resolve(upstream),
    listChanged: () => undefined,
    claimShared: () => () => undefined,
    sessionClosed: () => undefined,
    countToolCall: () => undefined,
    backendCrashed: () => undefined,
  };
  const session = new GatewaySession('bench', new StreamTransport({ input: clientIn, output: clientOut }), host);
  await session.start();
  // Answered before any call is timed; the driver counts answers only once it runs.
  clientIn.write('{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18"}}\n');
}

/** Starts the path's objects, answers its initialize and warms it up; returns the measured run. */
async function prepare(kind: 'gateway' | 'minimal', options: Options): Promise<(calls: number) => Promise<{ wallUs: number; cpuUs: number }>> {
  const server = standInServer();
  const clientIn = new PassThrough();
  const driver = client(clientIn, options.concurrency);
  if (kind === 'gateway') await gatewaySession(clientIn, driver.output, server);
  else minimalMux(clientIn, driver.output, server);
  // The session's initialize answer, then a warm-up (the JIT, the backend connection).
  await new Promise((resolve) => setTimeout(resolve, 50));
  await driver.run(Math.min(options.calls, 20_000));
  return (calls) => driver.run(calls);
}

/** One node of the inspector's sampling heap profile. */
interface HeapNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: HeapNode[];
}

/** Bytes a call, and the sites allocating most, while `calls` calls run (objects already collected included). */
async function allocations(run: () => Promise<unknown>, calls: number): Promise<{ bytesPerCall: number; sites: [string, number][] }> {
  const inspector = new Session();
  inspector.connect();
  await inspector.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  await run();
  const { profile } = (await inspector.post('HeapProfiler.stopSampling')) as unknown as { profile: { head: HeapNode; samples: { size: number; nodeId: number }[] } };
  inspector.disconnect();
  // Each node's site: the innermost frame of ours, pino's or this harness's on its stack (node's
  // own functions, streams included, count for the site that called them).
  const site = new Map<number, string>();
  const walk = (node: HeapNode, inherited: string): void => {
    const { functionName, url, lineNumber } = node.callFrame;
    const harness = /\/dist\/bench\//.test(url) ? '(the stand-ins and driver)' : undefined;
    const ours = /\/dist\/(src\/.*)$/.exec(url)?.[1] ?? /node_modules\/(pino\/.*)$/.exec(url)?.[1];
    const here = harness ?? (ours === undefined ? inherited : `${functionName || '(anonymous)'} ${ours}:${lineNumber + 1}`);
    site.set(node.id, here);
    for (const child of node.children ?? []) walk(child, here);
  };
  walk(profile.head, '(node, outside any of those)');
  const bySite = new Map<string, number>();
  let total = 0;
  for (const sample of profile.samples) {
    const where = site.get(sample.nodeId) ?? '?';
    bySite.set(where, (bySite.get(where) ?? 0) + sample.size);
    total += sample.size;
  }
  const sites = [...bySite.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([where, bytes]): [string, number] => [where, bytes / calls]);
  return { bytesPerCall: total / calls, sites };
}

const LABELS = { gateway: 'GatewaySession + UpstreamConnection', minimal: 'minimal proxy logic' } as const;

const options = parseArgs(process.argv.slice(2));
const rows: string[] = [];
// Interleaved, twice each; a fresh set of objects every time.
for (let round = 0; round < 2; round++) {
  for (const kind of ['minimal', 'gateway'] as const) {
    const { wallUs, cpuUs } = await (await prepare(kind, options))(options.calls);
    rows.push(`| ${LABELS[kind]} | ${wallUs.toFixed(2)} | ${cpuUs.toFixed(2)} |`);
  }
}
process.stdout.write(
  `# in-process cost of a call (${options.calls} calls, ${options.concurrency} at a time, node ${process.version})\n\n| path | wall µs a call | CPU µs a call |\n|---|---|---|\n${rows.join('\n')}\n`,
);
if (options.allocations) {
  const calls = Math.min(options.calls, 50_000);
  for (const kind of ['minimal', 'gateway'] as const) {
    const run = await prepare(kind, options);
    const { bytesPerCall, sites } = await allocations(() => run(calls), calls);
    process.stdout.write(`\n## allocated a call, ${LABELS[kind]}: ${bytesPerCall.toFixed(0)} bytes (${calls} calls, the stand-ins' and driver's share included)\n\n| bytes a call | where (nearest function of ours, pino's or the harness's) |\n|---|---|\n`);
    for (const [where, bytes] of sites) process.stdout.write(`| ${bytes.toFixed(0)} | ${where} |\n`);
  }
}
process.exit(0);
