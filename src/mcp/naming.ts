import picomatch from 'picomatch';
import type { FilterConfig } from '../config/types.js';

/** The tool-name rule most clients enforce (Claude, OpenAI): names breaking it get rejected. */
export const CLIENT_TOOL_NAME_RULE = /^[a-zA-Z0-9_-]{1,64}$/;

/** A compiled allow/deny filter; no filter admits everything. */
export type NameFilter = (name: string) => boolean;

/**
 * Compiles `{mode, list}` globs (`*` any run of characters, `?` one character, as Go's
 * path.Match for names without slashes). Unlike file globs, `*` also crosses `/` and `.`,
 * since tool names and resource URIs are not paths.
 */
export function compileFilter(filter: FilterConfig | undefined): NameFilter {
  if (filter === undefined) return () => true;
  const matchers = filter.list.map((glob) => picomatch(glob, { dot: true, bash: true, noextglob: true, nobrace: true, noglobstar: false }));
  const matches = (name: string): boolean => matchers.some((m) => m(name));
  return filter.mode === 'deny' ? (name) => !matches(name) : matches;
}

/** Exposed name of a backend item: `<namespace><separator><name>`, or the name when namespace is "". */
export function exposedName(namespace: string, separator: string, name: string): string {
  return namespace === '' ? name : `${namespace}${separator}${name}`;
}
