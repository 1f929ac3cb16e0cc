// The protocol matrix: clients of both eras × backends of both eras × the ways to reach them.
// Each cell lists tools, calls one, calls one with progress, gets a prompt, reads a resource, makes
// the backend ask the client for a sampling answer, an elicitation (declined) and its roots (in
// 2025-11-25 server→client requests, in 2026-07-28 input_required rounds), and cancels a call. The
// gateway speaks each peer's era and translates; the bridge is transparent, so a client and a
// server of different eras meet there only if one of them speaks both. The README's protocol table
// is this file's outcome. Tasks (2025-11-25 only: 2026-07-28 made them an extension the gateway
// does not offer) are in test/gateway/tasks.test.ts.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client as V2Client } from '@modelcontextprotocol/client';
import { StdioClientTransport as V2Stdio } from '@modelcontextprotocol/client/stdio';
import { StreamableHTTPClientTransport as V2Http } from '@modelcontextprotocol/client';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as V1Stdio } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport as V1Http } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { ZROK2_STANDIN, enabledHome, settledStandins } from './fixtures/zrok2/harness.js';
import { EVERYTHING_BIN, binPath, startGateway, startHttpFront, waitFor, type RunningCli, type RunningShare } from './helpers/cli.js';
import { DUAL_ERA_FIXTURE, MODERN_FIXTURE } from './helpers/era-fixtures.js';
import { ShareHome, stdioBackend } from './helpers/share-home.js';

type ClientKind = 'SDK v1 (2025-11-25)' | 'SDK v2 pinned to 2026-07-28' | 'SDK v2 auto';
type BackendKind = 'server-everything (2025-11-25)' | '2026-07-28-only fixture' | 'dual-era fixture';
type PathKind =
  | 'gateway via mcp-tools run'
  | 'gateway via mcp-tools run --no-handover'
  | 'gateway via mcp-tools http'
  | 'gateway on zrok (stand-in) via mcp-tools run'
  | 'bridge via mcp-tools run';

type Call = [tool: string, args: Record<string, unknown>];

/** What each backend offers for each part of a cell, and what the client should see. */
interface BackendSpec {
  script: string;
  args: string[];
  echo: (text: string) => [...Call, string];
  sample: Call;
  /** A tool that asks the client for an elicitation, which it declines; its answer says so. */
  elicit: [...Call, RegExp];
  /** A tool that asks the client for its roots and shows them. */
  roots: Call;
  /**
   * A tool that reports progress at least `count` times well before it answers: the SDK clients
   * hand a notification to `onprogress` a microtask late, so one sent right before the answer
   * can find the call already over, on any path (direct too).
   */
  progress: [...Call, number];
  prompt: [name: string, args: Record<string, string>, text: string];
  /**
   * A long call that reports progress once it has begun, to be cancelled then; and the tool that
   * counts the cancellations its process saw (server-everything has none: there the session must
   * simply go on).
   */
  cancel: [...Call, counter: string | undefined];
  resource: [uri: string, text: RegExp];
}

const CLIENTS: ClientKind[] = ['SDK v1 (2025-11-25)', 'SDK v2 pinned to 2026-07-28', 'SDK v2 auto'];
const FIXTURE = (script: string): BackendSpec => ({
  script,
  args: [],
  echo: (text) => ['echo', { text }, text],
  sample: ['ask', { kinds: ['sampling'] }],
  elicit: ['ask', { kinds: ['elicitation'] }, /elicited: decline/],
  roots: ['ask', { kinds: ['roots'] }],
  progress: ['sleep', { ms: 100 }, 1],
  cancel: ['sleep', { ms: 30_000 }, 'cancellations'],
  prompt: ['greeting', { name: 'Ada' }, 'Hello, Ada!'],
  resource: ['modern://info', /served by the modern fixture/],
});
const BACKENDS: Record<BackendKind, BackendSpec> = {
  'server-everything (2025-11-25)': {
    script: EVERYTHING_BIN,
    args: ['stdio'],
    echo: (text) => ['echo', { message: text }, `Echo: ${text}`],
    sample: ['trigger-sampling-request', { prompt: 'say something' }],
    elicit: ['trigger-elicitation-request', {}, /declined/],
    roots: ['get-roots-list', {}],
    progress: ['trigger-long-running-operation', { duration: 0.3, steps: 3 }, 2],
    // It does not stop when cancelled: kept short, so that closing its session need not wait for it.
    cancel: ['trigger-long-running-operation', { duration: 1, steps: 10 }, undefined],
    prompt: ['simple-prompt', {}, 'This is a simple prompt without arguments.'],
    resource: ['demo://resource/static/document/architecture.md', /\S/],
  },
  '2026-07-28-only fixture': FIXTURE(MODERN_FIXTURE),
  'dual-era fixture': FIXTURE(DUAL_ERA_FIXTURE),
};
const PATHS: PathKind[] = [
  'gateway via mcp-tools run',
  'gateway via mcp-tools run --no-handover',
  'gateway via mcp-tools http',
  'gateway on zrok (stand-in) via mcp-tools run',
  'bridge via mcp-tools run',
];

