// Why a test of one of our addons is skipped, if it is. CI fails when either is not built
// (.ci/run), so they skip there only in its second pass, which runs the suite with both off.
import { NATIVE_IO_ENV, lineIo } from '../../src/mcp/native-lines.js';
import { FD_PASSING_ENV, fdPassing } from '../../src/share/local/handover.js';

function skipReason(addon: string, env: string, loaded: boolean): string | undefined {
  if (loaded) return undefined;
  return process.env[env] === '0' ? `the ${addon} addon is off (${env}=0)` : `the ${addon} addon is not built here`;
}

/** Undefined where the fd-passing addon (the stdio handover) is in use; otherwise why not. */
export const FD_PASSING_SKIP = skipReason('fd-passing', FD_PASSING_ENV, fdPassing() !== undefined);

/** Undefined where the line-io addon is in use; otherwise why not. */
export const LINE_IO_SKIP = skipReason('line-io', NATIVE_IO_ENV, lineIo() !== undefined);
