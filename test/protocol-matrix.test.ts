// The protocol matrix: clients of both eras × backends of both eras × the ways to reach them.
// Each cell lists tools, calls one, and makes the backend ask the client for a sampling answer
// (a server→client request in 2025-11-25, an input_required round in 2026-07-28): the gateway
// speaks each peer's era and translates; the bridge is transparent, so a client and a server
// of different eras meet there only if one of them speaks both. The README's protocol table is
// this file's outcome. Progress, cancellation, elicitation, roots and tasks per era are in
// test/gateway/modern-clients.test.ts, modern-backends.test.ts and tasks.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client as V2Client } from '@modelcontextprotocol/client';
import { StdioClientTransport as V2Stdio } from '@modelcontextprotocol/client/stdio';
import { StreamableHTTPClientTransport as V2Http } from '@modelcontextprotocol/client';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as V1Stdio } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport as V1Http } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { EVERYTHING_BIN, binPath, startHttpFront, type RunningCli, type RunningShare } from './helpers/cli.js';
import { DUAL_ERA_FIXTURE, MODERN_FIXTURE } from './helpers/era-fixtures.js';
import { ShareHome, stdioBackend } from './helpers/share-home.js';

type ClientKind = 'SDK v1 (2025-11-25)' | 'SDK v2 pinned to 2026-07-28' | 'SDK v2 auto';
type BackendKind = 'server-everything (2025-11-25)' | '2026-07-28-only fixture' | 'dual-era fixture';
type PathKind = 'gateway via mcp-tools run' | 'gateway via mcp-tools run --no-handover' | 'gateway via mcp-tools http' | 'bridge via mcp-tools run';

const CLIENTS: ClientKind[] = ['SDK v1 (2025-11-25)', 'SDK v2 pinned to 2026-07-28', 'SDK v2 auto'];
const BACKENDS: Record<BackendKind, { script: string; args: string[]; echo: (text: string) => [string, Record<string, unknown>, string]; sample: [string, Record<string, unknown>] }> = {
  'server-everything (2025-11-25)': {
    script: EVERYTHING_BIN,
    args: ['stdio'],
    echo: (text) => ['echo', { message: text }, `Echo: ${text}`],
    sample: ['trigger-sampling-request', { prompt: 'say something' }],
  },
  '2026-07-28-only fixture': { script: MODERN_FIXTURE, args: [], echo: (text) => ['echo', { text }, text], sample: ['ask', { kinds: ['sampling'] }] },
  'dual-era fixture': { script: DUAL_ERA_FIXTURE, args: [], echo: (text) => ['echo', { text }, text], sample: ['ask', { kinds: ['sampling'] }] },
};
const PATHS: PathKind[] = ['gateway via mcp-tools run', 'gateway via mcp-tools run --no-handover', 'gateway via mcp-tools http', 'bridge via mcp-tools run'];

/** What every client answers to sampling, to be found in the tool's result. */
const SAMPLED = 'SAMPLED-BY-THE-CLIENT';

/**
 * The cells that cannot work, and why: the bridge passes bytes, so it cannot translate.
 * Everything else must pass.
 */
function expectedFailure(client: ClientKind, backend: BackendKind, path: PathKind): string | undefined {
  if (path !== 'bridge via mcp-tools run') return undefined;
  if (client === 'SDK v1 (2025-11-25)' && backend === '2026-07-28-only fixture') return 'a 2025 client and a 2026-07-28-only server share no era (the bridge is transparent)';
  if (client === 'SDK v2 pinned to 2026-07-28' && backend === 'server-everything (2025-11-25)') return 'a client pinned to 2026-07-28 and a 2025 server share no era (the bridge is transparent)';
  return undefined;
}