/** What every client answers to sampling, to be found in the tool's result. */
const SAMPLED = 'SAMPLED-BY-THE-CLIENT';
/** Every client's one root. */
const ROOT = { uri: 'file:///matrix/root', name: 'matrix' };
const CAPABILITIES = { sampling: {}, elicitation: {}, roots: { listChanged: true } };

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

/** A client of one kind, answering sampling, elicitation (declined) and roots, whichever SDK. */
interface AnyClient {
  names(): Promise<string[]>;
  /** The text of a tool's result; with `progress`, the call asks for progress notifications. */
  call(name: string, args: Record<string, unknown>, progress?: boolean): Promise<string>;
  /**
   * Progress notifications that reached the client's transport so far: what the path delivered.
   * (The SDKs hand one to `onprogress` a microtask late, so one that arrives with its call's answer
   * is lost to the handler: that is theirs, not the path's.)
   */
  progressSeen(): number;
  /** Calls a tool and cancels the call at its first progress notification; resolves once it has failed. */
  cancelled(name: string, args: Record<string, unknown>): Promise<void>;
  prompt(name: string, args: Record<string, string>): Promise<string>;
  read(uri: string): Promise<{ uri: string; text: string }>;
  close(): Promise<void>;
}

const textOf = (result: object): string => (((result as { content?: { type: string; text?: string }[] }).content) ?? []).map((c) => c.text ?? '').join('');
const promptText = (result: { messages: { content: unknown }[] }): string => result.messages.map((m) => (m.content as { text?: string }).text ?? '').join('');
const firstContent = (result: { contents: unknown[] }): { uri: string; text: string } => {
  const first = result.contents[0] as { uri: string; text?: string };
  return { uri: first.uri, text: first.text ?? '' };
};

/** Counts the progress notifications that reach a connected transport, before its SDK handles them. */
function tapProgress(transport: { onmessage?: ((message: never, extra?: never) => void) | undefined }): { progress: number } {
  const wire = { progress: 0 };
  const deliver = transport.onmessage as ((message: { method?: string }, extra?: unknown) => void) | undefined;
  transport.onmessage = ((message: { method?: string }, extra?: unknown) => {
    if (message.method === 'notifications/progress') wire.progress++;
    deliver?.(message, extra);
  });
  return wire;
}

/** Starts a call, aborts it at its first progress notification, and waits for it to fail. */
async function cancelAtStart(call: (signal: AbortSignal, onprogress: () => void) => Promise<unknown>): Promise<void> {
  const controller = new AbortController();
  await assert.rejects(call(controller.signal, () => controller.abort('the matrix cancels')));
}

