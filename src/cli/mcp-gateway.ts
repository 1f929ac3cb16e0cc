#!/usr/bin/env node
import type { LoadedConfig } from '../config/index.js';
import type { GatewayConfig } from '../config/types.js';
import { GatewayError, describeError } from '../errors.js';
import type { BackendStatus, Gateway } from '../gateway/gateway.js';
import type { OrchestratorClient } from '../gateway/orchestrator.js';
import { createLogger, type Logger, type LoggerOptions } from '../log.js';
import { resolveProviderChoice, type ProviderChoice } from '../share/choice.js';
import { redactToken } from '../wire/token.js';
import { VERSION, addVersionCommand, refuseAgoraOptions, exit, logLevelOption, newProgram, providerOption, runCli, serveUntilStopped } from './main.js';

// Each subcommand imports what it uses when it runs, and the orchestrator's gRPC client loads
// only in managed mode: what a start-up imports delays the share token.

interface RunFlags {
  shareToken?: string;
  provider?: string;
  metricsBind?: string;
  watchConfig?: boolean;
  logLevel: NonNullable<LoggerOptions['level']>;
}

/** Where `status` looks when not told (the conventional Prometheus exporter port, on loopback). */
const DEFAULT_ADMIN = '127.0.0.1:9464';

runCli('mcp-gateway', async () => {
  const program = newProgram('mcp-gateway', 'Aggregate many MCP backends into one share.', VERSION);
  let result: Promise<number | undefined> = Promise.resolve(undefined);
  const runCommand = program
    .command('run')
    .description('serve the backends of a config file as one share; prints {"share_token":"…"}')
    .argument('<config>', 'path to config.yml')
    .option('--share-token <name>', 'serve under this token (overrides share_token in the file)')
    .option('--metrics-bind <host:port>', 'serve /metrics, /healthz, /readyz and /status there (loopback; overrides metrics.bind)')
    .option('--watch-config', 'reload the config when its file changes (SIGHUP always reloads it)')
    .addOption(providerOption())
    .addOption(logLevelOption())
    .action((path: string, flags: RunFlags) => {
      result = run(path, flags);
    });
  refuseAgoraOptions(runCommand, ['network', 'agoraIntegrationFile']);
  program
    .command('status')
    .description("a running gateway's backends and sessions, from its admin listener")
    .option('--metrics-bind <host:port>', "the gateway's admin listener", DEFAULT_ADMIN)
    .option('--watch', 'refresh every 2 s (in place on a terminal) until interrupted')
    .action((flags: { metricsBind: string; watch?: boolean }) => {
      result = import('./status.js').then(({ showStatus }) => showStatus(flags.metricsBind, flags.watch === true));
    });
  program
    .command('validate')
    .description('check a config file: a summary and exit 0, or every problem with its field path')
    .argument('<config>', 'path to config.yml')
    .action((path: string) => {
      result = validate(path);
    });
  addVersionCommand(program, 'mcp-gateway');
  program.parse();
  return result;
});

async function run(path: string, flags: RunFlags): Promise<undefined> {
  const [{ loadConfig }, { Gateway }, { createListenProvider, createShareProvider }] = await Promise.all([
    import('../config/index.js'),
    import('../gateway/gateway.js'),
    import('../share/index.js'),
  ]);
  const { config, warnings } = await loadConfig(path);
  const logger = createLogger({ name: 'mcp-gateway', level: flags.logLevel, ...(config.logFile === undefined ? {} : { file: config.logFile }) });
  for (const warning of warnings) logger.warn(warning);
  const choice = serveChoice(config, flags);
  const { provider, reason } = createListenProvider(choice);
  if (provider.name !== 'zrok' && config.zrokShare.accessGrants.length > 0) {
    logger.warn('zrok.share.access_grants apply to zrok shares only: the local share admits only this user');
  }
  const holder: { gateway?: Gateway; stop?: (code: number) => void } = {};
  const admin = await startAdmin(config, flags.metricsBind, logger, holder);
  const tracing = tracingRequested() ? new (await import('../gateway/tracing.js')).Tracing('mcp-gateway', VERSION) : undefined;
  if (tracing !== undefined) logger.info('exporting traces over OTLP/HTTP (OTEL_EXPORTER_OTLP_* is set)');
  const orchestrator = await managedMode(config, flags.shareToken ?? config.shareToken, logger, holder);
  let gateway: Gateway;
  try {
    gateway = await Gateway.start({
      ...(admin === undefined ? {} : { metrics: admin.metrics }),
      ...(tracing === undefined ? {} : { tracing }),
      config,
      provider,
      // `type: zrok` backends may be local tokens too: reach them however they are served.
      dialProvider: createShareProvider(choice === 'zrok' ? 'zrok' : 'auto'),
      logger,
      onBackendStatus: startupReporter(logger),
      // Managed, a share that cannot be rebuilt is the orchestrator's to act on: we keep trying.
      ...(orchestrator === undefined
        ? {}
        : {
            managedShare: {
              onUnrecoverable: (error: Error) => orchestrator.setStatus('failed', describeError(error)),
              onRecovered: () => orchestrator.setStatus('running'),
            },
          }),
      ...(flags.shareToken === undefined ? {} : { token: flags.shareToken }),
    });
  } catch (error) {
    orchestrator?.setStatus('failed', describeError(error));
    await orchestrator?.stop();
    await admin?.listener.close();
    await tracing?.shutdown();
    throw error;
  }
  holder.gateway = gateway;
  orchestrator?.setStatus('running');
  // Signals are handled before the token is out: a supervisor may send SIGTERM as soon as it reads it.
  holder.stop = serveUntilStopped(gateway, logger, {
    beforeStop: () => orchestrator?.setStatus('stopping'),
    afterStop: async () => {
      await orchestrator?.stop();
      await admin?.listener.close();
      // What is still batched goes out before we exit.
      await tracing?.shutdown().catch((error: unknown) => logger.warn({ err: describeError(error) }, 'could not export the last traces'));
    },
    onFailure: (error) => orchestrator?.setStatus('failed', describeError(error)),
  });
  watchForReloads(path, gateway, logger, flags.watchConfig === true, () => orchestrator?.setStatus('running'));
  process.stdout.write(`${JSON.stringify({ share_token: gateway.token })}\n`);
  logger.info(
    { provider: provider.name, why: reason, token: redactToken(gateway.token), tools: gateway.catalogue().tools.size },
    `gateway '${config.aggregator.name}' serving; connect with: mcp-tools run ${redactToken(gateway.token)} (the full token is on stdout)`,
  );
  // Start-up lines are what people watch for: write them now, not with the next batch.
  logger.flush();
  return undefined;
}

