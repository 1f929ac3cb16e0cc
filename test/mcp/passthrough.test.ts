import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LineSplitter } from '../../src/wire/lines.js';
import { PassThroughResponse, responseLineId } from '../../src/mcp/passthrough.js';
import { cut } from '../helpers/bytes.js';

/** A tool result with `text` of at least 2 KiB, so both ends of the line are envelope and content. */
function result(text: string, isError: boolean): Record<string, unknown> {
  return { content: [{ type: 'text', text: text.padEnd(2048, '.') }], ...(isError ? { isError: true } : {}) };
}

/** How three JSON-RPC libraries order a result response's keys. */
const forms = {
  'TypeScript SDK': (id: number, r: unknown) => JSON.stringify({ result: r, jsonrpc: '2.0', id }),
  'Python / Go': (id: number, r: unknown) => JSON.stringify({ jsonrpc: '2.0', id, result: r }),
  'id first, spaced': (id: number, r: unknown) => JSON.stringify({ id, jsonrpc: '2.0', result: r }, null, 1).replace(/\n/g, ' '),
};

describe('PassThroughResponse', () => {
  it('finds the id of a result response in each form, however the line was cut, and replaces it', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...(Object.keys(forms) as (keyof typeof forms)[])),
        fc.integer({ min: 1, max: 2 ** 40 }),
        fc.string({ unit: 'binary', maxLength: 300 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.oneof(fc.integer(), fc.string({ maxLength: 20 })),
        (form, id, content, isError, points, clientId) => {
          const expected = result(content, isError);
          const line = Buffer.from(forms[form](id, expected));
          const parts = cut(line, points).filter((part) => part.length > 0);
          const response = PassThroughResponse.read(parts, line.length);
          assert.ok(response !== undefined, `not recognised: ${form}`);
          assert.equal(response.id, id);
          assert.equal(response.toolError, isError);
          const passed = JSON.parse(Buffer.concat(response.withId(clientId)).toString('utf8')) as Record<string, unknown>;
          assert.deepEqual(passed, { ...(JSON.parse(line.toString('utf8')) as object), id: clientId });
          assert.deepEqual(response.parse(clientId), passed);
        },
      ),
    );
  });

  it('leaves every other message to be parsed', () => {
    const big = 'x'.repeat(4096);
    const others = [
      // A server→client request and a notification whose lines also end in an id.
      { method: 'sampling/createMessage', params: { text: big }, jsonrpc: '2.0', id: 3 },
      { method: 'notifications/message', params: { data: big, id: 3 }, jsonrpc: '2.0' },
      { jsonrpc: '2.0', id: 3, method: 'roots/list', params: { text: big } },
      // Error responses, and ids that are not ours (strings).
      { error: { code: -1, message: big }, jsonrpc: '2.0', id: 3 },
      { jsonrpc: '2.0', id: 3, error: { code: -1, message: big } },
      { result: { text: big }, jsonrpc: '2.0', id: 'three' },
      { jsonrpc: '2.0', id: 'three', result: { text: big } },
    ];
    for (const message of others) {
      const line = Buffer.from(JSON.stringify(message));
      assert.equal(PassThroughResponse.read([line], line.length), undefined, JSON.stringify(message).slice(0, 60));
    }
    const small = Buffer.from(JSON.stringify({ result: {}, jsonrpc: '2.0', id: 3 }));
    assert.equal(PassThroughResponse.read([small], small.length), undefined, 'short lines are always parsed');
  });
});

describe('responseLineId', () => {
  it('reads the id and kind of a result or error response of any size from its ends, string ids included', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...(Object.keys(forms) as (keyof typeof forms)[])),
        fc.oneof(fc.integer(), fc.string({ unit: 'binary', maxLength: 30 })),
        fc.constantFrom('result' as const, 'error' as const),
        fc.string({ unit: 'binary', maxLength: 3000 }),
        (form, id, kind, content) => {
          const body = kind === 'result' ? { content: [{ type: 'text', text: content }] } : { code: -32000, message: content };
          // The forms above write a result; an error response has the same shape with "error".
          const line = Buffer.from(forms[form](0, body).replace(/^(\{\s*)"result"/, `$1"${kind}"`).replace(/"result"(\s*:)/, `"${kind}"$1`).replace(/"id"(\s*):(\s*)0/, `"id"$1:$2${JSON.stringify(id)}`));
          const parsed = JSON.parse(line.toString('utf8')) as { id: unknown };
          assert.deepEqual(parsed.id, id, 'the test line itself');
          assert.deepEqual(responseLineId(line), { id, kind });
        },
      ),
    );
  });

  it('knows nothing of requests and notifications', () => {
    for (const message of [
      { method: 'roots/list', jsonrpc: '2.0', id: 3 },
      { jsonrpc: '2.0', id: 3, method: 'ping' },
      { method: 'notifications/progress', params: { progressToken: 1, progress: 1 }, jsonrpc: '2.0' },
    ]) {
      assert.equal(responseLineId(Buffer.from(JSON.stringify(message))), undefined, JSON.stringify(message));
    }
  });
});

describe('LineSplitter pieces of a line', () => {
  it('offers a line that spans chunks as its pieces, and joins it only when refused', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', minLength: 1, maxLength: 200 }), { maxLength: 10 }), fc.array(fc.nat(), { maxLength: 30 }), fc.boolean(), fc.boolean(), (texts, points, crlf, take) => {
        const lines = texts.map((t) => JSON.stringify(t));
        const bytes = Buffer.from(lines.map((l) => `${l}${crlf ? '\r\n' : '\n'}`).join(''));
        const seen: string[] = [];
        const splitter = new LineSplitter();
        for (const chunk of cut(bytes, points)) {
          splitter.push(
            chunk,
            (line) => seen.push(line.toString('utf8')),
            (parts, length) => {
              const joined = Buffer.concat(parts);
              assert.equal(joined.length, length);
              assert.ok(parts.every((part) => part.length > 0));
              if (take) seen.push(joined.toString('utf8'));
              return take;
            },
          );
        }
        assert.deepEqual(seen, lines);
      }),
    );
  });
});
