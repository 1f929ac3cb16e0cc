import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** The optional package `@mcp-gateway/fd-passing`: descriptor passing, peer credentials, the parent guard. */
export type NativePackage = typeof import('@mcp-gateway/fd-passing');

let loaded: { native: NativePackage | undefined } | undefined;

/**
 * The optional native package, loaded on first use (the way `ws` treats `bufferutil`); undefined
 * where it is missing or was not built (no compiler at install time). Each user says what it does
 * without it. A build from before a function was added lacks it: callers check each function.
 */
export function nativePackage(): NativePackage | undefined {
  if (loaded === undefined) {
    let native: NativePackage | undefined;
    try {
      native = createRequire(import.meta.url)('@mcp-gateway/fd-passing') as NativePackage;
    } catch {
      native = undefined;
    }
    loaded = { native };
  }
  return loaded.native;
}

/** The uid at the other end of a connected unix socket, where the native package can tell; else undefined. */
export function peerUid(fd: number | undefined): number | undefined {
  const read = nativePackage()?.peerCredentials;
  if (fd === undefined || typeof read !== 'function') return undefined;
  try {
    return read(fd).uid;
  } catch {
    return undefined;
  }
}

/**
 * The command line that starts `command`: under the parent guard of the optional native package
 * where it is built (Linux), so the process and its group die with us even when we are killed
 * with SIGKILL. The guard acts for a group: the process must be started as a group leader
 * (`detached`) and signalled as a group. Plain where there is no guard, and then a child outlives
 * a killed parent until it next touches a pipe of ours. A command that cannot be found is started
 * plain, so that its spawn fails as it always did (ENOENT) instead of in the guard.
 */
export function guardedCommand(command: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd?: string): [string, string[]] {
  const guard = nativePackage()?.parentGuardPath;
  const file = guard === undefined ? undefined : findExecutable(command, env['PATH'], cwd);
  if (guard === undefined || file === undefined) return [command, [...args]];
  return [guard, [String(process.pid), file, command, ...args]];
}

/** The file `execvp` would run for `command` (searched on `pathVariable` unless it has a slash). */
function findExecutable(command: string, pathVariable: string | undefined, cwd: string | undefined): string | undefined {
  const base = cwd ?? process.cwd();
  const dirs = command.includes('/') ? [''] : (pathVariable ?? '').split(path.delimiter).map((dir) => dir || '.');
  for (const dir of dirs) {
    const candidate = path.resolve(base, dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      if (!statSync(candidate).isFile()) continue;
    } catch {
      continue;
    }
    return candidate;
  }
  return undefined;
}