async function connect(kind: ClientKind, target: { stdio: string[] } | { url: URL }, env: NodeJS.ProcessEnv): Promise<AnyClient> {
  const fullEnv = { ...(process.env as Record<string, string>), ...(env as Record<string, string>) };
  if (kind === 'SDK v1 (2025-11-25)') {
    const client = new V1Client({ name: 'matrix-v1', version: '1' }, { capabilities: CAPABILITIES });
    client.setRequestHandler(CreateMessageRequestSchema, () => ({ model: 'm', role: 'assistant', content: { type: 'text', text: SAMPLED } }));
    client.setRequestHandler(ElicitRequestSchema, () => ({ action: 'decline' }));
    client.setRequestHandler(ListRootsRequestSchema, () => ({ roots: [ROOT] }));
    const transport = 'url' in target ? new V1Http(target.url) : new V1Stdio({ command: process.execPath, args: target.stdio, env: fullEnv, stderr: 'ignore' });
    await client.connect(transport);
    const wire = tapProgress(transport);
    return {
      names: async () => (await client.listTools()).tools.map((t) => t.name),
      call: async (name, args, progress) => textOf(await client.callTool({ name, arguments: args }, undefined, progress === true ? { onprogress: () => undefined } : {})),
      progressSeen: () => wire.progress,
      cancelled: (name, args) => cancelAtStart((signal, onprogress) => client.callTool({ name, arguments: args }, undefined, { signal, onprogress })),
      prompt: async (name, args) => promptText(await client.getPrompt({ name, arguments: args })),
      read: async (uri) => firstContent(await client.readResource({ uri })),
      close: () => client.close(),
    };
  }
  const mode = kind === 'SDK v2 auto' ? 'auto' : { pin: '2026-07-28' as const };
  const client = new V2Client({ name: 'matrix-v2', version: '2' }, { versionNegotiation: { mode }, capabilities: CAPABILITIES });
  client.setRequestHandler('sampling/createMessage', () => ({ model: 'm', role: 'assistant', content: { type: 'text', text: SAMPLED } }));
  client.setRequestHandler('elicitation/create', () => ({ action: 'decline' }));
  client.setRequestHandler('roots/list', () => ({ roots: [ROOT] }));
  const transport = 'url' in target ? new V2Http(target.url) : new V2Stdio({ command: process.execPath, args: target.stdio, env: fullEnv, stderr: 'ignore' });
  await client.connect(transport);
  const wire = tapProgress(transport);
  return {
    names: async () => (await client.listTools()).tools.map((t) => t.name),
    call: async (name, args, progress) => textOf(await client.callTool({ name, arguments: args }, progress === true ? { onprogress: () => undefined } : {})),
    progressSeen: () => wire.progress,
    cancelled: (name, args) => cancelAtStart((signal, onprogress) => client.callTool({ name, arguments: args }, { signal, onprogress })),
    prompt: async (name, args) => promptText(await client.getPrompt({ name, arguments: args })),
    read: async (uri) => firstContent(await client.readResource({ uri })),
    close: () => client.close(),
  };
}

/** Two machines on one zrok network (the stand-in): gateways serve on one, clients run on the other. */
interface ZrokNetwork {
  root: string;
  serverEnv: NodeJS.ProcessEnv;
  clientEnv: NodeJS.ProcessEnv;
  serverHome: string;
  clientHome: string;
}

async function zrokNetwork(): Promise<ZrokNetwork> {
  const root = await mkdtemp(join(tmpdir(), 'mcpgw-matrix-zrok-'));
  const common = { ZROK2_BIN: ZROK2_STANDIN, ZROK2_STANDIN_NETWORK: join(root, 'network'), ZROK2_STANDIN_HTTP_ONLY: '1', MCP_SHARE_PROVIDER: 'zrok' };
  const serverHome = await enabledHome(root, 'server');
  const clientHome = await enabledHome(root, 'client');
  return {
    root,
    serverHome,
    clientHome,
    serverEnv: { ...common, HOME: serverHome, MCP_GATEWAY_HOME: join(serverHome, '.mcp-gateway') },
    clientEnv: { ...common, HOME: clientHome, MCP_GATEWAY_HOME: join(clientHome, '.mcp-gateway') },
  };
}

