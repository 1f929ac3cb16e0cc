import { randomUUID } from 'node:crypto';
import { type JsonRpcId, JsonRpcErrorCode } from '../mcp/jsonrpc.js';
import { type RawMessage, type RawResponse, type UpstreamConnection, upstreamErrorResponse } from '../mcp/upstream.js';
import type { Backend } from './backend.js';

/** The `_meta` key that ties a message to a task (MCP 2025-11-25). */
export const RELATED_TASK = 'io.modelcontextprotocol/related-task';

/**
 * Looks at a backend's answer before the client gets it, on the connection that answered.
 * Returns a continuation when the call is to be dropped unanswered and something else done
 * instead (the next backend tried); nothing to answer the client as usual.
 */
export type ResponseHook = (response: RawResponse, connection: UpstreamConnection) => (() => void) | undefined;

/** What task routing needs from its session. */
export interface TaskRoutes {
  /** Forwards a request to a backend like any other; `hook` sees the parsed answer first. */
  forward(id: JsonRpcId, backend: Backend, method: string, params: Record<string, unknown>, hook: ResponseHook): void;
  /** Answers the client. */
  reply(id: JsonRpcId, response: RawResponse): void;
}

/** The tasks one session created on one backend connection. */
interface Group {
  /** Position among the session's groups, for the tasks/list cursor. */
  readonly ordinal: number;
  readonly backend: Backend;
  readonly connection: UpstreamConnection;
  /** The backend's task id → ours. */
  readonly ids: Map<string, string>;
}

/** Where one of our task ids really lives. */
interface Owner {
  readonly group: Group;
  readonly taskId: string;
}

type Obj = Record<string, unknown>;

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The union of the backends' `tasks` capabilities (objects merged key by key), or undefined if none has one. */
export function tasksCapability(capabilities: readonly Obj[]): Obj | undefined {
  const merge = (into: Obj, from: Obj): Obj => {
    for (const [key, value] of Object.entries(from)) into[key] = isObject(value) && isObject(into[key]) ? merge({ ...into[key] }, value) : isObject(value) ? merge({}, value) : value;
    return into;
  };
  let merged: Obj | undefined;
  for (const c of capabilities) if (isObject(c['tasks'])) merged = merge(merged ?? {}, c['tasks']);
  return merged;
}

/**
 * The tasks of one session (MCP 2025-11-25 Tasks). A backend's task id is replaced by a random
 * id of ours, unique across backends and sessions, and the table remembers which backend
 * connection owns it: `tasks/get|result|cancel` go there with the id mapped back, `tasks/list`
 * merges the session's backends under a cursor of ours, and status notifications reach only the
 * session that created the task. An id this table does not hold (another session's, made up, or
 * on a backend connection that has since gone) is "not found" (-32602), as the spec says.
 */
export class SessionTasks {
  readonly #routes: TaskRoutes;
  readonly #timeoutMs: number;
  readonly #byId = new Map<string, Owner>();
  readonly #groups = new Map<UpstreamConnection, Group>();
  #nextOrdinal = 0;

  constructor(routes: TaskRoutes, timeoutMs: number) {
    this.#routes = routes;
    this.#timeoutMs = timeoutMs;
  }

  /** For a task-augmented request (`params.task`), the hook that takes in the task it creates. */
  augmented(backend: Backend, params: Obj): ResponseHook | undefined {
    if (params['task'] === undefined) return undefined;
    return (response, connection) => {
      const task = response.result?.['task'];
      if (isObject(task) && typeof task['taskId'] === 'string') task['taskId'] = this.#mint(backend, connection, task['taskId']);
      return undefined;
    };
  }

