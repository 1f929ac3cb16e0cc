// A load generator's client that does as little work of its own as it can: JSON-RPC requests
// written as lines and answers matched by id, without the SDK's Protocol, schemas or result
// validation. On these 2-core machines the benchmark's 16 clients share the CPUs with the hop and
// the server, so what the clients cost is taken from the hop's side; this client shows how much
// of the 16-client gap is the SDK clients' own work (BENCHMARKS.md, 2026-12-02 later).
import type { Readable, Writable } from 'node:stream';
import { LineSplitter } from '../src/wire/lines.js';
import { ECHO_ARGS } from './stats.js';

interface Pending {
  resolve(result: unknown): void;
  reject(error: Error): void;
}

export class LeanClient {
  readonly #output: Writable;
  readonly #pending = new Map<number, Pending>();
  readonly #splitter = new LineSplitter();
  #nextId = 1;

  constructor(input: Readable, output: Writable, head?: Buffer) {
    this.#output = output;
    const onLine = (line: Buffer): void => this.#answer(line);
    input.on('data', (chunk: Buffer) => this.#splitter.push(chunk, onLine));
    const gone = (): void => this.#failAll(new Error('connection closed'));
    input.once('end', gone);
    input.once('close', gone);
    input.on('error', (error: Error) => this.#failAll(error));
    output.on('error', (error: Error) => this.#failAll(error));
    if (head !== undefined && head.length > 0) this.#splitter.push(head, onLine);
  }

  /** The initialize handshake, as any client starts. */
  async initialize(): Promise<this> {
    await this.request('initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench-lean', version: '1.0.0' } });
    this.#output.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n');
    return this;
  }

  request(method: string, params: unknown): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#output.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
    });
  }

  /** Calls `tool` once and checks the answer is the echo, like echoOnce() does with the SDK. */
  async echo(tool: string): Promise<void> {
    const result = (await this.request('tools/call', { name: tool, arguments: ECHO_ARGS })) as { isError?: boolean; content?: { text?: string }[] } | undefined;
    if (result?.isError === true || result?.content?.[0]?.text?.includes(ECHO_ARGS.message) !== true) {
      throw new Error(`unexpected echo result from ${tool}: ${JSON.stringify(result).slice(0, 200)}`);
    }
  }

  #answer(line: Buffer): void {
    const message = JSON.parse(line.toString('utf8')) as { id?: unknown; result?: unknown; error?: { message?: string } };
    if (typeof message.id !== 'number') return; // notifications and server requests: not asked for here
    const pending = this.#pending.get(message.id);
    if (pending === undefined) return;
    this.#pending.delete(message.id);
    if (message.error === undefined) pending.resolve(message.result);
    else pending.reject(new Error(`JSON-RPC error: ${message.error.message ?? JSON.stringify(message.error)}`));
  }

  #failAll(error: Error): void {
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}
