// Clients of MCP 2026-07-28 (SDK v2) for the era tests: pinned or dual-era (`auto`), reaching a
// share through `mcp-tools run`, `mcp-tools http` or the share's own HTTP surface, plus a raw
// line client for what the SDK does not let a test send.
import { spawn, type ChildProcess } from 'node:child_process';
import { Client, StreamableHTTPClientTransport, type Transport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { Agent, fetch as undiciFetch } from 'undici';
import { LineSplitter } from '../../src/wire/lines.js';
import { binPath } from './cli.js';

/** How a v2 client negotiates: pinned to 2026-07-28, or probing and falling back (`auto`). */
export type EraMode = 'pin' | 'auto';

/** What the tests' client answers when asked for sampling or elicitation. */
export const SAMPLED = 'sampled by the modern client';

/** The root the tests' client offers. */
export const ROOT = { uri: 'file:///srv/modern-root', name: 'modern-root' };

/** A v2 client that declares sampling, elicitation and roots (unless `roots: false`) and answers them (also inside input_required). */
export function modernClient(mode: EraMode, options: { autoFulfill?: boolean; roots?: boolean } = {}): Client {
  const client = new Client(
    { name: 'modern-test', version: '1.0.0' },
    {
      versionNegotiation: mode === 'pin' ? { mode: { pin: '2026-07-28' } } : { mode: 'auto' },
      capabilities: { sampling: {}, elicitation: { form: {}, url: {} }, ...(options.roots === false ? {} : { roots: {} }) },
      ...(options.autoFulfill === false ? { inputRequired: { autoFulfill: false } } : {}),
    },
  );
  client.setRequestHandler('sampling/createMessage', () => ({ role: 'assistant', content: { type: 'text', text: SAMPLED }, model: 'test-model' }));
  if (options.roots !== false) client.setRequestHandler('roots/list', () => ({ roots: [ROOT] }));
  client.setRequestHandler('elicitation/create', () => ({ action: 'accept', content: { name: 'Ada', color: 'teal', email: 'ada@example.org' } }));
  return client;
}

/** `mcp-tools run <token>` as the client's stdio server (`--no-handover` among `extra` to relay). */
export function runTransport(token: string, env: NodeJS.ProcessEnv, extra: readonly string[] = []): StdioClientTransport {
  return new StdioClientTransport({
    command: process.execPath,
    args: [binPath('mcp-tools'), 'run', token, ...extra],
    env: { ...(process.env as Record<string, string>), ...(env as Record<string, string>) },
    stderr: 'pipe',
  });
}

/** Streamable HTTP on a share's own socket (the gateway's or bridge's HTTP front). */
export function shareHttpTransport(socketPath: string): { transport: Transport; agent: Agent } {
  const agent = new Agent({ connect: { socketPath } });
  const transport = new StreamableHTTPClientTransport(new URL('http://localhost/mcp'), {
    fetch: (url, init) => undiciFetch(url, { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher: agent }),
  });
  return { transport, agent };
}

/** The `_meta` envelope a 2026-07-28 request carries. */
export function envelope(version = '2026-07-28', capabilities: Record<string, unknown> = { sampling: {} }): Record<string, unknown> {
  return {
    'io.modelcontextprotocol/protocolVersion': version,
    'io.modelcontextprotocol/clientInfo': { name: 'raw-test', version: '1' },
    'io.modelcontextprotocol/clientCapabilities': capabilities,
  };
}

/** JSON-RPC lines over a spawned `mcp-tools run`: send one, await the next matching one. */
export class LineClient {
  readonly proc: ChildProcess;
  readonly #seen: Record<string, unknown>[] = [];
  readonly #waiters: { match: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }[] = [];

  constructor(token: string, env: NodeJS.ProcessEnv, extra: readonly string[] = []) {
    this.proc = spawn(process.execPath, [binPath('mcp-tools'), 'run', token, ...extra], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const splitter = new LineSplitter();
    this.proc.stdout?.on('data', (chunk: Buffer) =>
      splitter.push(chunk, (line) => {
        const message = JSON.parse(line.toString('utf8')) as Record<string, unknown>;
        const at = this.#waiters.findIndex((w) => w.match(message));
        if (at === -1) this.#seen.push(message);
        else this.#waiters.splice(at, 1)[0]?.resolve(message);
      }),
    );
  }

  send(message: Record<string, unknown>): void {
    this.proc.stdin?.write(`${JSON.stringify({ jsonrpc: '2.0', ...message })}\n`);
  }

  /** The next message (already received or still to come) that `match` accepts. */
  next(match: (m: Record<string, unknown>) => boolean, ms = 15_000): Promise<Record<string, unknown>> {
    const at = this.#seen.findIndex(match);
    if (at !== -1) return Promise.resolve(this.#seen.splice(at, 1)[0] as Record<string, unknown>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching message within ${ms} ms; seen: ${JSON.stringify(this.#seen).slice(0, 500)}`)), ms);
      this.#waiters.push({ match, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  }

  /** The answer to request `id`. */
  answer(id: string | number): Promise<Record<string, unknown>> {
    return this.next((m) => m['id'] === id && m['method'] === undefined);
  }
}
