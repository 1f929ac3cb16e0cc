import { randomBytes } from 'node:crypto';
import { constants, existsSync, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';

/**
 * Race-free access below a root: every component is opened from the directory handle of the one
 * before it, none of them followed if it is a symbolic link, so the object opened is the object the
 * sandbox checked. A local process swapping a directory for a symlink between the check and the
 * open (renameat2 RENAME_EXCHANGE in a loop) gets ELOOP or ENOTDIR, never a file outside the root.
 *
 * Node has no openat(2). On Linux, opening `/proc/self/fd/<dirfd>/<name>` is its emulation: the
 * kernel jumps to the directory object behind `<dirfd>` (a magic link, not a path lookup) and looks
 * up `<name>` in it alone, and O_NOFOLLOW refuses `<name>` if it is a link. Where /proc is missing
 * (other systems, or a Linux without procfs mounted) each component is opened by its full real path
 * with O_NOFOLLOW instead: a swap of the last component is still refused, but one of an earlier
 * directory between two opens is not detected there. Linux is what we build and test on.
 */
const PROC_FD = process.platform === 'linux' && existsSync('/proc/self/fd') ? '/proc/self/fd' : undefined;

const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
// O_NONBLOCK: opening a FIFO for reading must not wait for a writer (it would hold a thread of the
// pool forever, and four of them stop every later call); the type is checked right after opening.
const FILE_FLAGS = constants.O_RDONLY | NOFOLLOW | (constants.O_NONBLOCK ?? 0);
const DIRECTORY_FLAGS = constants.O_RDONLY | NOFOLLOW | (constants.O_DIRECTORY ?? 0);

/** A directory opened beneath a root, with the real path it was reached by. */
export class DirectoryHandle {
  readonly handle: FileHandle;
  readonly realPath: string;

  constructor(handle: FileHandle, realPath: string) {
    this.handle = handle;
    this.realPath = realPath;
  }

  /** A path naming `name` inside this very directory (see the module comment). */
  child(name: string): string {
    return PROC_FD === undefined ? path.join(this.realPath, name) : `${PROC_FD}/${this.handle.fd}/${name}`;
  }

  /** A path naming this directory itself, for readdir. */
  get self(): string {
    return PROC_FD === undefined ? this.realPath : `${PROC_FD}/${this.handle.fd}`;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** Error with an errno code, as Node's own fs errors, for the server's message table. */
function errno(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

/**
 * Opens `root` (a real directory) and then each of `parts` as directories, never following a link.
 * A link (ELOOP/ENOTDIR) or a missing directory (ENOENT) rejects with that code.
 */
export async function openDirectory(root: string, parts: readonly string[]): Promise<DirectoryHandle> {
  let current = new DirectoryHandle(await fs.open(root, DIRECTORY_FLAGS), root);
  for (const part of parts) {
    try {
      if (part === '' || part === '.' || part === '..' || part.includes('/')) throw errno('EINVAL', 'not a single component');
      const next = new DirectoryHandle(await fs.open(current.child(part), DIRECTORY_FLAGS), path.join(current.realPath, part));
      await current.close();
      current = next;
    } catch (error) {
      await current.close();
      throw error;
    }
  }
  return current;
}

/** What {@link openFile} found: a regular file (open) or a directory (closed again). */
export type Opened = { kind: 'file'; handle: FileHandle } | { kind: 'directory' };

/**
 * Opens `name` in `dir` for reading without following a link and without blocking. Anything but a
 * regular file or a directory (a FIFO, a socket, a device) rejects with code `ESPECIAL`.
 */
export async function openFile(dir: DirectoryHandle, name: string): Promise<Opened> {
  const handle = await fs.open(dir.child(name), FILE_FLAGS);
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) {
      await handle.close();
      return { kind: 'directory' };
    }
    if (!stat.isFile()) throw errno('ESPECIAL', 'not a regular file');
    return { kind: 'file', handle };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * The path the kernel now gives an open descriptor, to check it is still inside the roots: a
 * directory moved out of the root while we walked through it would show here. Undefined where
 * there is no /proc.
 */
export async function currentPath(fd: number): Promise<string | undefined> {
  if (PROC_FD === undefined) return undefined;
  const shown = await fs.readlink(`${PROC_FD}/${fd}`);
  return shown.endsWith(' (deleted)') ? shown.slice(0, -' (deleted)'.length) : shown;
}

/**
 * Replaces (or creates) `name` in `dir` atomically: the content goes to a new temporary file in
 * the same directory, is flushed to disk, and is renamed over `name`; a failure at any point (no
 * space, a read-only file system, a size limit) leaves the old file as it was. The new file keeps
 * the old one's permission bits. `name` itself, if it exists, must be a regular file; a link there
 * is replaced, never followed.
 */
export async function replaceFile(dir: DirectoryHandle, name: string, content: string): Promise<void> {
  const target = dir.child(name);
  let mode: number | undefined;
  try {
    const stat = await fs.lstat(target);
    if (stat.isDirectory()) throw errno('EISDIR', 'is a directory');
    if (!stat.isFile()) throw errno('ESPECIAL', 'not a regular file');
    mode = stat.mode & 0o777;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  // Short and fixed-length, so a name near NAME_MAX still gets one; a dot file, so listings by
  // other tools rarely show it in the instant it exists.
  const temp = dir.child(`.mcpfs-${randomBytes(6).toString('hex')}.tmp`);
  // A new file gets 0666 less the umask, as before; a replaced one its old bits, set before any
  // content is written so a private file is never readable by others in between.
  const handle = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW, mode === undefined ? 0o666 : 0o600);
  let renamed = false;
  try {
    if (mode !== undefined) await handle.chmod(mode);
    await handle.writeFile(content, { encoding: 'utf8' });
    await handle.sync();
    await handle.close();
    await fs.rename(temp, target);
    renamed = true;
    // The rename itself is durable only once the directory is.
    await dir.handle.sync().catch(() => undefined);
  } finally {
    if (!renamed) {
      await handle.close().catch(() => undefined);
      await fs.unlink(temp).catch(() => undefined);
    }
  }
}
