import { Client } from '@modelcontextprotocol/client';
import { GatewayError } from '../errors.js';
import { openShareTransport } from '../mcp/share-transport.js';
import type { ShareConnector } from '../share/index.js';

/**
 * An SDK v2 client on a new session stream to the share, dual-era: it probes `server/discover`
 * and speaks MCP 2026-07-28 to a share that answers it, else falls back to `initialize` (a 2025
 * bridge or gateway). Our transport is an SDK v1 one: the two `Transport` contracts agree.
 */
export async function connectClient(connector: ShareConnector, version: string): Promise<Client> {
  const client = new Client({ name: 'mcp-tools', version }, { versionNegotiation: { mode: 'auto' } });
  await client.connect(await openShareTransport(connector));
  return client;
}

/** Everything a share offers, as a table for people: one section per kind, name and description. */
export async function describeShare(client: Client): Promise<string> {
  const capabilities = client.getServerCapabilities() ?? {};
  const sections: string[] = [];
  // Without a cursor the v2 client walks every page itself.
  const tools = capabilities.tools === undefined ? [] : (await client.listTools()).tools;
  sections.push(table('TOOLS', tools.map((t) => [t.name, t.description ?? ''])));
  if (capabilities.resources !== undefined) {
    const resources = (await client.listResources()).resources;
    const templates = (await client.listResourceTemplates()).resourceTemplates;
    sections.push(table('RESOURCES', [...resources.map((r) => [r.uri, r.name]), ...templates.map((t) => [t.uriTemplate, t.name])]));
  }
  if (capabilities.prompts !== undefined) {
    const prompts = (await client.listPrompts()).prompts;
    sections.push(table('PROMPTS', prompts.map((p) => [p.name, p.description ?? ''])));
  }
  return `${sections.join('\n')}`;
}

/** Calls a tool with JSON arguments; resolves with its result. */
export async function callTool(client: Client, name: string, argumentsJson: string | undefined): Promise<{ text: string; isError: boolean; raw: unknown }> {
  let args: Record<string, unknown> = {};
  if (argumentsJson !== undefined) {
    try {
      args = JSON.parse(argumentsJson) as Record<string, unknown>;
    } catch (error) {
      throw new GatewayError('USAGE', `arguments are not valid JSON: ${(error as Error).message}`);
    }
    if (args === null || typeof args !== 'object' || Array.isArray(args)) throw new GatewayError('USAGE', 'arguments must be a JSON object, e.g. \'{"path":"notes.txt"}\'');
  }
  const result = await client.callTool({ name, arguments: args });
  const content = (result.content as { type: string; text?: string }[] | undefined) ?? [];
  const text = content.map((part) => (part.type === 'text' ? (part.text ?? '') : `[${part.type}]`)).join('\n');
  return { text, isError: result.isError === true, raw: result };
}

function table(title: string, rows: string[][]): string {
  if (rows.length === 0) return `${title}\n  (none)\n`;
  const width = Math.min(60, Math.max(...rows.map((r) => (r[0] ?? '').length)));
  const lines = rows.map(([name = '', detail = '']) => `  ${name.padEnd(width)}  ${firstLine(detail)}`.trimEnd());
  return `${title} (${rows.length})\n${lines.join('\n')}\n`;
}

function firstLine(text: string): string {
  const line = text.split('\n')[0] ?? '';
  return line.length > 100 ? `${line.slice(0, 99)}…` : line;
}
