// Why a test of the stdio handover is skipped, if it is. CI fails when the optional package is not
// built (.ci/run); a machine without a compiler skips these and says why.
import { FD_PASSING_ENV, fdPassing } from '../../src/share/local/handover.js';

/** Undefined where the fd-passing addon (the stdio handover) is in use; otherwise why not. */
export const FD_PASSING_SKIP =
  fdPassing() !== undefined
    ? undefined
    : process.env[FD_PASSING_ENV] === '0'
      ? `the stdio handover is off (${FD_PASSING_ENV}=0)`
      : 'the optional package @mcp-gateway/fd-passing is not built here (no compiler at install time)';
