import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { GatewayError } from '../errors.js';
import { openShareTransport } from '../mcp/share-transport.js';
import type { ShareConnector } from '../share/index.js';

/** An SDK client on a new session stream to the share. */
export async function connectClient(connector: ShareConnector, version: string): Promise<Client> {
  const client = new Client({ name: 'mcp-tools', version });
  await client.connect(await openShareTransport(connector));
  return client;
}

/** Everything a share offers, as a table for people: one section per kind, name and description. */
export async function describeShare(client: Client): Promise<string> {
  const capabilities = client.getServerCapabilities() ?? {};
  const sections: string[] = [];
  const tools = capabilities.tools === undefined ? [] : await listPaged((cursor) => client.listTools(cursor), 'tools');
  sections.push(table('TOOLS', tools.map((t) => [t.name, t.description ?? ''])));
  if (capabilities.resources !== undefined) {
    const resources = await listPaged((cursor) => client.listResources(cursor), 'resources');
    const templates = await listPaged((cursor) => client.listResourceTemplates(cursor), 'resourceTemplates');
    sections.push(table('RESOURCES', [...resources.map((r) => [r.uri ?? '', r.name]), ...templates.map((t) => [t.uriTemplate ?? '', t.name])]));
  }
  if (capabilities.prompts !== undefined) {
    const prompts = await listPaged((cursor) => client.listPrompts(cursor), 'prompts');
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

/** The fields of listed items this table shows. */
interface Listed {
  name: string;
  description?: string | undefined;
  uri?: string;
  uriTemplate?: string;
}

async function listPaged(fetchPage: (params: { cursor?: string } | undefined) => Promise<{ nextCursor?: string | undefined }>, field: string): Promise<Listed[]> {
  const items: Listed[] = [];
  let cursor: string | undefined;
  do {
    const page = await fetchPage(cursor === undefined ? undefined : { cursor });
    items.push(...((page as Record<string, unknown>)[field] as Listed[]));
    cursor = page.nextCursor;
  } while (cursor !== undefined && cursor !== '');
  return items;
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
