import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { oversizedId } from '../../src/mcp/jsonrpc.js';
import { LineSplitter } from '../../src/wire/lines.js';
import { StreamTransport } from '../../src/mcp/stream-transport.js';
import { cut } from '../helpers/bytes.js';

/** JSON-RPC-shaped messages with awkward content: unicode, escapes, newlines inside strings. */
const message = fc.record({
  jsonrpc: fc.constant('2.0'),
  id: fc.oneof(fc.integer(), fc.string({ maxLength: 40 })),
  method: fc.string({ minLength: 1, maxLength: 30 }),
  params: fc.dictionary(fc.string({ maxLength: 10 }), fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.integer(), fc.boolean(), fc.constant(null))),
});

describe('framing properties (fast-check)', () => {
  it('LineSplitter yields exactly the lines sent, however the bytes are cut, with \\n or \\r\\n', () => {
    fc.assert(
      fc.property(fc.array(message, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), fc.boolean(), (messages, points, crlf) => {
        const lines = messages.map((m) => JSON.stringify(m));
        const bytes = Buffer.from(lines.map((l) => `${l}${crlf ? '\r\n' : '\n'}`).join(''));
        const seen: string[] = [];
        const splitter = new LineSplitter();
        for (const chunk of cut(bytes, points)) splitter.push(chunk, (line) => seen.push(line.toString('utf8')));
        assert.deepEqual(seen, lines);
        assert.equal(splitter.bufferedBytes, 0);
      }),
      { numRuns: 300 },
    );
  });

  it('a size limit drops exactly the oversized lines, reports each once with its id, and keeps the rest', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(message, fc.boolean()), { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 30 }), (items, points) => {
        const limit = 300;
        // Some messages are padded past the limit; their id is put last, as the SDK does.
        const lines = items.map(([m, big]) => JSON.stringify(big ? { ...m, params: { pad: 'x'.repeat(limit) }, id: m.id } : m));
        const bytes = Buffer.from(lines.map((l) => `${l}\n`).join(''));
        const kept: string[] = [];
        const dropped: (string | number | null)[] = [];
        const splitter = new LineSplitter({ maxLineBytes: limit, onOversize: (line) => dropped.push(oversizedId(line)) });
        for (const chunk of cut(bytes, points)) splitter.push(chunk, (line) => kept.push(line.toString('utf8')));
        assert.deepEqual(kept, lines.filter((l) => Buffer.byteLength(l) <= limit));
        const oversized = lines.filter((l) => Buffer.byteLength(l) > limit).map((l) => (JSON.parse(l) as { id: string | number }).id);
        assert.equal(dropped.length, oversized.length);
        // A string id with characters JSON must escape may not be recoverable; numbers always are.
        dropped.forEach((id, i) => {
          if (typeof oversized[i] === 'number') assert.equal(id, oversized[i]);
        });
      }),
      { numRuns: 200 },
    );
  });

  it('StreamTransport delivers parsed messages unchanged and answers garbage with -32700 without losing the rest', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(message, fc.constant('{"broken":')), { maxLength: 15 }), fc.array(fc.nat(), { maxLength: 20 }), async (items, points) => {
        const input = new PassThrough();
        const output = new PassThrough();
        const transport = new StreamTransport({ input, output, answerBadInput: true });
        const received: unknown[] = [];
        transport.onmessage = (m) => received.push(m);
        await transport.start();
        const bytes = Buffer.from(items.map((i) => `${typeof i === 'string' ? i : JSON.stringify(i)}\n`).join(''));
        for (const chunk of cut(bytes, points)) input.write(chunk);
        await new Promise((resolve) => setImmediate(resolve));
        // Compared as JSON: generated records have no prototype, parsed ones do.
        assert.deepEqual(received.map((m) => JSON.stringify(m)), items.filter((i) => typeof i !== 'string').map((m) => JSON.stringify(m)));
        const answers = (output.read() as Buffer | null)?.toString('utf8').split('\n').filter(Boolean) ?? [];
        assert.equal(answers.length, items.filter((i) => typeof i === 'string').length);
        for (const answer of answers) assert.equal((JSON.parse(answer) as { error: { code: number } }).error.code, -32700);
        await transport.close();
      }),
      { numRuns: 150 },
    );
  });
});