describe('protocol matrix: clients × backends × paths', () => {
  let home: ShareHome;
  let zrok: ZrokNetwork;
  const gateways = new Map<BackendKind, RunningShare>();
  const zrokGateways = new Map<BackendKind, RunningShare>();
  const bridges = new Map<BackendKind, RunningShare>();
  const fronts = new Map<BackendKind, URL>();
  const clis: RunningCli[] = [];

  before(async () => {
    home = await ShareHome.create('matrix');
    zrok = await zrokNetwork();
    for (const [kind, backend] of Object.entries(BACKENDS) as [BackendKind, BackendSpec][]) {
      const config = `backends:\n${stdioBackend('b', backend.script, backend.args)}`;
      const gateway = await home.startGateway(config);
      gateways.set(kind, gateway);
      bridges.set(kind, await home.startBridge([process.execPath, backend.script, ...backend.args]));
      const front = await startHttpFront(gateway.token, home.env);
      clis.push(front.cli);
      fronts.set(kind, front.url);
      // The same gateway on a zrok share, open to the client's account only.
      const file = await home.writeConfig(`zrok: {share: {access_grants: [account-client]}}\n${config}`, `zrok-${zrokGateways.size}.yml`);
      zrokGateways.set(kind, await startGateway(file, zrok.serverEnv, ['--provider', 'zrok']));
    }
  });

  after(async () => {
    for (const cli of clis) cli.proc.kill('SIGTERM');
    await Promise.all([...clis.map((cli) => cli.exited), ...[...zrokGateways.values()].map((g) => g.stop())]);
    await home.cleanup();
    assert.deepEqual(await settledStandins(zrok.serverHome, 10_000), [], 'no zrok2 left on the serving side');
    assert.deepEqual(await settledStandins(zrok.clientHome, 10_000), [], 'no zrok2 left on the client side');
    await rm(zrok.root, { recursive: true, force: true });
  });

  /** How a client of `path` is started, and in which environment. */
  function targetOf(path: PathKind, backend: BackendKind): { target: { stdio: string[] } | { url: URL }; env: NodeJS.ProcessEnv } {
    const run = (token: string, extra: string[] = []): { stdio: string[] } => ({ stdio: [binPath('mcp-tools'), 'run', token, ...extra] });
    const token = (shares: Map<BackendKind, RunningShare>): string => shares.get(backend)?.token as string;
    switch (path) {
      case 'gateway via mcp-tools run':
        return { target: run(token(gateways)), env: home.env };
      case 'gateway via mcp-tools run --no-handover':
        return { target: run(token(gateways), ['--no-handover']), env: home.env };
      case 'gateway via mcp-tools http':
        return { target: { url: fronts.get(backend) as URL }, env: home.env };
      case 'gateway on zrok (stand-in) via mcp-tools run':
        return { target: run(token(zrokGateways)), env: zrok.clientEnv };
      case 'bridge via mcp-tools run':
        return { target: run(token(bridges)), env: home.env };
    }
  }

  for (const client of CLIENTS) {
    for (const backend of Object.keys(BACKENDS) as BackendKind[]) {
      for (const path of PATHS) {
        const failure = expectedFailure(client, backend, path);
        it(`${client} → ${path} → ${backend}${failure === undefined ? '' : ': refused'}`, async () => {
          const { target, env } = targetOf(path, backend);
          if (failure !== undefined) {
            await assert.rejects(async () => (await connect(client, target, env)).close(), Error, failure);
            return;
          }
          const session = await connect(client, target, env);
          try {
            const prefix = path === 'bridge via mcp-tools run' ? '' : 'b_';
            const spec = BACKENDS[backend];
            const [echo, args, expected] = spec.echo(`${client}/${path}`);
            assert.ok((await session.names()).includes(`${prefix}echo`), 'tools listed');
            assert.equal(await session.call(`${prefix}${echo}`, args), expected);
            const progressBefore = session.progressSeen();
            await session.call(`${prefix}${spec.progress[0]}`, spec.progress[1], true);
            const seen = session.progressSeen() - progressBefore;
            assert.ok(seen >= spec.progress[2], `progress notifications: ${seen}`);
            assert.equal(await session.prompt(`${prefix}${spec.prompt[0]}`, spec.prompt[1]), spec.prompt[2]);
            const read = await session.read(spec.resource[0]);
            assert.equal(read.uri, spec.resource[0]);
            assert.match(read.text, spec.resource[1]);
            assert.match(await session.call(`${prefix}${spec.sample[0]}`, spec.sample[1]), new RegExp(SAMPLED), 'the backend’s sampling request answered by the client');
            assert.match(await session.call(`${prefix}${spec.elicit[0]}`, spec.elicit[1]), spec.elicit[2], 'the elicitation declined by the client');
            assert.match(await session.call(`${prefix}${spec.roots[0]}`, spec.roots[1]), new RegExp(ROOT.uri), 'the client’s roots');
            const [long, longArgs, counter] = spec.cancel;
            const count = async (): Promise<number> => (counter === undefined ? 0 : Number(await session.call(`${prefix}${counter}`, {})));
            const before = await count();
            await session.cancelled(`${prefix}${long}`, longArgs);
            if (counter !== undefined) await waitFor(async () => (await count()) === before + 1, 10_000, 'the cancellation at the backend');
            assert.equal(await session.call(`${prefix}${echo}`, args), expected, 'the session goes on after a cancellation');
          } finally {
            await session.close();
          }
        });
      }
    }
  }
});
