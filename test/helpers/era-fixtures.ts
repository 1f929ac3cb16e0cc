// SDK v2 clients for the 2026-07-28 tests, and our era fixtures' paths.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { binPath } from './cli.js';
import { firstJsonLine } from './share-home.js';

/** Our 2026-07-28-only fixture server (SDK v2, legacy: 'reject'). */
export const MODERN_FIXTURE = fileURLToPath(new URL('../fixtures/modern-server.js', import.meta.url));
/** Our dual-era fixture server (SDK v2, legacy: 'serve'), the same tools. */
export const DUAL_ERA_FIXTURE = fileURLToPath(new URL('../fixtures/dual-era-server.js', import.meta.url));

/** The dual-era fixture over streamable HTTP (SDK v2 createMcpHandler) on port 0, with its URL. */
export async function startDualEraHttp(): Promise<{ proc: ChildProcess; url: string }> {
  const script = fileURLToPath(new URL('../fixtures/dual-era-http-server.js', import.meta.url));
  const proc = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  return { proc, url: (await firstJsonLine<{ url: string }>(proc)).url };
}

/** How an SDK v2 client negotiates: pinned to 2026-07-28, `auto` (probe, then fall back to initialize), or `legacy` (initialize, 2025). */
export type V2Mode = 'auto' | 'legacy' | { pin: '2026-07-28' };

/**
 * An SDK v2 client through `mcp-tools run <token>`, answering every kind of input (elicitation,
 * roots, sampling) with fixed answers, whichever era it ends up in.
 */
export async function connectV2ThroughTools(token: string, env: NodeJS.ProcessEnv, mode: V2Mode): Promise<Client> {
  const client = new Client(
    { name: 'v2-test', version: '2.0.0' },
    { versionNegotiation: { mode }, capabilities: { elicitation: {}, roots: {}, sampling: {} } },
  );
  client.setRequestHandler('elicitation/create', () => ({ action: 'accept', content: { name: 'Grace' } }));
  client.setRequestHandler('roots/list', () => ({ roots: [{ uri: 'file:///srv/root' }] }));
  client.setRequestHandler('sampling/createMessage', () => ({ model: 'm', role: 'assistant', content: { type: 'text', text: 'hello from the client' } }));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [binPath('mcp-tools'), 'run', token],
    env: { ...(process.env as Record<string, string>), ...(env as Record<string, string>) },
    stderr: 'pipe',
  });
  await client.connect(transport);
  return client;
}
