import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { silentLogger, type Logger } from '../log.js';
import { SandboxError, type Sandbox } from './sandbox.js';

/** Options for {@link createFilesystemServer}. */
export interface FilesystemServerOptions {
  /** Version reported in the MCP handshake. */
  version?: string;
  logger?: Logger;
}

// O_NOFOLLOW narrows the gap between the sandbox check and the open: a symlink planted at the
// final component after the check is refused instead of followed. Windows lacks it, hence `?? 0`.
const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const READ_FLAGS = constants.O_RDONLY | NOFOLLOW;
const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | NOFOLLOW;

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
        const real = await sandbox.resolve(requested);
        const handle = await fs.open(real, READ_FLAGS);
        try {
          return await handle.readFile({ encoding: 'utf8' });
        } finally {
          await handle.close();
        }
      }),
  );

  server.registerTool(
    'write_file',
    {
      title: 'Write file',
      description:
        'Create a file, or overwrite an existing one entirely, with the given UTF-8 text. ' +
        'The parent directory must already exist. Overwrites without asking, so read the file first if its contents matter.',
      inputSchema: { path: pathField, content: z.string().describe('The complete new contents of the file.') },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    ({ path: requested, content }) =>
      guarded('write_file', requested, async () => {
        const real = await sandbox.resolve(requested, { forWrite: true });
        const handle = await fs.open(real, WRITE_FLAGS, 0o666);
        try {
          await handle.writeFile(content, { encoding: 'utf8' });
        } finally {
          await handle.close();
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
        'Symbolic links are shown as what they point to when that stays inside the allowed directories, otherwise as [FILE].',
      inputSchema: { path: pathField },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ path: requested }) =>
      guarded('list_directory', requested, async () => {
        const real = await sandbox.resolve(requested);
        const entries = await fs.readdir(real, { withFileTypes: true });
        const lines = await Promise.all(
          entries
            .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
            .map(async (entry) => {
              const isDir = entry.isDirectory() || (entry.isSymbolicLink() && (await linkIsInnerDirectory(sandbox, real, entry.name)));
              return `${isDir ? '[DIR] ' : '[FILE] '}${entry.name}`;
            }),
        );
        return lines.length > 0 ? lines.join('\n') : '(empty directory)';
      }),
  );

  return server;
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
      return `No space left on device while writing ${shown}`;
    default:
      return `Operation failed on ${shown}`;
  }
}
