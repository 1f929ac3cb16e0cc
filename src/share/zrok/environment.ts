import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { GatewayError } from '../../errors.js';

/** How to get zrok v2 when it is missing; every "not installed" message ends with this. */
const INSTALL_HINT = "install zrok2 v2.0.x from https://github.com/openziti/zrok/releases, then run 'zrok2 enable <token>'";

/** The HOME whose `.zrok2/` holds the zrok environment: zrok2 itself has no other variable for it. */
export function zrokHome(env: NodeJS.ProcessEnv = process.env): string {
  return env['HOME'] || homedir();
}

/** The zrok2 executable: `$ZROK2_BIN` when set, else `zrok2` on `$PATH`; undefined when neither is runnable. */
export function findZrokBinary(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env['ZROK2_BIN'];
  if (explicit !== undefined && explicit !== '') return isExecutable(explicit) ? explicit : undefined;
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    // An empty or relative PATH entry would make the answer depend on the current directory.
    if (dir === '' || !isAbsolute(dir)) continue;
    const candidate = join(dir, 'zrok2');
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** True when `$HOME/.zrok2` holds an enabled environment (what zrok2 itself loads; `zrok2 status` cannot tell). */
export function isZrokEnabled(home: string = zrokHome()): boolean {
  const dir = join(home, '.zrok2');
  const metadata = readJson(join(dir, 'metadata.json'));
  if (typeof metadata !== 'object' || metadata === null || (metadata as { v?: unknown }).v !== 'v0.4') return false;
  return readJson(join(dir, 'environment.json')) !== undefined;
}

/** The one-line error for a missing zrok2, naming where we looked. */
export function zrokNotInstalled(env: NodeJS.ProcessEnv = process.env, cause?: unknown): GatewayError {
  const explicit = env['ZROK2_BIN'];
  const where = explicit !== undefined && explicit !== '' ? `'${explicit}' (ZROK2_BIN) is not an executable` : 'zrok2 was not found on PATH';
  return new GatewayError('ZROK_NOT_INSTALLED', `the zrok provider needs zrok v2.0.x, but ${where}: ${INSTALL_HINT}`, { cause });
}

/** The one-line error for a zrok2 without an enabled environment. */
export function zrokNotEnabled(): GatewayError {
  return new GatewayError('ZROK_NOT_ENABLED', "zrok is not enabled for this user (no environment in ~/.zrok2): run 'zrok2 enable <token>' first");
}

/** Whether zrok can be used right now, and if not the error that says why. */
export type ZrokReadiness = { ready: true; binary: string } | { ready: false; error: GatewayError };

/** Checks, without running anything, that zrok2 is installed and enabled: install first, then enable. */
export function checkZrok(env: NodeJS.ProcessEnv = process.env, home: string = zrokHome(env)): ZrokReadiness {
  const binary = findZrokBinary(env);
  if (binary === undefined) return { ready: false, error: zrokNotInstalled(env) };
  if (!isZrokEnabled(home)) return { ready: false, error: zrokNotEnabled() };
  return { ready: true, binary };
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}
