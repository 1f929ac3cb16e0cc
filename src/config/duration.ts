import { GatewayError } from '../errors.js';

// Nanoseconds per unit, as in Go's time.ParseDuration (both spellings of micro are accepted there too).
const UNIT_NS: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3,
  'μs': 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

const COMPONENT = /^(\d*)(?:\.(\d*))?([^\d.]*)/;

/**
 * Parses a Go-style duration ("500ms", "30s", "1m30s", "1.5h", "0") into milliseconds, possibly
 * fractional; throws CONFIG_INVALID with a reason (never the input, which callers already show).
 */
export function parseDuration(text: string): number {
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest.startsWith('-')) sign = -1;
    rest = rest.slice(1);
  }
  // Go accepts a lone "0" without a unit; every other number needs one.
  if (rest === '0') return 0;
  if (rest === '') throw durationError('is empty');
  if (/^\d+(\.\d*)?$/.test(rest)) throw durationError(`has no unit (did you mean "${text}s"?)`);

  let totalNs = 0;
  while (rest !== '') {
    const match = COMPONENT.exec(rest);
    const whole = match?.[1] ?? '';
    const fraction = match?.[2];
    const unit = match?.[3] ?? '';
    if (match === null || (whole === '' && (fraction === undefined || fraction === ''))) {
      throw durationError('is not a duration such as "30s", "500ms" or "1m30s"');
    }
    if (unit === '') {
      // Units are letters, so a unit-less component ends the text or runs into a second ".".
      if (rest.charAt(match[0].length) === '.') throw durationError('is not a duration such as "30s", "500ms" or "1m30s"');
      throw durationError('is missing a unit after a number (use ns, us, ms, s, m or h)');
    }
    const unitNs = UNIT_NS[unit];
    if (unitNs === undefined) throw durationError(`has an unknown unit "${unit}" (use ns, us, ms, s, m or h)`);
    // Integer part and fraction separately, so "0.1s" is exactly 100ms rather than 100.00000000000001.
    totalNs += Number(whole === '' ? 0 : whole) * unitNs;
    if (fraction !== undefined && fraction !== '') totalNs += Math.round(Number(`0.${fraction}`) * unitNs);
    if (!Number.isSafeInteger(totalNs)) throw durationError('is too large');
    rest = rest.slice(match[0].length);
  }
  return (sign * totalNs) / 1e6;
}

/** Formats milliseconds the way Go prints durations ("1m30s", "500ms"), for messages and logs. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1000) return `${ms}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = (ms % 60_000) / 1000;
  let out = '';
  if (hours > 0) out += `${hours}h`;
  if (hours > 0 || minutes > 0) out += `${minutes}m`;
  return `${out}${seconds}s`;
}

function durationError(problem: string): GatewayError {
  return new GatewayError('CONFIG_INVALID', `duration ${problem}`);
}

/** The longest delay Node's timers take (a longer one fires at once). */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * A `--session-idle-timeout` flag (mcp-bridge, mcp-tools http), as the original takes it: a
 * duration in milliseconds, `0` disables it; negative or longer than a timer can wait is refused.
 */
export function parseIdleTimeoutFlag(text: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (error) {
    throw new GatewayError('USAGE', `invalid --session-idle-timeout '${text}': ${(error as Error).message}`);
  }
  if (ms < 0) throw new GatewayError('USAGE', `invalid --session-idle-timeout '${text}': must not be negative (0 disables it)`);
  if (ms > MAX_TIMER_MS) throw new GatewayError('USAGE', `invalid --session-idle-timeout '${text}': at most 596h`);
  return Math.ceil(ms);
}