  /** Routes `tasks/get`, `tasks/result`, `tasks/cancel` and `tasks/list`. */
  route(id: JsonRpcId, method: string, params: Obj): void {
    if (method === 'tasks/list') {
      this.#list(id, params).catch((error: unknown) => this.#routes.reply(id, upstreamErrorResponse(error)));
      return;
    }
    const owner = this.#owner(params['taskId']);
    if (owner === undefined) {
      this.#routes.reply(id, { error: { code: JsonRpcErrorCode.InvalidParams, message: `Invalid params: task not found: ${String(params['taskId'])}` } });
      return;
    }
    this.#routes.forward(id, owner.group.backend, method, { ...params, taskId: owner.taskId }, (response) => {
      const result = response.result;
      if (result !== undefined) {
        if (result['taskId'] === owner.taskId) result['taskId'] = owner.group.ids.get(owner.taskId);
        this.#mapRelated(result, (taskId) => (taskId === owner.taskId ? owner.group.ids.get(taskId) : undefined));
      }
      return undefined;
    });
  }

  /**
   * A `notifications/tasks/status` from a backend connection, rewritten to our id in place.
   * False when it is not this session's to see. `own`: the connection is this session's alone,
   * so a task not yet seen (its status can overtake the answer that creates it) is taken in.
   */
  status(backend: Backend, connection: UpstreamConnection, message: RawMessage, own: boolean): boolean {
    const params = message['params'];
    if (!isObject(params) || typeof params['taskId'] !== 'string') return false;
    const ours = own ? this.#mint(backend, connection, params['taskId']) : this.#groups.get(connection)?.ids.get(params['taskId']);
    if (ours === undefined) return false;
    message['params'] = { ...params, taskId: ours };
    return true;
  }

  /** True if this session created the backend's task `taskId` on `connection`. */
  owns(connection: UpstreamConnection, taskId: string): boolean {
    return this.#groups.get(connection)?.ids.has(taskId) === true;
  }

  /** A server→client request related to one of our tasks names it by our id. */
  outbound(connection: UpstreamConnection, message: RawMessage): RawMessage {
    const params = message['params'];
    const ids = this.#groups.get(connection)?.ids;
    if (!isObject(params) || ids === undefined) return message;
    const copy = { ...params };
    return this.#mapRelated(copy, (taskId) => ids.get(taskId)) ? { ...message, params: copy } : message;
  }

  /** The client's answer to such a request names the task by the backend's id again. */
  inbound(result: Obj | undefined): void {
    if (result !== undefined) this.#mapRelated(result, (taskId) => this.#byId.get(taskId)?.taskId);
  }

  /** Replaces the related-task id in `holder._meta` when `map` knows it; true if it did. */
  #mapRelated(holder: Obj, map: (taskId: string) => string | undefined): boolean {
    const meta = holder['_meta'];
    const related = isObject(meta) ? meta[RELATED_TASK] : undefined;
    if (!isObject(meta) || !isObject(related) || typeof related['taskId'] !== 'string') return false;
    const mapped = map(related['taskId']);
    if (mapped === undefined) return false;
    holder['_meta'] = { ...meta, [RELATED_TASK]: { ...related, taskId: mapped } };
    return true;
  }

  /** Our id for a backend's task on a connection, made on first sight. */
  #mint(backend: Backend, connection: UpstreamConnection, taskId: string): string {
    let group = this.#groups.get(connection);
    if (group === undefined) {
      group = { ordinal: this.#nextOrdinal++, backend, connection, ids: new Map() };
      this.#groups.set(connection, group);
    }
    let ours = group.ids.get(taskId);
    if (ours === undefined) {
      ours = randomUUID();
      group.ids.set(taskId, ours);
      this.#byId.set(ours, { group, taskId });
    }
    return ours;
  }

  /** Who owns one of our ids; a task whose connection has gone went with it. */
  #owner(taskId: unknown): Owner | undefined {
    const owner = typeof taskId === 'string' ? this.#byId.get(taskId) : undefined;
    if (owner === undefined || !owner.group.connection.closed) return owner;
    this.#forget(owner.group);
    return undefined;
  }

  #forget(group: Group): void {
    this.#groups.delete(group.connection);
    for (const ours of group.ids.values()) this.#byId.delete(ours);
  }

  /**
   * One page of the session's tasks: a page of one backend's `tasks/list`, keeping only tasks
   * this session created. Our cursor is opaque to the client: the group and the backend's cursor.
   */
  async #list(id: JsonRpcId, params: Obj): Promise<void> {
    let at: [number, string | undefined] = [0, undefined];
    if (params['cursor'] !== undefined) {
      const parsed = decodeCursor(params['cursor']);
      if (parsed === undefined) return this.#routes.reply(id, { error: { code: JsonRpcErrorCode.InvalidParams, message: 'Invalid params: invalid cursor' } });
      at = parsed;
    }
    for (const group of this.#groups.values()) if (group.connection.closed) this.#forget(group);
    const groups = [...this.#groups.values()].filter((g) => g.ordinal >= at[0] && isObject((g.backend.catalogue?.capabilities['tasks'] as Obj | undefined)?.['list']));
    const [group, next] = groups;
    if (group === undefined) return this.#routes.reply(id, { result: { tasks: [] } });
    const cursor = group.ordinal === at[0] ? at[1] : undefined;
    const response = await group.connection.request('tasks/list', cursor === undefined ? {} : { cursor }, { timeoutMs: this.#timeoutMs });
    if (response.error !== undefined) return this.#routes.reply(id, { error: response.error });
    const listed = Array.isArray(response.result?.['tasks']) ? (response.result['tasks'] as unknown[]) : [];
    const tasks = listed.flatMap((task) => {
      const ours = isObject(task) && typeof task['taskId'] === 'string' ? group.ids.get(task['taskId']) : undefined;
      return ours === undefined ? [] : [{ ...(task as Obj), taskId: ours }];
    });
    const backendNext = response.result?.['nextCursor'];
    const nextCursor =
      typeof backendNext === 'string' && backendNext !== '' ? encodeCursor(group.ordinal, backendNext) : next !== undefined ? encodeCursor(next.ordinal, undefined) : undefined;
    this.#routes.reply(id, { result: { tasks, ...(nextCursor === undefined ? {} : { nextCursor }) } });
  }
}

function encodeCursor(ordinal: number, cursor: string | undefined): string {
  return Buffer.from(JSON.stringify(cursor === undefined ? [ordinal] : [ordinal, cursor])).toString('base64url');
}

function decodeCursor(value: unknown): [number, string | undefined] | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as unknown;
    if (!Array.isArray(parsed) || !Number.isSafeInteger(parsed[0]) || (parsed[1] !== undefined && typeof parsed[1] !== 'string')) return undefined;
    return [parsed[0] as number, parsed[1] as string | undefined];
  } catch {
    return undefined; // not a cursor of ours
  }
}
