#!/usr/bin/env node
import type { Client } from '@modelcontextprotocol/client';
import { createLogger, deferredLogger, type LoggerOptions } from '../log.js';
import { resolveProviderChoice } from '../share/choice.js';
import { redactToken } from '../wire/token.js';
import { VERSION, addVersionCommand, refuseAgoraOptions, exit, logLevelOption, newProgram, onShutdownSignal, providerOption, runCli } from './main.js';

// Each subcommand imports what it uses when it runs: agents spawn `mcp-tools run` on every
// launch, and it has no use for the HTTP server or the SDK client the other subcommands need.

interface CommonFlags {
  provider?: string;
  logLevel: NonNullable<LoggerOptions['level']>;
}

interface HttpFlags extends CommonFlags {
  bind: string;
  stateless?: boolean;
  jsonResponse?: boolean;
  allowRemote?: boolean;
  allowHost: string[];
  allowOrigin: string[];
  sessionIdleTimeout: string;
  maxSessions: string;
}

/** Commander's collector for a repeatable option. */
function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

runCli('mcp-tools', async () => {
  const program = newProgram('mcp-tools', 'Connect an MCP client to a share.', VERSION);
  let result: Promise<number | undefined> = Promise.resolve(undefined);

  const runCommand = program
    .command('run')
    .description('serve the share to an MCP client on stdin/stdout (stdout carries JSON-RPC only)')
    .argument('<token>', 'share token')
    .option('--no-handover', 'on the local share, relay stdin/stdout instead of handing them to the process serving the share')
    .addOption(providerOption())
    .addOption(logLevelOption())
    .addHelpText('after', '\nExample (Claude Desktop mcpServers):\n  { "command": "mcp-tools", "args": ["run", "k3v9x0q2m7ab"] }')
    .action((token: string, flags: CommonFlags & { handover: boolean }) => {
      exitOnSignals();
      result = run(token, flags);
    });

  const httpCommand = program
    .command('http')
    .description('serve the share as streamable HTTP on /mcp (and legacy SSE on /sse) on this machine')
    .argument('<token>', 'share token')
    .option('--bind <host:port>', 'address to listen on', '127.0.0.1:8080')
    .option('--stateless', 'stateless mode (no session persistence)')
    .option('--json-response', 'prefer JSON responses over SSE streams')
    .option('--allow-remote', 'allow binding an address other machines can reach (Host and Origin are still checked)')
    .option('--allow-host <host>', 'accept this Host header value (name or name:port) beside loopback names; repeatable', collect, [])
    .option('--allow-origin <origin>', 'accept requests from this browser Origin (e.g. https://app.example); repeatable', collect, [])
    .option('--session-idle-timeout <duration>', 'close a session after this long without a request (0 = never)', '30m')
    .option('--max-sessions <n>', 'client sessions at once; beyond it a new one gets HTTP 503', '1000')
    .addOption(providerOption())
    .addOption(logLevelOption())
    .action((token: string, flags: HttpFlags) => {
      result = http(token, flags);
    });

  program
    .command('list')
    .description('show the tools, resources and prompts a share offers')
    .argument('<token>', 'share token')
    .addOption(providerOption())
    .addOption(logLevelOption('warn'))
    .action((token: string, flags: CommonFlags) => {
      exitOnSignals();
      result = list(token, flags);
    });

  program
    .command('call')
    .description('call one tool and print its result (exit 1 when the tool reports an error)')
    .argument('<token>', 'share token')
    .argument('<tool>', 'tool name as the share lists it, e.g. github:create_issue')
    .argument('[arguments]', 'tool arguments as a JSON object')
    .option('--json', 'print the whole result as JSON')
    .addOption(providerOption())
    .addOption(logLevelOption('warn'))
    .action((token: string, tool: string, args: string | undefined, flags: CommonFlags & { json?: boolean }) => {
      exitOnSignals();
      result = call(token, tool, args, flags);
    });

  for (const [verb, text] of [
    ['create', 'zrok2 create share --share-token NAME [--access-grant ACCOUNT]'],
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

  for (const command of [runCommand, httpCommand]) refuseAgoraOptions(command, ['agora', 'agoraIntegrationFile']);
  addVersionCommand(program, 'mcp-tools');
  program.parse();
  return result;
});

/**
 * SIGINT, SIGTERM and SIGHUP end the process through `exit`, not by the signal's default: so the
 * zrok2 access a zrok share was dialled with is stopped on the way out (src/share/zrok/process.ts),
 * where dying of the signal would leave it running. (SDK clients stop their stdio servers with
 * SIGTERM; an SDK v2 client may start one and stop it again at once while it connects.)
 */
function exitOnSignals(): void {
  onShutdownSignal((signal) => exit(signal === 'SIGINT' ? 130 : 143));
  process.once('SIGHUP', () => exit(129));
}

async function run(token: string, flags: CommonFlags & { handover: boolean }): Promise<number> {
  const logger = deferredLogger({ name: 'mcp-tools', level: flags.logLevel });
  const [{ dialShare }, { handOverStdio, runStdio }] = await Promise.all([import('../share/index.js'), import('../tools/run.js')]);
  const { connector, provider, reason } = await dialShare(resolveProviderChoice(flags.provider), token);
  logger.debug({ provider, why: reason }, 'share dialled');
  // process.stdin and process.stdout are not touched before this: a handover needs them unread.
  const handedOver = flags.handover ? await handOverStdio(connector, logger) : undefined;
  const outcome = handedOver ?? (await runStdio({ connector, input: process.stdin, output: process.stdout, logger }));
  await connector.close();
  if (outcome.exitCode !== 0) process.stderr.write(`mcp-tools: ${outcome.reason}\n`);
  return outcome.exitCode;
}

async function withClient<T>(token: string, flags: CommonFlags, use: (client: Client) => Promise<T>): Promise<T> {
  const [{ dialShare }, { connectClient }] = await Promise.all([import('../share/index.js'), import('../tools/inspect.js')]);
  const { connector } = await dialShare(resolveProviderChoice(flags.provider), token);
  const client = await connectClient(connector, VERSION);
  try {
    return await use(client);
  } finally {
    await client.close();
    await connector.close();
  }
}

async function list(token: string, flags: CommonFlags): Promise<number> {
  const { describeShare } = await import('../tools/inspect.js');
  const text = await withClient(token, flags, describeShare);
  process.stdout.write(text);
  return 0;
}

async function call(token: string, tool: string, args: string | undefined, flags: CommonFlags & { json?: boolean }): Promise<number> {
  const { callTool } = await import('../tools/inspect.js');
  const outcome = await withClient(token, flags, (client) => callTool(client, tool, args));
  process.stdout.write(flags.json === true ? `${JSON.stringify(outcome.raw, null, 2)}\n` : `${outcome.text}\n`);
  return outcome.isError ? 1 : 0;
}

async function http(token: string, flags: HttpFlags): Promise<undefined> {
  const logger = createLogger({ name: 'mcp-tools', level: flags.logLevel });
  const [{ dialShare }, { assertBindAllowed, parseAllowedHost, parseAllowedOrigin, parseBind, parseSessionLimits, serveHttp }] = await Promise.all([
    import('../share/index.js'),
    import('../tools/http.js'),
  ]);
  const { host, port } = parseBind(flags.bind);
  assertBindAllowed(host, flags.allowRemote === true);
  const allowHosts = flags.allowHost.map(parseAllowedHost);
  const allowOrigins = flags.allowOrigin.map(parseAllowedOrigin);
  const limits = parseSessionLimits(flags.sessionIdleTimeout, flags.maxSessions);
  const { connector, provider, reason } = await dialShare(resolveProviderChoice(flags.provider), token);
  logger.info({ provider, why: reason }, 'share dialled');
  const service = await serveHttp({
    connector,
    host,
    port,
    logger,
    allowRemote: flags.allowRemote === true,
    allowHosts,
    allowOrigins,
    ...limits,
    jsonResponse: flags.jsonResponse === true,
    stateless: flags.stateless === true,
  });
  if (flags.allowRemote === true) {
    logger.warn({ bind: flags.bind }, 'listening on an address other machines can reach: anyone who reaches it uses this share');
    if (allowHosts.length === 0) logger.warn('no --allow-host: requests naming this machine by anything but a loopback name get 403');
  }
  logger.info({ url: service.url, token: redactToken(token) }, `share '${redactToken(token)}' served at ${service.url}`);
  // Start-up lines are what people watch for: write them now, not with the next batch.
  logger.flush();
  onShutdownSignal(() => {
    void service.close().then(() => connector.close()).then(() => exit(0));
  });
  return undefined;
}
