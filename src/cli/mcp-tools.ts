#!/usr/bin/env node
import { createLogger, type LoggerOptions } from '../log.js';
import { createShareProvider, resolveProviderChoice } from '../share/index.js';
import { parseBind, serveHttp } from '../tools/http.js';
import { runStdio } from '../tools/run.js';
import { VERSION, exit, logLevelOption, newProgram, onShutdownSignal, providerOption, runCli } from './main.js';

interface CommonFlags {
  provider?: string;
  logLevel: NonNullable<LoggerOptions['level']>;
}

interface HttpFlags extends CommonFlags {
  bind: string;
  stateless?: boolean;
  jsonResponse?: boolean;
  allowRemote?: boolean;
}

runCli('mcp-tools', async () => {
  const program = newProgram('mcp-tools', 'Connect an MCP client to a share.', VERSION);
  let result: Promise<number | undefined> = Promise.resolve(undefined);

  program
    .command('run')
    .description('serve the share to an MCP client on stdin/stdout (stdout carries JSON-RPC only)')
    .argument('<token>', 'share token')
    .addOption(providerOption())
    .addOption(logLevelOption())
    .addHelpText('after', '\nExample (Claude Desktop mcpServers):\n  { "command": "mcp-tools", "args": ["run", "k3v9x0q2m7ab"] }')
    .action((token: string, flags: CommonFlags) => {
      result = run(token, flags);
    });

  program
    .command('http')
    .description('serve the share as streamable HTTP on /mcp (and legacy SSE on /sse) on this machine')
    .argument('<token>', 'share token')
    .option('--bind <host:port>', 'address to listen on', '127.0.0.1:8080')
    .option('--stateless', 'stateless mode (no session persistence)')
    .option('--json-response', 'prefer JSON responses over SSE streams')
    .option('--allow-remote', 'allow binding an address other machines can reach')
    .addOption(providerOption())
    .addOption(logLevelOption())
    .action((token: string, flags: HttpFlags) => {
      result = http(token, flags);
    });

  for (const [verb, text] of [
    ['create', 'zrok2 create share --share-token NAME --open'],
    ['delete', 'zrok2 delete share NAME'],
  ] as const) {
    program
      .command(verb)
      .description(`${verb} a persistent share (done with zrok2: \`${text}\`)`)
      .argument('[name]')
      .action(() => {
        process.stderr.write(`mcp-tools: persistent shares are ${verb}d with zrok v2: ${text}\n`);
        result = Promise.resolve(1);
      });
  }

  program.parse();
  return result;
});

async function run(token: string, flags: CommonFlags): Promise<number> {
  const logger = createLogger({ name: 'mcp-tools', level: flags.logLevel });
  const provider = createShareProvider(resolveProviderChoice(flags.provider));
  const connector = await provider.dial(token);
  const outcome = await runStdio({ connector, input: process.stdin, output: process.stdout, logger });
  await connector.close();
  if (outcome.exitCode !== 0) process.stderr.write(`mcp-tools: ${outcome.reason}\n`);
  return outcome.exitCode;
}

async function http(token: string, flags: HttpFlags): Promise<undefined> {
  const logger = createLogger({ name: 'mcp-tools', level: flags.logLevel });
  const { host, port } = parseBind(flags.bind);
  const provider = createShareProvider(resolveProviderChoice(flags.provider));
  const connector = await provider.dial(token);
  const service = await serveHttp({
    connector,
    host,
    port,
    logger,
    allowRemote: flags.allowRemote === true,
    jsonResponse: flags.jsonResponse === true,
    stateless: flags.stateless === true,
  });
  if (flags.allowRemote === true) logger.warn({ bind: flags.bind }, 'listening on an address other machines can reach: anyone who reaches it uses this share');
  logger.info({ url: service.url, token }, `share '${token}' served at ${service.url}`);
  onShutdownSignal(() => {
    void service.close().then(() => connector.close()).then(() => exit(0));
  });
  return undefined;
}
