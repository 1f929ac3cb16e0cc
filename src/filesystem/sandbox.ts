import { promises as fs } from 'node:fs';
import path from 'node:path';
import { GatewayError } from '../errors.js';

/** Why a path was refused; lets callers pick a message or status without parsing text. */
export type SandboxErrorReason = 'outside' | 'not_found' | 'invalid' | 'unresolvable' | 'special';

/**
 * A path refused by a {@link Sandbox}. The message names only the path as the caller wrote it,
 * never where a symlink led, so it is safe to hand back to a remote client.
 */
export class SandboxError extends GatewayError {
  readonly reason: SandboxErrorReason;

  constructor(reason: SandboxErrorReason, message: string, options?: { cause?: unknown }) {
    // errors.ts has no sandbox code; USAGE is the closest fit (the caller asked for something it may not have).
    super('USAGE', message, options);
    this.reason = reason;
  }
}

/** Options for {@link Sandbox.resolve}. */
export interface ResolveOptions {
  /** Allow a path that does not exist yet (its nearest existing ancestor is checked instead). */
  forWrite?: boolean;
}

// Same bound the kernel uses (MAXSYMLINKS on Linux) when we follow dangling links by hand.
const MAX_LINK_HOPS = 40;

/** Confines file access to a fixed set of root directories, judged on real (symlink-free) paths. */
export class Sandbox {
  readonly #roots: readonly string[];

  private constructor(roots: readonly string[]) {
    this.#roots = roots;
  }

  /** Builds a sandbox from existing directories; a missing or non-directory root is a USAGE error. */
  static async create(roots: readonly string[]): Promise<Sandbox> {
    if (roots.length === 0) throw new GatewayError('USAGE', 'at least one root directory is required');
    const real: string[] = [];
    for (const root of roots) {
      if (root.includes('\0')) throw new GatewayError('USAGE', 'root directory contains a null byte');
      let resolved: string;
      let isDirectory: boolean;
      try {
        resolved = await fs.realpath(path.resolve(root));
        isDirectory = (await fs.stat(resolved)).isDirectory();
      } catch (err) {
        const why = isMissing(err) ? 'does not exist' : 'cannot be accessed';
        throw new GatewayError('USAGE', `root directory ${why}: ${root}`, { cause: err });
      }
      if (!isDirectory) throw new GatewayError('USAGE', `root is not a directory: ${root}`);
      if (!real.includes(resolved)) real.push(resolved);
    }
    return new Sandbox(real);
  }

  /** The real absolute root directories, in the order given; relative paths resolve against the first. */
  get roots(): readonly string[] {
    return this.#roots;
  }

  /** True when `realPath` (already symlink-free) is one of the roots or below one. */
  contains(realPath: string): boolean {
    return this.#roots.some((root) => isWithin(root, realPath));
  }

  /**
   * The innermost root holding `realPath` and the components below it, for opening it component by
   * component from that root (see beneath.ts); undefined when it is in no root.
   */
  split(realPath: string): { root: string; parts: string[] } | undefined {
    let best: string | undefined;
    for (const root of this.#roots) if (isWithin(root, realPath) && (best === undefined || root.length > best.length)) best = root;
    if (best === undefined) return undefined;
    const rel = path.relative(best, realPath);
    return { root: best, parts: rel === '' ? [] : rel.split(path.sep) };
  }

  /**
   * The real absolute path for `requestedPath`, or a {@link SandboxError} when it is invalid,
   * escapes the roots (by `..`, an absolute path or a symlink) or, unless `forWrite`, does not exist.
   * Callers must do their I/O on the returned path, not on `requestedPath`: that is what was checked.
   */
  async resolve(requestedPath: string, options: ResolveOptions = {}): Promise<string> {
    const shown = JSON.stringify(requestedPath);
    if (requestedPath.length === 0) throw new SandboxError('invalid', 'Invalid path: the path is empty');
    if (requestedPath.includes('\0')) throw new SandboxError('invalid', `Invalid path ${shown}: contains a null byte`);

    const first = this.#roots[0] ?? '/';
    const { real, exists } = await locate(path.resolve(first, requestedPath), shown);
    if (!this.contains(real)) {
      throw new SandboxError('outside', `Access denied: ${shown} is outside the allowed directories`);
    }
    // Checked after containment so a read cannot probe which paths exist outside the roots.
    if (!exists && options.forWrite !== true) throw new SandboxError('not_found', `Not found: ${shown} does not exist`);
    return real;
  }
}

/** path.relative rather than startsWith, so root /srv/docs does not admit /srv/docs-evil. */
function isWithin(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  if (rel === '') return true;
  // A name such as "..notes" is inside; only a whole ".." segment climbs out.
  return rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function unresolvable(shown: string, err: unknown): SandboxError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const why =
    code === 'ELOOP' ? 'too many symbolic links' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : 'cannot be resolved';
  return new SandboxError('unresolvable', `Cannot resolve ${shown}: ${why}`, { cause: err });
}

/**
 * Real path of `candidate`. A missing path becomes its nearest existing ancestor's real path plus
 * the missing tail, so a new file is judged by the directory it would land in. A dangling symlink
 * on the way is followed by hand, because writing through it would create its target wherever it points.
 */
async function locate(candidate: string, shown: string): Promise<{ real: string; exists: boolean }> {
  let current = candidate;
  for (let hop = 0; hop < MAX_LINK_HOPS; hop++) {
    try {
      return { real: await fs.realpath(current), exists: true };
    } catch (err) {
      if (!isMissing(err)) throw unresolvable(shown, err);
    }
    const { ancestor, tail } = await nearestExisting(current, shown);
    const [head = '', ...rest] = tail;
    let target: string;
    try {
      target = await fs.readlink(path.join(ancestor, head));
    } catch (err) {
      if (isMissing(err)) return { real: path.join(ancestor, ...tail), exists: false };
      // It exists, is not a link, yet realpath failed: it changed under us or is unreadable.
      throw unresolvable(shown, err);
    }
    current = path.resolve(ancestor, target, ...rest);
  }
  throw unresolvable(shown, Object.assign(new Error('too many links'), { code: 'ELOOP' }));
}

/** Walks up from `candidate` to the first ancestor realpath accepts; `tail` is what lies below it. */
async function nearestExisting(candidate: string, shown: string): Promise<{ ancestor: string; tail: string[] }> {
  const tail: string[] = [];
  let current = candidate;
  for (;;) {
    const parent = path.dirname(current);
    if (parent === current) throw unresolvable(shown, new Error('no existing ancestor'));
    tail.unshift(path.basename(current));
    current = parent;
    try {
      return { ancestor: await fs.realpath(current), tail };
    } catch (err) {
      if (!isMissing(err)) throw unresolvable(shown, err);
    }
  }
}
