/** One step of a path into the parsed YAML: a mapping key or a list index. */
export type PathSegment = string | number;

/** A problem found at a path of the parsed configuration. */
export interface PathProblem {
  readonly path: readonly PathSegment[];
  readonly message: string;
}

/** The result of expanding variables: the new value and every problem met on the way. */
export interface ExpandResult {
  readonly value: unknown;
  readonly problems: readonly PathProblem[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Expands `${VAR}` and `${VAR:-default}` in one string. `$${` is a literal `${`; any other `$` is
 * kept as is, so values such as "pa$$word" or "$HOME" pass through unchanged. Returns the
 * expanded text, or a reason naming the variable (never its value).
 */
export function expandString(text: string, env: NodeJS.ProcessEnv): { value: string } | { error: string } {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) break;
    out += text.slice(i, dollar);
    if (text.startsWith('$${', dollar)) {
      out += '${';
      i = dollar + 3;
      continue;
    }
    if (!text.startsWith('${', dollar)) {
      out += '$';
      i = dollar + 1;
      continue;
    }
    const close = text.indexOf('}', dollar + 2);
    if (close < 0) return { error: 'unterminated "${" (write "$${" for a literal "${")' };
    const body = text.slice(dollar + 2, close);
    const sep = body.indexOf(':-');
    const name = sep < 0 ? body : body.slice(0, sep);
    const fallback = sep < 0 ? undefined : body.slice(sep + 2);
    if (!NAME.test(name)) {
      return { error: 'invalid "${...}" reference: a variable name is letters, digits and "_", not starting with a digit' };
    }
    if (fallback?.includes('${')) return { error: `nested "\${...}" in the default of \${${name}} is not supported` };
    const value = env[name];
    // Shell semantics for ":-": an empty variable falls back to the default as well.
    if (fallback !== undefined && (value === undefined || value === '')) out += fallback;
    else if (value === undefined) {
      return { error: `environment variable ${name} is not set (use \${${name}:-default} for a fallback)` };
    } else out += value;
    i = close + 1;
  }
  return { value: out + text.slice(i) };
}

/**
 * Expands variables in every string value of a parsed YAML tree (never in keys) and returns a
 * copy. A string that fails to expand is kept unexpanded so later checks do not pile on
 * misleading "is empty" problems; the failure is reported with its path.
 */
export function expandTree(value: unknown, env: NodeJS.ProcessEnv): ExpandResult {
  const problems: PathProblem[] = [];
  const walk = (node: unknown, path: PathSegment[]): unknown => {
    if (typeof node === 'string') {
      const result = expandString(node, env);
      if ('error' in result) {
        problems.push({ path, message: result.error });
        return node;
      }
      return result.value;
    }
    if (Array.isArray(node)) return node.map((item, index) => walk(item, [...path, index]));
    if (isPlainObject(node)) {
      const copy: Record<string, unknown> = {};
      // defineProperty, so a "__proto__" key stays a plain key instead of replacing the prototype.
      for (const [key, item] of Object.entries(node)) {
        Object.defineProperty(copy, key, { value: walk(item, [...path, key]), enumerable: true, writable: true, configurable: true });
      }
      return copy;
    }
    return node;
  };
  return { value: walk(value, []), problems };
}

/** Formats a path the way problems show it: `backends[1].transport.env.GITHUB_TOKEN`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out === '' ? '(top level)' : out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
