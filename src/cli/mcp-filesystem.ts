#!/usr/bin/env node
import { createLogger, type LoggerOptions } from '../log.js';
import { VERSION, addVersionCommand, logLevelOption, newProgram, runCli } from './main.js';

/** Resolves with the reason once the session should end; registered early so a signal never kills us mid-setup. */
function untilStopped(): Promise<string> {
  return new Promise((resolve) => {
    // StdioServerTransport never closes on stdin EOF, so without this the process would outlive its client.
    process.stdin.once('end', () => resolve('stdin closed'));
    process.stdout.once('error', () => resolve('stdout closed'));
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

runCli('mcp-filesystem', async () => {
  const program = newProgram('mcp-filesystem', 'MCP server over stdio that reads, writes and lists files inside the given directories only', VERSION)
    .argument('<dir>', 'allowed root directory; relative tool paths resolve against the first one')
    .argument('[dirs...]', 'further allowed root directories')
    .addOption(logLevelOption());
  // `mcp-filesystem version` is the subcommand, as in the original; any other word is a directory.
  let versionShown = false;
  addVersionCommand(program, 'mcp-filesystem', () => (versionShown = true));
  program.action(() => undefined);
  program.parse();
  if (versionShown) return undefined;

  const stopped = untilStopped();
  const [dir, dirs] = program.processedArgs as [string, string[]];
  const { logLevel } = program.opts<{ logLevel: NonNullable<LoggerOptions['level']> }>();
  const logger = createLogger({ name: 'mcp-filesystem', level: logLevel });
  // Imported after the arguments are parsed: --help and usage errors need none of it.
  const [{ StdioServerTransport }, { Sandbox }, { createFilesystemServer }] = await Promise.all([
    import('@modelcontextprotocol/sdk/server/stdio.js'),
    import('../filesystem/sandbox.js'),
    import('../filesystem/server.js'),
  ]);

  const sandbox = await Sandbox.create([dir, ...dirs]);
  const server = createFilesystemServer(sandbox, { version: VERSION, logger });
  server.server.onerror = (err) => logger.warn({ err }, 'protocol error');
  await server.connect(new StdioServerTransport());
  logger.info({ roots: sandbox.roots }, 'ready');
  logger.flush();

  const reason = await stopped;
  logger.info({ reason }, 'shutting down');
  await server.close();
  return 0;
});
