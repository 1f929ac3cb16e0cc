import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open } from 'node:fs/promises';
import { GatewayError } from '../../errors.js';
import { peerUid } from '../../wire/native.js';

/**
 * Whether the local share's files can be trusted: the home, `shares/` and each socket are checked
 * with lstat (never following a link) on the serving and the dialing side. Without this, a
 * `shares` symlink planted by another user (when MCP_GATEWAY_HOME is under a shared directory)
 * made the server chmod its target, and an attacker-owned `shares` let the attacker swap in a
 * socket of their own and capture a client's session. Where the optional native package is built,
 * the uid at the other end of each connection is checked too (SO_PEERCRED): a server accepts only
 * its own user (and root), a client talks only to a server of its own user. Without it the 0700
 * directory and the 0600 socket are the guard.
 */

/** This process's uid; undefined where there is none (Windows), and then nothing is checked. */
const ME = process.getuid?.();

function untrusted(path: string, why: string): GatewayError {
  return new GatewayError('SHARE_UNTRUSTED', `local share: refusing ${path}: ${why}`);
}

function mode(stats: Stats): string {
  return `0${(stats.mode & 0o777).toString(8)}`;
}

/**
 * Throws unless `stats` (from lstat) is a directory owned by this user (or root, when `rootOk`)
 * that no other user can write to.
 */
function assertOwnDirectory(path: string, stats: Stats, rootOk: boolean): void {
  if (stats.isSymbolicLink()) throw untrusted(path, 'it is a symbolic link');
  if (!stats.isDirectory()) throw untrusted(path, 'it is not a directory');
  if (ME === undefined) return;
  if (stats.uid !== ME && !(rootOk && stats.uid === 0)) throw untrusted(path, `it belongs to uid ${stats.uid}, not to this user (uid ${ME})`);
  if ((stats.mode & 0o022) !== 0) throw untrusted(path, `other users can write to it (mode ${mode(stats)})`);
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Serving side: makes `home` and `shares` (0700) where missing, and checks both. An existing
 * `shares` of this user's is tightened to 0700 through a handle opened without following links,
 * so a link swapped in at that instant is never chmodded.
 */
export async function prepareSharesDirectory(home: string, shares: string): Promise<void> {
  if ((await lstatOrUndefined(home)) === undefined) await mkdir(home, { recursive: true, mode: 0o700 });
  assertOwnDirectory(home, await lstat(home), true);
  const existing = await lstatOrUndefined(shares);
  if (existing === undefined) {
    await mkdir(shares, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  } else if (existing.isSymbolicLink()) {
    throw untrusted(shares, 'it is a symbolic link');
  }
  const handle = await open(shares, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW).catch((error: NodeJS.ErrnoException) => {
    throw error.code === 'ELOOP' || error.code === 'ENOTDIR' ? untrusted(shares, 'it is not a directory') : error;
  });
  try {
    const stats = await handle.stat();
    if (ME !== undefined && stats.uid !== ME) throw untrusted(shares, `it belongs to uid ${stats.uid}, not to this user (uid ${ME})`);
    // Ours: a looser mode is ours to fix (an older version, a umask); sockets in it are checked one by one.
    if ((stats.mode & 0o777) !== 0o700) await handle.chmod(0o700);
  } finally {
    await handle.close();
  }
}

/**
 * Dialing side: throws SHARE_UNTRUSTED unless `home` and `shares` are directories of this user's
 * (home: or root's) that nobody else can write to and `socket` is a socket of this user's; a
 * missing one is SHARE_NOT_FOUND, with `notFound` as its message.
 */
export async function assertTrustedSocket(home: string, shares: string, socket: string, notFound: string): Promise<void> {
  const homeStats = await lstatOrUndefined(home);
  if (homeStats === undefined) throw new GatewayError('SHARE_NOT_FOUND', notFound);
  assertOwnDirectory(home, homeStats, true);
  const sharesStats = await lstatOrUndefined(shares);
  if (sharesStats === undefined) throw new GatewayError('SHARE_NOT_FOUND', notFound);
  assertOwnDirectory(shares, sharesStats, false);
  const stats = await lstatOrUndefined(socket);
  if (stats === undefined) throw new GatewayError('SHARE_NOT_FOUND', notFound);
  assertOwnSocket(socket, stats);
}

/** Throws unless `stats` (from lstat) is a socket of this user's. */
export function assertOwnSocket(path: string, stats: Stats): void {
  if (stats.isSymbolicLink()) throw untrusted(path, 'it is a symbolic link');
  if (!stats.isSocket()) throw untrusted(path, 'it is not a socket');
  if (ME !== undefined && stats.uid !== ME) throw untrusted(path, `it belongs to uid ${stats.uid}, not to this user (uid ${ME})`);
}

/** Serving side: true unless the native package tells of a peer that is neither this user nor root. */
export function acceptablePeer(fd: number | undefined): boolean {
  const uid = peerUid(fd);
  return uid === undefined || ME === undefined || uid === ME || uid === 0;
}

/** Dialing side: true unless the native package tells of a server run by another user. */
export function trustedServer(fd: number | undefined): boolean {
  const uid = peerUid(fd);
  return uid === undefined || ME === undefined || uid === ME;
}
