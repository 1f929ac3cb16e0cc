import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import { GatewayError } from '../errors.js';
import { JsonRpcErrorCode } from '../mcp/jsonrpc.js';
import { exposedName } from '../mcp/naming.js';
import type { RawResponse } from '../mcp/upstream.js';
import type { Backend, BackendCatalogue, Item } from './backend.js';

/** The spec's "resource not found" error code. */
export const RESOURCE_NOT_FOUND = -32002;

/** A backend's "no such resource": -32002, or the TypeScript SDK's -32602 "Resource … not found". */
export function isResourceNotFound(response: RawResponse): boolean {
  const error = response.error;
  return error !== undefined && (error.code === RESOURCE_NOT_FOUND || (error.code === JsonRpcErrorCode.InvalidParams && /not found/i.test(error.message)));
}

/** An exposed item and where it really lives. */
export interface Entry {
  backend: Backend;
  /** The backend's own name (or URI). */
  original: string;
  /** The item as clients see it. */
  item: Item;
}

interface TemplateEntry {
  backend: Backend;
  template: UriTemplate;
  item: Item;
}

/**
 * The gateway's merged view of every ready backend: namespaced tools and prompts, resources and
 * templates routed to the backend that listed them, all filtered. Rebuilt whenever a backend
 * arrives or announces a change; lookups are what calls are routed by, so a filtered name is
 * unknown here exactly like a name nobody offers.
 */
export class Catalogue {
  tools = new Map<string, Entry>();
  prompts = new Map<string, Entry>();
  resources = new Map<string, Entry>();
  templates: TemplateEntry[] = [];
  /** Tool or prompt names exposed twice: a start-up error (a namespace fixes it). */
  collisions: string[] = [];
  /** Resource URIs listed by several backends: the first backend serves them; reported as warnings. */
  shadowed: string[] = [];
  /** Backends that offer resources, in config order: where a URI nobody listed is asked for. */
  resourceBackends: Backend[] = [];
  /** True when some backend offers tasks. */
  tasks = false;

  /**
   * Builds the merged view; throws CONFIG_INVALID on a collision when `strict` (start-up).
   * `view` says what each backend offers (a session's own processes may offer something else
   * than discovery found).
   */
  static build(backends: readonly Backend[], separator: string, strict: boolean, view: (backend: Backend) => BackendCatalogue | undefined = (b) => b.catalogue): Catalogue {
    const catalogue = new Catalogue();
    const shadowed = new Map<string, number>();
    for (const backend of backends) {
      const found = view(backend);
      if (found === undefined) continue;
      const ns = backend.config.namespace;
      if (found.capabilities['resources'] !== undefined) catalogue.resourceBackends.push(backend);
      if (found.capabilities['tasks'] !== undefined) catalogue.tasks = true;
      for (const tool of found.tools) {
        const name = String(tool.name);
        if (!backend.filters.tools(name)) continue;
        const exposed = exposedName(ns, separator, name);
        catalogue.#add(catalogue.tools, 'tool', exposed, { backend, original: name, item: { ...tool, name: exposed } });
      }
      for (const prompt of found.prompts) {
        const name = String(prompt.name);
        if (!backend.filters.prompts(name)) continue;
        const exposed = exposedName(ns, separator, name);
        catalogue.#add(catalogue.prompts, 'prompt', exposed, { backend, original: name, item: { ...prompt, name: exposed } });
      }
      for (const resource of found.resources) {
        const uri = String(resource.uri);
        if (!backend.filters.resources(uri)) continue;
        const owner = catalogue.resources.get(uri);
        if (owner === undefined) catalogue.resources.set(uri, { backend, original: uri, item: resource });
        else shadowed.set(`${owner.backend.id}\u0000${backend.id}`, (shadowed.get(`${owner.backend.id}\u0000${backend.id}`) ?? 0) + 1);
      }
      for (const template of found.resourceTemplates) {
        const uriTemplate = String(template.uriTemplate);
        if (!backend.filters.resources(uriTemplate)) continue;
        catalogue.templates.push({ backend, template: new UriTemplate(uriTemplate), item: template });
      }
    }
    for (const [pair, count] of shadowed) {
      const [owner, other] = pair.split('\u0000');
      catalogue.shadowed.push(`${count} resource URI(s) of backend '${other}' are also listed by backend '${owner}', which serves them (resource URIs are not namespaced; filter them with backends[].resources)`);
    }
    if (strict && catalogue.collisions.length > 0) {
      throw new GatewayError('CONFIG_INVALID', `${catalogue.collisions.join('; ')} (set a distinct backends[].namespace)`);
    }
    return catalogue;
  }

  #add(map: Map<string, Entry>, kind: string, key: string, entry: Entry): void {
    const existing = map.get(key);
    if (existing !== undefined) {
      this.collisions.push(`${kind} '${key}' is exposed by both backend '${existing.backend.id}' and backend '${entry.backend.id}'`);
      return;
    }
    map.set(key, entry);
  }

  /** The backend serving a resource URI: listed exactly, or matching a listed template. */
  resolveResource(uri: string): Backend | undefined {
    const exact = this.resources.get(uri);
    if (exact !== undefined) return exact.backend;
    for (const entry of this.templates) {
      if (entry.template.match(uri) !== null) return entry.backend;
    }
    return undefined;
  }

  /** The backend whose template is exactly `uriTemplate` (completion of a resource template). */
  resolveTemplate(uriTemplate: string): Backend | undefined {
    return this.templates.find((entry) => entry.item.uriTemplate === uriTemplate)?.backend ?? this.resolveResource(uriTemplate);
  }

  /** Listed items of one kind, in backend order. */
  list(kind: 'tools' | 'prompts' | 'resources' | 'resourceTemplates'): Item[] {
    if (kind === 'resourceTemplates') return this.templates.map((entry) => entry.item);
    return [...this[kind].values()].map((entry) => entry.item);
  }
}
