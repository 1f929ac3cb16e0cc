import { lstatSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { BackendConfig } from '../config/types.js';
import { GatewayError } from '../errors.js';
import type { RawResponse } from '../mcp/upstream.js';

/** What every refusal's text begins with, as in the original. */
export const POLICY_DENIED = 'gateway policy denied tool call: ';

/** One `policy.paths` rule with its roots resolved (symlinks and all) when the backend was set up. */
interface ResolvedRule {
  readonly argument: string;
  readonly roots: readonly string[];
}

/** Refusals made here, told apart from a backend's own tool errors for the call log. */
const refusals = new WeakSet<object>();

/** True when `outcome` is a refusal of a {@link PathPolicy}, not a backend's answer. */
export function isPolicyRefusal(outcome: unknown): boolean {
  return typeof outcome === 'object' && outcome !== null && refusals.has(outcome);
}

/**
 * A stdio backend's `policy.paths`: for each governed tool (by the backend's own name), the
 * arguments that must name a path inside one of the rule's roots. A call that breaks a rule is
 * answered with a tool error here and never reaches the backend. Checked synchronously, in the
 * order calls arrive: a few `realpath`/`lstat` calls on the gateway's own filesystem.
 */
export class PathPolicy {
  /** The directory relative arguments resolve from (the backend's `working_dir`, resolved). */
  readonly base: string;
  readonly #rules: ReadonlyMap<string, readonly ResolvedRule[]>;

  private constructor(base: string, rules: ReadonlyMap<string, readonly ResolvedRule[]>) {
    this.base = base;
    this.#rules = rules;
  }

  /** The policy of a backend, or undefined without rules; CONFIG_INVALID when a root is not a directory. */
  static fromConfig(backend: BackendConfig): PathPolicy | undefined {
    const paths = backend.policy?.paths ?? [];
    if (paths.length === 0) return undefined;
    const where = `backend '${backend.id}'`;
    const workingDir = backend.transport.type === 'stdio' ? backend.transport.workingDir : undefined;
    const base = existingDirectory(workingDir ?? process.cwd(), `${where}: working directory for policy.paths`);
    const rules = new Map<string, ResolvedRule[]>();
    paths.forEach((rule, index) => {
      const roots = rule.roots.map((root, r) => existingDirectory(root, `${where}: policy.paths[${index}].roots[${r}]`));
      rules.set(rule.tool, [...(rules.get(rule.tool) ?? []), { argument: rule.argument, roots }]);
    });
    return new PathPolicy(base, rules);
  }

  /** Fails (CONFIG_INVALID) when a rule names a tool the backend does not list: a typo must never mean "no policy". */
  checkAdvertised(backendId: string, tools: readonly { name?: unknown }[]): void {
    const advertised = new Set(tools.map((tool) => tool.name));
    const missing = [...this.#rules.keys()].filter((tool) => !advertised.has(tool)).sort();
    if (missing.length > 0) {
      const names = missing.map((tool) => `"${tool}"`).join(', ');
      const message = `backend '${backendId}': policy.paths names tool ${names}, which the backend does not advertise`;
      throw new GatewayError('CONFIG_INVALID', message);
    }
  }

  /**
   * The answer to a `tools/call` (params as sent to the backend: its own tool name) that breaks
   * a rule, or undefined when the call may go on.
   */
  refusal(params: Record<string, unknown>): RawResponse | undefined {
    const tool = String(params['name']);
    const reason = this.#deny(tool, params['arguments']);
    if (reason === undefined) return undefined;
    const answer: RawResponse & { jsonrpc: '2.0' } = {
      jsonrpc: '2.0',
      result: { content: [{ type: 'text', text: `${POLICY_DENIED}${reason}` }], isError: true },
    };
    refusals.add(answer);
    return answer;
  }

  /** Why the call breaks a rule of `tool`, or undefined. Worded as the original words it. */
  #deny(tool: string, args: unknown): string | undefined {
    const rules = this.#rules.get(tool);
    if (rules === undefined) return undefined;
    if (typeof args !== 'object' || args === null || Array.isArray(args)) {
      const names = rules.map((rule) => `"${rule.argument}"`).join(', ');
      return `call policy tool "${tool}" argument ${names}: arguments must be a JSON object: got ${kindOf(args)}`;
    }
    for (const rule of rules) {
      const value = Object.hasOwn(args, rule.argument) ? (args as Record<string, unknown>)[rule.argument] : undefined;
      if (value === undefined) return `call policy tool "${tool}": required path argument "${rule.argument}" is missing`;
      if (typeof value !== 'string' || value === '') {
        return `call policy tool "${tool}": path argument "${rule.argument}" must be a non-empty string`;
      }
      const resolved = this.#resolve(value);
      if (typeof resolved !== 'string') return `call policy tool "${tool}" argument "${rule.argument}": ${resolved.problem}`;
      if (!rule.roots.some((root) => within(root, resolved))) {
        return `call policy tool "${tool}" argument "${rule.argument}": path ${JSON.stringify(value)} resolves outside allowed roots`;
      }
    }
    return undefined;
  }

  /**
   * Where `value` leads once symlinks are followed: an existing path resolved whole, a new one
   * through its (existing) parent. A path that exists but cannot be resolved (a dangling symlink,
   * a loop) is refused: its target may lie outside the roots.
   */
  #resolve(value: string): string | { problem: string } {
    const absolute = resolve(this.base, value);
    try {
      return realpathSync.native(absolute);
    } catch (error) {
      try {
        lstatSync(absolute);
        return { problem: `path cannot be resolved (${codeOf(error)})` };
      } catch (missing) {
        if (codeOf(missing) !== 'ENOENT') return { problem: `path cannot be inspected (${codeOf(missing)})` };
      }
    }
    try {
      return resolve(realpathSync.native(dirname(absolute)), basename(absolute));
    } catch (error) {
      return { problem: `path and its parent cannot be resolved (${codeOf(error)})` };
    }
  }
}

/** `path` made absolute (from the gateway's directory) and symlink-resolved; it must be a directory. */
function existingDirectory(path: string, what: string): string {
  let resolved: string;
  try {
    resolved = realpathSync.native(resolve(path));
  } catch (error) {
    throw new GatewayError('CONFIG_INVALID', `${what}: ${path} cannot be resolved (${codeOf(error)})`, { cause: error });
  }
  if (!statSync(resolved).isDirectory()) throw new GatewayError('CONFIG_INVALID', `${what}: ${path} is not a directory`);
  return resolved;
}

/** True when `candidate` is `root` or below it (both resolved and absolute). */
function within(root: string, candidate: string): boolean {
  const rel = relative(root, candidate);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? 'error';
}

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  return Array.isArray(value) ? 'array' : typeof value;
}
