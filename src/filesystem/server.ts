import { promises as fs } from 'node:fs';
import path from 'node:path';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { silentLogger, type Logger } from '../log.js';
import { currentPath, openDirectory, openFile, replaceFile, type DirectoryHandle } from './beneath.js';
import { SandboxError, type Sandbox } from './sandbox.js';

/** Options for {@link createFilesystemServer}. */
export interface FilesystemServerOptions {
  /** Version reported in the MCP handshake. */
  version?: string;
  logger?: Logger;
}

const pathField = z
  .string()
  .describe('File or directory path: relative to the first allowed directory, or absolute inside an allowed directory.');

/** An MCP server exposing read_file, write_file and list_directory, confined to the sandbox's roots. */
export function createFilesystemServer(sandbox: Sandbox, options: FilesystemServerOptions = {}): McpServer {
  const logger = options.logger ?? silentLogger();
  const roots = sandbox.roots;
  const server = new McpServer(
    { name: 'mcp-filesystem', version: options.version ?? '0.0.0' },
    {
      instructions: [
        'Reads, writes and lists files, but only inside these allowed directories:',
        ...roots.map((root) => `- ${root}`),
        `Relative paths resolve against ${roots[0] ?? '(none)'}. Start with list_directory on "." to explore.`,
        'Paths that leave the allowed directories (via "..", absolute paths or symbolic links) are refused.',
        'Files are read and written as UTF-8 text. write_file replaces the whole file and does not create missing directories.',
      ].join('\n'),
    },
  );

  // Every failure becomes a tool result so the agent can read it and adjust; the message names only the
  // path the agent sent, never a resolved path (which could reveal where a symlink points).
  async function guarded(tool: string, requested: string, run: () => Promise<string>): Promise<CallToolResult> {
    try {
      return { content: [{ type: 'text', text: await run() }] };
    } catch (err) {
      const message = failureMessage(tool, requested, err);
      if (err instanceof SandboxError && err.reason === 'outside') logger.warn({ tool, path: requested }, 'refused path outside roots');
      else logger.debug({ tool, path: requested, err }, 'tool failed');
      return { content: [{ type: 'text', text: message }], isError: true };
    }
  }

  server.registerTool(
    'read_file',
    {
      title: 'Read file',
      description:
        'Read the complete contents of a text file as UTF-8. Use list_directory first if unsure of the name. ' +
        'Fails on directories and on paths outside the allowed directories.',
      inputSchema: { path: pathField },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ path: requested }) =>
      guarded('read_file', requested, async () => {
        const { dir, name } = await openParent(sandbox, requested, false);
        try {
          const opened = name === undefined ? ({ kind: 'directory' } as const) : await openFile(dir, name);
          if (opened.kind === 'directory') throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
          try {
            await assertStillInside(sandbox, opened.handle.fd, requested);
            return await opened.handle.readFile({ encoding: 'utf8' });
          } finally {
            await opened.handle.close();
          }
        } finally {
          await dir.close();
        }
      }),
  );

  server.registerTool(
    'write_file',
    {
      title: 'Write file',
      description:
        'Create a file, or overwrite an existing one entirely (atomically: a failed write leaves the old file), with the given UTF-8 text. ' +
        'The parent directory must already exist. Overwrites without asking, so read the file first if its contents matter.',
      inputSchema: { path: pathField, content: z.string().describe('The complete new contents of the file.') },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    ({ path: requested, content }) =>
      guarded('write_file', requested, async () => {
        const { dir, name } = await openParent(sandbox, requested, true);
        try {
          if (name === undefined) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
          await assertStillInside(sandbox, dir.handle.fd, requested);
          await replaceFile(dir, name, content);
        } finally {
          await dir.close();
        }
        return `Wrote ${Buffer.byteLength(content, 'utf8')} bytes to ${requested}`;
      }),
  );

  server.registerTool(
    'list_directory',
    {
      title: 'List directory',
      description:
        'List the entries of a directory, one per line, sorted by name, each prefixed with "[DIR] " or "[FILE] ". ' +
        'A name with a control character (such as a newline) or a leading double quote is shown as a JSON string. ' +
        'Symbolic links are shown as what they point to when that stays inside the allowed directories, otherwise as [FILE].',
      inputSchema: { path: pathField },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ path: requested }) =>
      guarded('list_directory', requested, async () => {
        const real = await sandbox.resolve(requested);
        const { root, parts } = split(sandbox, real, requested);
        const dir = await openDirectory(root, parts);
        try {
          await assertStillInside(sandbox, dir.handle.fd, requested);
          const entries = await fs.readdir(dir.self, { withFileTypes: true });
          const lines = await Promise.all(
            entries
              .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
              .map(async (entry) => {
                const isDir = entry.isDirectory() || (entry.isSymbolicLink() && (await linkIsInnerDirectory(sandbox, real, entry.name)));
                return `${isDir ? '[DIR] ' : '[FILE] '}${shownName(entry.name)}`;
              }),
          );
          return lines.length > 0 ? lines.join('\n') : '(empty directory)';
        } finally {
          await dir.close();
        }
      }),
  );

  return server;
}

