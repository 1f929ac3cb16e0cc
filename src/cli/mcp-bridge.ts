#!/usr/bin/env node
import { parseIdleTimeoutFlag } from '../config/duration.js';
import { GatewayError } from '../errors.js';
import type { StatusReport } from '../gateway/admin.js';
import { createLogger, type Logger, type LoggerOptions } from '../log.js';
import { resolveProviderChoice } from '../share/choice.js';
import { redactToken } from '../wire/token.js';
import { VERSION, addVersionCommand, refuseAgoraOptions, logLevelOption, newProgram, providerOption, runCli, serveUntilStopped } from './main.js';

interface BridgeFlags {
  env: string[];
  workingDir?: string;
  shareToken?: string;
  metricsBind?: string;
  accessGrant: string[];
  openShare?: boolean;
  provider?: string;
  logLevel: NonNullable<LoggerOptions['level']>;
  startupTimeout: string;
  sessionIdleTimeout: string;
  maxSessions: string;
}

runCli('mcp-bridge', async () => {
  const program = newProgram('mcp-bridge', 'Expose one stdio MCP server as a share; every client gets its own server process.', VERSION)
    .usage('[options] <command> [args...]')
    .argument('<command>', 'the stdio MCP server to run')
    .argument('[args...]', "the server's own arguments (options after <command> are passed through)")
    .option('--env <KEY=VALUE>', 'set a variable for the server (repeatable; merged over the inherited environment)', collect, [])
    .option('--working-dir <dir>', "the server's working directory")
    .option('--share-token <name>', 'serve under this token (3–32 of [a-z0-9-]) instead of a random one')
    .option('--access-grant <account>', 'admit this zrok account (its email) to the share besides you (repeatable; the share is closed otherwise)', collect, [])
    .option('--open-share', 'let any zrok account holding the token in (open permission mode; not recommended)')
    .option('--startup-timeout <ms>', 'how long the server may take to answer initialize at start-up', '30000')
    .option('--metrics-bind <host:port>', 'serve /metrics, /healthz, /readyz and /status there (loopback only)')
    .option('--session-idle-timeout <duration>', 'end an HTTP client session idle this long, and its server process (e.g. 30m, 90s; 0: never)', '30m')
    .option('--max-sessions <n>', 'client sessions (server processes) at once; a client beyond it is refused with an error', '100')
    .addOption(providerOption())
    .addOption(logLevelOption())
    .passThroughOptions()
    .addHelpText('after', '\nExamples:\n  mcp-bridge mcp-filesystem ~/Documents\n  mcp-bridge --env API_KEY=xyz mcp-server-custom --config /etc/custom.yml\n  mcp-bridge --share-token my-tools -- npx -y @modelcontextprotocol/server-everything');
  refuseAgoraOptions(program, ['network', 'agoraTunnel', 'agoraIntegrationFile']);
  // `mcp-bridge version` is the subcommand, as in the original; any other command is the server.
  let versionShown = false;
  addVersionCommand(program, 'mcp-bridge', () => (versionShown = true));
  program.action(() => undefined);
  program.parse();
  if (versionShown) return undefined;
  const flags = program.opts<BridgeFlags>();
  const [command, args] = program.processedArgs as [string, string[]];
  const logger = createLogger({ name: 'mcp-bridge', level: flags.logLevel });
  // Imported after parsing: --help and usage errors need neither.
  const [{ Bridge }, { createListenProvider }] = await Promise.all([import('../bridge/bridge.js'), import('../share/index.js')]);
  const access = shareAccess(flags);
  const { provider, reason } = createListenProvider(resolveProviderChoice(flags.provider));
  if (access.open) logger.warn('--open-share: any zrok account holding the token can reach this share');
  if (provider.name !== 'zrok' && (access.open || access.accessGrants.length > 0)) {
    logger.warn('--access-grant and --open-share apply to zrok shares only: the local share admits only this user');
  }
  const sessionIdleTimeoutMs = parseIdleTimeoutFlag(flags.sessionIdleTimeout);
  const probeTimeoutMs = Number(flags.startupTimeout);
  if (!Number.isInteger(probeTimeoutMs) || probeTimeoutMs <= 0) throw new GatewayError('USAGE', `invalid --startup-timeout '${flags.startupTimeout}': expected milliseconds`);
  const maxSessions = /^\d+$/.test(flags.maxSessions) ? Number(flags.maxSessions) : NaN;
  if (!Number.isSafeInteger(maxSessions) || maxSessions <= 0) throw new GatewayError('USAGE', `invalid --max-sessions '${flags.maxSessions}': expected a whole number of at least 1`);

  const holder: { bridge?: { status(name: string): StatusReport } } = {};
  const admin = flags.metricsBind === undefined ? undefined : await startAdmin(flags.metricsBind, command, logger, holder);
  const bridge = await Bridge.start({
    ...(admin === undefined ? {} : { metrics: admin.metrics }),
    server: { command, args, env: parseEnv(flags.env), ...(flags.workingDir === undefined ? {} : { cwd: flags.workingDir }) },
    provider,
    logger,
    probeTimeoutMs,
    sessionIdleTimeoutMs,
    maxSessions,
    ...access,
    ...(flags.shareToken === undefined ? {} : { token: flags.shareToken }),
  });
  // Signals are handled before the token is out: a supervisor may send SIGTERM as soon as it reads it.
  holder.bridge = bridge;
  serveUntilStopped(bridge, logger, { afterStop: () => admin?.listener.close() });
  process.stdout.write(`${JSON.stringify({ share_token: bridge.token })}\n`);
  logger.info({ provider: provider.name, why: reason, token: redactToken(bridge.token) }, `serving '${command}'; connect with: mcp-tools run ${redactToken(bridge.token)} (the full token is on stdout)`);
  // Start-up lines are what people watch for: write them now, not with the next batch.
  logger.flush();
  return undefined;
});

