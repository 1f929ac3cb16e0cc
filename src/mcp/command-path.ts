import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

/**
 * The executable a bare command name (no `/`) stands for on `searchPath`, as a shell finds it;
 * anything with a `/`, or a name found nowhere, is returned unchanged (the spawn then reports it).
 * Needed where a child gets an environment of its own: spawn searches the child's PATH, and a
 * closed environment (`env_policy: closed`) may have none.
 */
export function findOnPath(command: string, searchPath: string | undefined, cwd: string = process.cwd()): string {
  if (command === '' || command.includes('/') || searchPath === undefined) return command;
  for (const dir of searchPath.split(delimiter)) {
    // An empty entry means the current directory, as in a shell.
    const candidate = isAbsolute(dir) ? join(dir, command) : resolve(cwd, dir, command);
    if (isExecutableFile(candidate)) return candidate;
  }
  return command;
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