/**
 * With `--metrics-bind` or `metrics.bind`, the admin listener, started before discovery so that
 * /healthz answers (and /readyz says "starting") while backends start; prom-client loads only then.
 */
async function startAdmin(config: GatewayConfig, flag: string | undefined, logger: Logger, holder: { gateway?: Gateway }) {
  const bind = flag ?? config.metrics?.bind;
  if (bind === undefined) return undefined;
  const [{ Metrics }, { AdminListener }] = await Promise.all([import('../gateway/metrics.js'), import('../gateway/admin.js')]);
  const metrics = new Metrics('mcp_gateway');
  const listener = await AdminListener.start(
    { bind, allowRemote: config.metrics?.allowRemote ?? false, logger },
    {
      metrics,
      notReady: () => (holder.gateway === undefined ? 'starting' : holder.gateway.notReady()),
      status: () => holder.gateway?.status() ?? { name: config.aggregator.name, uptimeSeconds: 0, sessions: [], backends: [] },
    },
  );
  return { metrics, listener };
}

/**
 * Reloads the config on SIGHUP and, with `watch`, when the file changes (editors often replace
 * it: the directory is watched, changes are taken together for 200 ms). One reload at a time; a
 * change during one is applied after it. An invalid file keeps the running config.
 */
function watchForReloads(path: string, gateway: Gateway, logger: Logger, watch: boolean, reloaded: () => void): void {
  let running: Promise<void> | undefined;
  let again = false;
  const reload = (why: string): void => {
    if (running !== undefined) {
      again = true;
      return;
    }
    running = reloadOnce(path, gateway, logger, why)
      .then(reloaded)
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          reload(why);
        }
      });
  };
  process.on('SIGHUP', () => reload('SIGHUP'));
  if (!watch) return;
  void import('node:fs').then(({ watch: watchDir }) => {
    const { dir, base } = splitPath(path);
    let timer: NodeJS.Timeout | undefined;
    const watcher = watchDir(dir, (_event, file) => {
      if (file !== null && file !== base) return;
      clearTimeout(timer);
      timer = setTimeout(() => reload('the config file changed'), 200);
    });
    watcher.on('error', (error) => logger.warn({ err: describeError(error) }, 'stopped watching the config file'));
    watcher.unref();
  });
}

function splitPath(path: string): { dir: string; base: string } {
  const at = path.lastIndexOf('/');
  return at === -1 ? { dir: '.', base: path } : { dir: path.slice(0, at) || '/', base: path.slice(at + 1) };
}

async function reloadOnce(path: string, gateway: Gateway, logger: Logger, why: string): Promise<void> {
  const { loadConfig, ConfigError } = await import('../config/index.js');
  let next: LoadedConfig;
  try {
    next = await loadConfig(path);
  } catch (error) {
    const problems = error instanceof ConfigError ? error.problems : [describeError(error)];
    logger.error({ why, problems: problems.length }, 'config reload refused: the running config stays');
    for (const problem of problems) logger.error(`config reload: ${problem}`);
    return;
  }
  for (const warning of next.warnings) logger.warn(warning);
  const result = await gateway.reload(next.config);
  for (const field of result.needRestart) logger.warn({ field }, `config reload: '${field}' changed; it takes effect at the next restart`);
  logger.info({ why, added: result.added, changed: result.changed, removed: result.removed }, 'config reloaded');
}