/** The admin listener, up before the start-up check (/readyz says "starting" until it passes). */
async function startAdmin(bind: string, name: string, logger: Logger, holder: { bridge?: { status(name: string): StatusReport } }) {
  const [{ Metrics }, { AdminListener }] = await Promise.all([import('../gateway/metrics.js'), import('../gateway/admin.js')]);
  const metrics = new Metrics('mcp_bridge');
  const listener = await AdminListener.start(
    { bind, allowRemote: false, logger },
    {
      metrics,
      notReady: () => (holder.bridge === undefined ? 'starting' : undefined),
      status: () => holder.bridge?.status(name) ?? { name, uptimeSeconds: 0, sessions: [], backends: [] },
    },
  );
  return { metrics, listener };
}

/** Who may reach a share the bridge creates: the original's rules for grants, ours for --open-share. */
function shareAccess(flags: BridgeFlags): { accessGrants: string[]; open: boolean } {
  const open = flags.openShare === true;
  const accessGrants = flags.accessGrant;
  for (const account of accessGrants) {
    if (!/^\S+$/.test(account)) throw new GatewayError('USAGE', `invalid --access-grant '${account}': expected a zrok account (its email address)`);
  }
  if (flags.shareToken !== undefined && (accessGrants.length > 0 || open)) {
    const flag = open ? '--open-share' : '--access-grant';
    throw new GatewayError('USAGE', `${flag} applies only to shares the bridge creates and cannot be used with --share-token (grant on that share: zrok2 modify share TOKEN --add-access-grant ACCOUNT)`);
  }
  if (open && accessGrants.length > 0) throw new GatewayError('USAGE', '--open-share admits every zrok account, so --access-grant would mean nothing: choose one');
  return { accessGrants, open };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parseEnv(pairs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new GatewayError('USAGE', `invalid --env '${pair}': expected KEY=VALUE`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}