/** A client of one kind, sampling answered, whichever SDK. */
interface AnyClient {
  names(): Promise<string[]>;
  call(name: string, args: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

async function connect(kind: ClientKind, target: { stdio: string[] } | { url: URL }, env: NodeJS.ProcessEnv): Promise<AnyClient> {
  const fullEnv = { ...(process.env as Record<string, string>), ...(env as Record<string, string>) };
  const textOf = (result: object): string => (((result as { content?: { type: string; text?: string }[] }).content) ?? []).map((c) => c.text ?? '').join('');
  if (kind === 'SDK v1 (2025-11-25)') {
    const client = new V1Client({ name: 'matrix-v1', version: '1' }, { capabilities: { sampling: {} } });
    client.setRequestHandler(CreateMessageRequestSchema, () => ({ model: 'm', role: 'assistant', content: { type: 'text', text: SAMPLED } }));
    await client.connect('url' in target ? new V1Http(target.url) : new V1Stdio({ command: process.execPath, args: target.stdio, env: fullEnv, stderr: 'ignore' }));
    return {
      names: async () => (await client.listTools()).tools.map((t) => t.name),
      call: async (name, args) => textOf(await client.callTool({ name, arguments: args })),
      close: () => client.close(),
    };
  }
  const mode = kind === 'SDK v2 auto' ? 'auto' : { pin: '2026-07-28' as const };
  const client = new V2Client({ name: 'matrix-v2', version: '2' }, { versionNegotiation: { mode }, capabilities: { sampling: {} } });
  client.setRequestHandler('sampling/createMessage', () => ({ model: 'm', role: 'assistant', content: { type: 'text', text: SAMPLED } }));
  await client.connect('url' in target ? new V2Http(target.url) : new V2Stdio({ command: process.execPath, args: target.stdio, env: fullEnv, stderr: 'ignore' }));
  return {
    names: async () => (await client.listTools()).tools.map((t) => t.name),
    call: async (name, args) => textOf(await client.callTool({ name, arguments: args })),
    close: () => client.close(),
  };
}

describe('protocol matrix: clients × backends × paths', () => {
  let home: ShareHome;
  const gateways = new Map<BackendKind, RunningShare>();
  const bridges = new Map<BackendKind, RunningShare>();
  const fronts = new Map<BackendKind, URL>();
  const clis: RunningCli[] = [];

  before(async () => {
    home = await ShareHome.create('matrix');
    for (const [kind, backend] of Object.entries(BACKENDS) as [BackendKind, (typeof BACKENDS)[BackendKind]][]) {
      const gateway = await home.startGateway(`backends:\n${stdioBackend('b', backend.script, backend.args)}`);
      gateways.set(kind, gateway);
      bridges.set(kind, await home.startBridge([process.execPath, backend.script, ...backend.args]));
      const front = await startHttpFront(gateway.token, home.env);
      clis.push(front.cli);
      fronts.set(kind, front.url);
    }
  });

  after(async () => {
    for (const cli of clis) cli.proc.kill('SIGTERM');
    await Promise.all(clis.map((cli) => cli.exited));
    await home.cleanup();
  });

  for (const client of CLIENTS) {
    for (const backend of Object.keys(BACKENDS) as BackendKind[]) {
      for (const path of PATHS) {
        const failure = expectedFailure(client, backend, path);
        it(`${client} → ${path} → ${backend}${failure === undefined ? '' : ': refused'}`, async () => {
          const viaBridge = path === 'bridge via mcp-tools run';
          const token = (viaBridge ? bridges : gateways).get(backend)?.token as string;
          const target =
            path === 'gateway via mcp-tools http'
              ? { url: fronts.get(backend) as URL }
              : { stdio: [binPath('mcp-tools'), 'run', token, ...(path === 'gateway via mcp-tools run --no-handover' ? ['--no-handover'] : [])] };
          if (failure !== undefined) {
            await assert.rejects(async () => (await connect(client, target, home.env)).close(), Error, failure);
            return;
          }
          const session = await connect(client, target, home.env);
          try {
            const prefix = viaBridge ? '' : 'b_';
            const spec = BACKENDS[backend];
            const [echo, args, expected] = spec.echo(`${client}/${path}`);
            assert.ok((await session.names()).includes(`${prefix}echo`), 'tools listed');
            assert.equal(await session.call(`${prefix}${echo}`, args), expected);
            assert.match(await session.call(`${prefix}${spec.sample[0]}`, spec.sample[1]), new RegExp(SAMPLED), 'the backend’s sampling request answered by the client');
          } finally {
            await session.close();
          }
        });
      }
    }
  }
});