/** True when the standard OpenTelemetry environment asks for traces (an OTLP endpoint, not disabled). */
function tracingRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env['OTEL_SDK_DISABLED'] === 'true' || env['OTEL_TRACES_EXPORTER'] === 'none') return false;
  return Boolean(env['OTEL_EXPORTER_OTLP_ENDPOINT'] ?? env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']);
}

/**
 * The provider to serve on: `zrok.share.enabled: false` leaves the local share (ours: a way of
 * serving the original does not have), and a token on the command line is checked as the file's.
 */
function serveChoice(config: GatewayConfig, flags: RunFlags): ProviderChoice {
  const choice = resolveProviderChoice(flags.provider);
  const share = config.zrokShare;
  if (flags.shareToken !== undefined && share.accessGrants.length > 0) {
    throw new GatewayError('USAGE', 'zrok.share.access_grants apply only to shares the gateway creates and cannot be used with --share-token');
  }
  if (share.enabled) return choice;
  if (choice === 'zrok') throw new GatewayError('USAGE', '--provider zrok, but zrok.share.enabled is false: at least one way of serving must be on');
  if (flags.shareToken !== undefined) throw new GatewayError('USAGE', '--share-token requires zrok.share.enabled');
  return 'local';
}

/** With `share_token` and `orchestrator`, report to the orchestrator as the original does. */
async function managedMode(
  config: GatewayConfig,
  shareToken: string | undefined,
  logger: Logger,
  holder: { gateway?: Gateway; stop?: (code: number) => void },
): Promise<OrchestratorClient | undefined> {
  if (config.orchestrator === undefined) return undefined;
  if (shareToken === undefined) {
    logger.warn('orchestrator is configured but share_token is not: managed mode needs both; running standalone');
    return undefined;
  }
  const { OrchestratorClient } = await import('../gateway/orchestrator.js');
  const client = new OrchestratorClient({
    socketPath: config.orchestrator.socketPath,
    heartbeatIntervalMs: config.orchestrator.heartbeatIntervalMs,
    shareToken,
    version: VERSION,
    logger,
    counters: () => ({ activeConnections: holder.gateway?.sessionCount ?? 0, toolInvocations: holder.gateway?.toolInvocations ?? 0 }),
    onShutdown: (reason) => {
      logger.info({ reason }, 'orchestrator asked us to shut down');
      if (holder.stop !== undefined) holder.stop(0);
      else exit(0);
    },
  });
  client.setStatus('starting');
  client.start();
  return client;
}

/** On a TTY, one readable line per backend state; off a TTY, one log line each. */
function startupReporter(logger: Logger): (status: BackendStatus) => void {
  const tty = process.stderr.isTTY;
  return (status) => {
    if (tty) {
      const text =
        status.state === 'connecting'
          ? 'connecting…'
          : status.state === 'ready'
            ? `ready with ${status.tools} tools in ${status.seconds.toFixed(1)} s`
            : `failed: ${status.reason}${status.required ? '' : ' (not required: retrying in the background)'}`;
      process.stderr.write(`  ${status.id}: ${text}\n`);
      return;
    }
    if (status.state === 'failed') logger.warn({ backend: status.id, reason: status.reason, required: status.required }, 'backend failed');
    else if (status.state === 'ready') logger.info({ backend: status.id, tools: status.tools, seconds: Number(status.seconds.toFixed(3)) }, 'backend ready');
  };
}

async function validate(path: string): Promise<number> {
  const { ConfigError, loadConfig } = await import('../config/index.js');
  let loaded: LoadedConfig;
  try {
    loaded = await loadConfig(path);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // Here, unlike `run`, one problem a line: the user is fixing the file.
    process.stderr.write(`${path}: ${error.problems.length} problem(s)\n${error.problems.map((p) => `  ${p}\n`).join('')}`);
    return 1;
  }
  const { config, warnings } = loaded;
  process.stdout.write(summary(path, config));
  for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
  return 0;
}

function summary(path: string, config: GatewayConfig): string {
  const lines = [`${path}: valid — gateway '${config.aggregator.name}' ${config.aggregator.version}, separator '${config.aggregator.separator}', ${config.backends.length} backend(s)`];
  for (const b of config.backends) {
    const t = b.transport;
    const target = t.type === 'stdio' ? [t.command, ...t.args].join(' ') : t.type === 'zrok' ? t.shareToken : t.endpoint;
    const filter = b.tools === undefined ? 'all tools' : `tools ${b.tools.mode} ${b.tools.list.join(', ')}`;
    const closed = t.type === 'stdio' && t.envPolicy === 'closed' ? ', closed environment' : '';
    const policy = b.policy === undefined ? '' : `, path policy (${b.policy.paths.length} rule(s))`;
    lines.push(`  ${b.id}  [${t.type}] ${target}  namespace '${b.namespace}', ${b.isolation}${b.required ? '' : ', optional'}, ${filter}${closed}${policy}`);
  }
  return `${lines.join('\n')}\n`;
}
