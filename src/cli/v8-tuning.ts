import { setFlagsFromString } from 'node:v8';

/**
 * V8 tiering for a process that relays small messages for a long time. With V8's defaults a
 * function must run about 200 KB of bytecode before TurboFan optimises it, so a new gateway spent
 * its first several hundred calls partly in the interpreter: 0.41–0.43 ms a call there against
 * 0.35–0.38 ms with these flags, and still faster after 2,000 calls (BENCHMARKS.md, the section
 * on V8 tiering). The cost is compilation during the first ~100 calls (a higher p90 there).
 */
export const V8_TUNING_FLAGS: readonly string[] = [
  // Baseline-compile on first call instead of interpreting.
  '--always-sparkplug',
  // Collect type feedback from the first call, so that early optimisations are not blind.
  '--no-lazy-feedback-allocation',
  // Consider a function for optimisation after 4 KiB of bytecode instead of 66 KiB.
  '--interrupt-budget=4096',
];

/**
 * The environment variable that turns the tuning off (`off`), to compare or to rule it out, or
 * on (`on`) under a V8 it was not measured on.
 */
export const V8_TUNING_ENV = 'MCP_GATEWAY_V8_TUNING';

/**
 * The V8 major version the flags were measured on (Node 20's). Other versions keep their
 * defaults: Node 22 and later tier up through Maglev sooner, and a flag V8 no longer knows would
 * print an error line on stderr.
 */
const MEASURED_V8_MAJOR = 11;

/**
 * The flags to set: none when {@link V8_TUNING_ENV} is `off` or under another V8 than the one
 * measured (unless it is `on`), and never one that the user set already on node's command line
 * or in `NODE_OPTIONS` (in either spelling, or negated).
 */
export function v8TuningFlags(env: NodeJS.ProcessEnv, execArgv: readonly string[], v8Version: string = process.versions.v8): string[] {
  const setting = env[V8_TUNING_ENV];
  if (setting === 'off') return [];
  if (setting !== 'on' && Number.parseInt(v8Version, 10) !== MEASURED_V8_MAJOR) return [];
  const userSet = new Set([...execArgv, ...(env['NODE_OPTIONS'] ?? '').split(/\s+/)].map(flagName));
  return V8_TUNING_FLAGS.filter((flag) => !userSet.has(flagName(flag)));
}

/** `--no-lazy_feedback-allocation=1` → `lazy-feedback-allocation`. */
function flagName(arg: string): string {
  return arg
    .replace(/^--?/, '')
    .replace(/=.*$/, '')
    .replaceAll('_', '-')
    .replace(/^no-/, '');
}

/**
 * Sets {@link V8_TUNING_FLAGS} once the process serves, not at start-up: there they would make
 * start-up ~90 ms slower (everything run once gets compiled and optimised), while the functions of
 * the relay path are compiled on their first call, under the flags set by then.
 */
export function tuneV8ForRelaying(env: NodeJS.ProcessEnv = process.env, execArgv: readonly string[] = process.execArgv): void {
  for (const flag of v8TuningFlags(env, execArgv)) setFlagsFromString(flag);
}
