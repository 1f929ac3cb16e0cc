import type { BackendConfig } from '../config/types.js';
import { GatewayError, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Era } from '../mcp/era.js';
import { compileFilter, type NameFilter } from '../mcp/naming.js';
import type { UpstreamConnection } from '../mcp/upstream.js';
import { PathPolicy } from './path-policy.js';

/** The list kinds a backend can announce changes of. */
export type ListKind = 'tools' | 'prompts' | 'resources';

/** The notification a backend sends when one of its lists changed, by list. */
export const LIST_CHANGED_KINDS: Readonly<Record<string, ListKind>> = {
  'notifications/tools/list_changed': 'tools',
  'notifications/prompts/list_changed': 'prompts',
  'notifications/resources/list_changed': 'resources',
};

/** An MCP object as listed by a backend (tool, prompt, resource or template): passed through as is. */
export type Item = Record<string, unknown> & { name?: string; uri?: string; uriTemplate?: string };

/** What a backend offers, as discovered from it. */
export interface BackendCatalogue {
  tools: Item[];
  prompts: Item[];
  resources: Item[];
  resourceTemplates: Item[];
  capabilities: Record<string, unknown>;
  instructions?: string;
}

const LIST_METHODS: Record<ListKind | 'resourceTemplates', { method: string; field: string; capability: string }> = {
  tools: { method: 'tools/list', field: 'tools', capability: 'tools' },
  prompts: { method: 'prompts/list', field: 'prompts', capability: 'prompts' },
  resources: { method: 'resources/list', field: 'resources', capability: 'resources' },
  resourceTemplates: { method: 'resources/templates/list', field: 'resourceTemplates', capability: 'resources' },
};

/** Crashes within CRASH_WINDOW_MS that mark a backend failed. */
export const CRASH_LIMIT = 3;
/** The window crashes are counted in. */
export const CRASH_WINDOW_MS = 30_000;

/** Pages a backend may return for one list before we stop following cursors. */
const MAX_PAGES = 1000;

/** One configured backend: its filters, its discovered catalogue and its state. */
export class Backend {
  readonly config: BackendConfig;
  readonly id: string;
  readonly filters: { tools: NameFilter; prompts: NameFilter; resources: NameFilter };
  catalogue: BackendCatalogue | undefined;
  /** The protocol era it answered in, once a connection was opened: later ones skip the probe for a 2025 backend. */
  era: Era | undefined;
  /** Set while the backend is marked failed after repeated crashes: calls fail fast. */
  unavailable: string | undefined;
  /** `policy.paths`, checked before each tools/call is forwarded; undefined without rules. */
  readonly pathPolicy: PathPolicy | undefined;
  readonly #crashes: number[] = [];

  constructor(config: BackendConfig) {
    this.config = config;
    this.id = config.id;
    this.pathPolicy = PathPolicy.fromConfig(config);
    this.filters = { tools: compileFilter(config.tools), prompts: compileFilter(config.prompts), resources: compileFilter(config.resources) };
  }

  /** Records an unexpected exit; true when this one marks the backend failed. */
  recordCrash(now = Date.now()): boolean {
    this.#crashes.push(now);
    while (this.#crashes.length > 0 && (this.#crashes[0] as number) < now - CRASH_WINDOW_MS) this.#crashes.shift();
    if (this.#crashes.length < CRASH_LIMIT || this.unavailable !== undefined) return false;
    this.unavailable = `crashed ${this.#crashes.length} times in ${CRASH_WINDOW_MS / 1000} s`;
    return true;
  }

  /** Clears the failed mark after a successful restart. */
  recovered(): void {
    this.unavailable = undefined;
    this.#crashes.length = 0;
  }

  /** True when the backend's catalogue is known. */
  get ready(): boolean {
    return this.catalogue !== undefined;
  }

  /** Lists everything the backend offers over an initialized connection. */
  async discover(connection: UpstreamConnection, initResult: Record<string, unknown>, timeoutMs: number): Promise<BackendCatalogue> {
    const capabilities = (initResult['capabilities'] as Record<string, unknown> | undefined) ?? {};
    const instructions = initResult['instructions'];
    const catalogue: BackendCatalogue = {
      capabilities,
      tools: await listAll(connection, 'tools', capabilities, timeoutMs),
      prompts: await listAll(connection, 'prompts', capabilities, timeoutMs),
      resources: await listAll(connection, 'resources', capabilities, timeoutMs),
      resourceTemplates: await listAll(connection, 'resourceTemplates', capabilities, timeoutMs),
      ...(typeof instructions === 'string' && instructions !== '' ? { instructions } : {}),
    };
    this.pathPolicy?.checkAdvertised(this.id, catalogue.tools);
    this.catalogue = catalogue;
    return catalogue;
  }

  /** Re-lists one kind after the backend announced a change; true when anything changed. */
  async refresh(connection: UpstreamConnection, kind: ListKind, timeoutMs: number, logger: Logger): Promise<boolean> {
    const catalogue = this.catalogue;
    if (catalogue === undefined) return false;
    return (await relist(this.id, catalogue, connection, [kind], timeoutMs, logger)).length > 0;
  }
}

/**
 * Lists `kinds` again over `connection` into `catalogue` (resources with their templates) and
 * answers the kinds that changed; none when listing fails (logged).
 */
export async function relist(backendId: string, catalogue: BackendCatalogue, connection: UpstreamConnection, kinds: readonly ListKind[], timeoutMs: number, logger: Logger): Promise<ListKind[]> {
  const changed: ListKind[] = [];
  try {
    for (const kind of kinds) {
      const fields: (ListKind | 'resourceTemplates')[] = kind === 'resources' ? ['resources', 'resourceTemplates'] : [kind];
      for (const field of fields) {
        const items = await listAll(connection, field, catalogue.capabilities, timeoutMs);
        if (JSON.stringify(items) === JSON.stringify(catalogue[field])) continue;
        catalogue[field] = items;
        if (!changed.includes(kind)) changed.push(kind);
      }
    }
  } catch (error) {
    logger.warn({ backend: backendId, kinds, err: describeError(error) }, 'could not refresh the catalogue');
    return [];
  }
  return changed;
}

/** A copy of a catalogue whose lists can be replaced without touching the original's. */
export function copyCatalogue(catalogue: BackendCatalogue): BackendCatalogue {
  return { ...catalogue, tools: [...catalogue.tools], prompts: [...catalogue.prompts], resources: [...catalogue.resources], resourceTemplates: [...catalogue.resourceTemplates] };
}

async function listAll(connection: UpstreamConnection, kind: ListKind | 'resourceTemplates', capabilities: Record<string, unknown>, timeoutMs: number): Promise<Item[]> {
  const { method, field, capability } = LIST_METHODS[kind];
  if (capabilities[capability] === undefined) return [];
  const items: Item[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const response = await connection.request(method, cursor === undefined ? {} : { cursor }, { timeoutMs });
    if (response.error !== undefined) {
      // A server may announce resources but not templates (or answer "method not found").
      if (response.error.code === -32601) return items;
      throw new GatewayError('UPSTREAM_START_FAILED', `backend '${connection.label}' failed ${method}: ${response.error.message}`);
    }
    const result = response.result ?? {};
    items.push(...((result[field] as Item[] | undefined) ?? []));
    cursor = typeof result['nextCursor'] === 'string' && result['nextCursor'] !== '' ? result['nextCursor'] : undefined;
    if (cursor === undefined) return items;
  }
  return items;
}
