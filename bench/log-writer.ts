// What one call-log line costs the gateway: pino alone (a destination that drops the line), and
// pino writing through our BatchedWriter to /dev/null in batches of 8 KiB and of 64 KiB. The
// event loop turns every 20 lines, as it does between calls, so batches really are written.
// CPU time of this process (user + system, the thread pool's writes included) per line.
//   node dist/bench/log-writer.js [--lines N]
import { closeSync, openSync } from 'node:fs';
import { pino, type DestinationStream } from 'pino';
import { BatchedWriter } from '../src/log.js';
import { intFlag, orExit } from './args.js';

const LINES_DEFAULT = 300_000;

/** CPU microseconds per line for `lines` call-log lines written to `destination`. */
async function cpuPerLine(destination: DestinationStream, lines: number): Promise<number> {
  const logger = pino({ name: 'mcp-gateway' }, destination).child({ session: 'a1b2c3d4' });
  const start = process.cpuUsage();
  for (let i = 0; i < lines; i++) {
    logger.info({ method: 'tools/call', name: 'ev0_echo', backend: 'ev0', ms: (i % 100) / 10, outcome: 'ok' }, 'call');
    if (i % 20 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / lines;
}

const lines = orExit('log-writer', () => intFlag(process.argv.slice(2), '--lines', LINES_DEFAULT));
const devNull = openSync('/dev/null', 'w');
const rows: [string, number][] = [];
// Warm-up of pino's serialiser, then each side measured twice, interleaved.
await cpuPerLine({ write: () => undefined }, lines / 10);
for (let round = 0; round < 2; round++) {
  rows.push(['pino, line dropped', await cpuPerLine({ write: () => undefined }, lines)]);
  for (const batch of [8192, 65536]) {
    const writer = new BatchedWriter(devNull, batch);
    rows.push([`pino → BatchedWriter, ${batch / 1024} KiB batches`, await cpuPerLine(writer, lines)]);
    writer.flushSync();
  }
}
closeSync(devNull);
process.stdout.write(`# call-log line cost (${lines} lines a run, node ${process.version})\n\n| destination | CPU µs a line |\n|---|---|\n`);
for (const [label, us] of rows) process.stdout.write(`| ${label} | ${us.toFixed(2)} |\n`);