function split(sandbox: Sandbox, real: string, requested: string): { root: string; parts: string[] } {
  const found = sandbox.split(real);
  // resolve() only returns paths inside a root; this is the type system's reassurance.
  if (found === undefined) throw new SandboxError('outside', `Access denied: ${JSON.stringify(requested)} is outside the allowed directories`);
  return found;
}

/**
 * Resolves `requested` through the sandbox, then opens the directory holding it component by
 * component from its root (beneath.ts): `name` is the last component, undefined for a root itself.
 */
async function openParent(sandbox: Sandbox, requested: string, forWrite: boolean): Promise<{ dir: DirectoryHandle; name: string | undefined }> {
  const real = await sandbox.resolve(requested, { forWrite });
  const { root, parts } = split(sandbox, real, requested);
  const name = parts.pop();
  return { dir: await openDirectory(root, parts), name };
}

/** Refuses an object that is no longer inside the roots (a directory moved out while we walked it). */
async function assertStillInside(sandbox: Sandbox, fd: number, requested: string): Promise<void> {
  const now = await currentPath(fd);
  if (now !== undefined && !sandbox.contains(now)) {
    throw new SandboxError('outside', `Access denied: ${JSON.stringify(requested)} was moved outside the allowed directories`);
  }
}

/**
 * A name as listed: as it is, unless it holds a control character (a newline would forge an entry
 * of its own) or starts with a double quote; then as a JSON string, e.g. `[FILE] "a\nb"`.
 */
export function shownName(name: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is looked for
  if (!/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(name) && !name.startsWith('"')) return name;
  return JSON.stringify(name).replace(/[\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Goes through the sandbox so a link's type is only revealed when its target is inside the roots. */
async function linkIsInnerDirectory(sandbox: Sandbox, dir: string, name: string): Promise<boolean> {
  try {
    const target = await sandbox.resolve(path.join(dir, name));
    return (await fs.stat(target)).isDirectory();
  } catch {
    return false;
  }
}

function failureMessage(tool: string, requested: string, err: unknown): string {
  if (err instanceof SandboxError) return err.message;
  const shown = JSON.stringify(requested);
  // Node's own messages embed the resolved path; rebuild them from the errno code instead.
  switch ((err as NodeJS.ErrnoException | undefined)?.code) {
    case 'ENOENT':
      return tool === 'write_file'
        ? `Not found: the parent directory of ${shown} does not exist; write_file does not create directories`
        : `Not found: ${shown} does not exist`;
    case 'EISDIR':
      return `${shown} is a directory; use list_directory to see its entries`;
    case 'ENOTDIR':
      return `${shown} is not a directory (or a parent of it is a file); use read_file for files`;
    case 'EACCES':
    case 'EPERM':
      return `Permission denied: ${shown}`;
    case 'ELOOP':
      return `Refused: ${shown} was replaced by a symbolic link while being opened`;
    case 'ENOSPC':
      return `No space left on device while writing ${shown}; the file was left as it was`;
    case 'EDQUOT':
      return `Disk quota exceeded while writing ${shown}; the file was left as it was`;
    case 'EFBIG':
      return `File too large: writing ${shown} exceeds the file size limit; the file was left as it was`;
    case 'EROFS':
      return `Read-only file system: cannot write ${shown}`;
    case 'ENAMETOOLONG':
      return `Name too long: ${shown}`;
    case 'ESPECIAL':
      return `Refused: ${shown} is not a regular file or directory (a FIFO, socket or device)`;
    default:
      return `Operation failed on ${shown} (${(err as NodeJS.ErrnoException | undefined)?.code ?? 'unknown error'})`;
  }
}
