import type { Logger } from '../log.js';

/** Arguments longer than this (as JSON) are cut in the call log. */
const TRUNCATE_ARGUMENTS = 200;

/** What one forwarded call did, for its log line. */
export interface CallRecord {
  method: string;
  /** The name (or URI) the client used. */
  name: string;
  backend: string;
  /** `performance.now()` when the call came in. */
  started: number;
  outcome: string;
  params: Record<string, unknown>;
}

/** Writes the one log line of a call; arguments only with `log_arguments: true`, truncated. */
export function logCall(logger: Logger, logArguments: boolean, call: CallRecord): void {
  const { method, name, backend, started, outcome, params } = call;
  const entry: Record<string, unknown> = { method, name, backend, ms: Math.round((performance.now() - started) * 10) / 10, outcome };
  if (logArguments && params['arguments'] !== undefined) {
    const text = JSON.stringify(params['arguments']);
    entry['arguments'] = text.length > TRUNCATE_ARGUMENTS ? `${text.slice(0, TRUNCATE_ARGUMENTS)}…` : text;
  }
  logger.info(entry, 'call');
}
