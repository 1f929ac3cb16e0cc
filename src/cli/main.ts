import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Command as CommandType, Option as OptionType } from 'commander';
import { AGORA_NOT_SUPPORTED, GatewayError, describeError, isGatewayError } from '../errors.js';
import { LOG_LEVELS, flushLogs, type Logger } from '../log.js';
import { PROVIDER_CHOICES } from '../share/choice.js';

// Required, not imported: commander is CommonJS, and importing it from ESM first has its source
// scanned for named exports, a cost every CLI start-up would pay.
const { Command, CommanderError, Option } = createRequire(import.meta.url)('commander') as typeof import('commander');

/**
 * Runs a CLI's main function: the only place that exits. Errors become one line on stderr
 * (`<name>: <message>`) and a non-zero exit; stack traces only at `--log-level debug`.
 */
export function runCli(name: string, main: () => Promise<number | undefined>): void {
  main().then(
    (code) => {
      if (code !== undefined) exit(code);
    },
    (error: unknown) => {
      // Commander has already printed its one line (or --help / --version output).
      if (error instanceof CommanderError) return exit(error.exitCode);
      process.stderr.write(`${name}: ${describeError(error)}\n`);
      if (!isGatewayError(error) && process.argv.includes('debug')) process.stderr.write(`${String((error as Error).stack)}\n`);
      exit(1);
    },
  );
}

/** How long {@link exit} waits for stdout and stderr to drain. */
const EXIT_FLUSH_MS = 1_000;

/**
 * Exits once the log and stdout and stderr have been flushed, so the last line is never lost. A
 * pipe whose reader went away (EPIPE) or stopped reading never calls back: then the timer exits,
 * with the same code.
 */
export function exit(code: number): void {
  setTimeout(() => process.exit(code), EXIT_FLUSH_MS);
  flushLogs(() => process.stdout.write('', () => process.stderr.write('', () => process.exit(code))));
}

/** A commander program with our conventions: one-line errors prefixed by the program name. */
export function newProgram(name: string, description: string, version: string): CommandType {
  return new Command(name)
    .description(description)
    .version(version, '-V, --version')
    .exitOverride()
    .configureOutput({
      outputError: (text, write) => write(`${name}: ${text.replace(/^error: /, '')}`),
    });
}

/** `--log-level` for every binary. */
export function logLevelOption(defaultLevel = 'info'): OptionType {
  return new Option('--log-level <level>', 'log verbosity on stderr').choices(LOG_LEVELS).default(defaultLevel);
}

/** `--provider` for every share command. */
export function providerOption(): OptionType {
  return new Option('--provider <provider>', 'share provider (env MCP_SHARE_PROVIDER, default auto)').choices(PROVIDER_CHOICES);
}

/** Calls `onSignal` once on SIGINT/SIGTERM; a second signal exits at once. */
export function onShutdownSignal(onSignal: (signal: NodeJS.Signals) => void): void {
  let received = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (received) exit(130);
    received = true;
    onSignal(signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

/** The package version, for `--version` and client info (compiled to dist/src/cli/, three levels down). */
export const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The commit and build date stamped into the build (dist/src/build-info.json), or "unknown". */
function buildInfo(): { commit: string; date: string } {
  try {
    const info = JSON.parse(readFileSync(new URL('../build-info.json', import.meta.url), 'utf8')) as { commit?: unknown; date?: unknown };
    return { commit: typeof info.commit === 'string' ? info.commit : 'unknown', date: typeof info.date === 'string' ? info.date : 'unknown' };
  } catch {
    return { commit: 'unknown', date: 'unknown' };
  }
}

/** What `<binary> version` prints: version, commit, build date and Node.js version, one a line. */
export function versionText(name: string): string {
  const { commit, date } = buildInfo();
  return `${name} ${VERSION}\ncommit: ${commit}\nbuilt: ${date}\nnode: ${process.version}\n`;
}

/** Adds the `version` subcommand (as the original's binaries have); `--version` stays. */
export function addVersionCommand(program: CommandType, name: string, onRun: () => void = () => undefined): void {
  program
    .command('version')
    .description('print the version, commit, build date and Node.js version')
    .action(() => {
      process.stdout.write(versionText(name));
      onRun();
    });
}

/** The original's Agora options (v0.1.5), by the name commander gives each. */
const AGORA_OPTIONS = {
  network: '--network <network>',
  agora: '--agora <tunnel>',
  agoraTunnel: '--agora-tunnel <name>',
  agoraIntegrationFile: '--agora-integration-file <path>',
} as const;

/**
 * Adds the original's Agora options to `command`: recognised, so that they are not "unknown
 * options", and refused with one line as commander parses them (before any argument check).
 * `--network zrok` is accepted, as the original's no-op shortcut.
 */
export function refuseAgoraOptions(command: CommandType, names: readonly (keyof typeof AGORA_OPTIONS)[]): CommandType {
  for (const name of names) {
    const flags = AGORA_OPTIONS[name];
    const help = name === 'network' ? 'overlay network: zrok (agora is not supported here)' : 'Agora (not supported by this implementation)';
    const option = new Option(flags, help);
    command.addOption(name === 'network' ? option.choices(['zrok', 'agora']) : option);
    const flag = flags.split(' ')[0] as string;
    command.on(`option:${option.name()}`, (value: string) => {
      if (name === 'network' && value === 'zrok') return;
      throw new GatewayError('USAGE', `${flag}${name === 'network' ? ` ${value}` : ''}: ${AGORA_NOT_SUPPORTED}`);
    });
  }
  return command;
}

/** A running share server as the CLIs see it. */
export interface Serving {
  readonly failed: Promise<Error>;
  stop(): Promise<void>;
}

/**
 * Serves until SIGINT/SIGTERM (exit 0) or until the share fails underneath (exit 1), stopping
 * cleanly either way. `hooks` let managed mode report each step; returns the stop function.
 */
export function serveUntilStopped(
  serving: Serving,
  logger: Logger,
  hooks: { beforeStop?: () => void; afterStop?: () => Promise<void> | undefined; onFailure?: (error: Error) => void } = {},
): (code: number) => void {
  const stop = (code: number): void => {
    hooks.beforeStop?.();
    serving
      .stop()
      .then(() => hooks.afterStop?.())
      .then(
        () => exit(code),
        (error: unknown) => {
          logger.error({ err: describeError(error) }, 'error while stopping');
          exit(1);
        },
      );
  };
  onShutdownSignal((signal) => {
    logger.info({ signal }, 'stopping');
    stop(0);
  });
  void serving.failed.then((error) => {
    logger.error({ err: describeError(error) }, 'share failed');
    hooks.onFailure?.(error);
    stop(1);
  });
  return stop;
}
