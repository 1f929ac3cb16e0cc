import { GatewayError } from '../../errors.js';
import { zrokNotEnabled, zrokNotInstalled } from './environment.js';
import type { BootOutcome } from './process.js';

/** What a zrok2 error text is about, as far as a caller can act on it. */
export type ZrokErrorKind = 'invalid-name' | 'in-use' | 'not-found' | 'not-enabled' | 'denied' | 'other';

/**
 * Sorts a zrok2 error text. zrok reports API failures as HTTP statuses inside the text
 * (`[POST /share][409] …`), so the status and the well-known phrases both count.
 */
export function classifyZrokError(text: string): ZrokErrorKind {
  if (/invalid unique name/i.test(text)) return 'invalid-name';
  if (/unable to load environment|zrok2? enable/i.test(text)) return 'not-enabled';
  if (/not ?found|\]\[404\]|\b404\b/i.test(text)) return 'not-found';
  if (/already|conflict|in use|\]\[409\]/i.test(text)) return 'in-use';
  if (/unauthori[sz]ed|forbidden|denied|\]\[40[13]\]/i.test(text)) return 'denied';
  return 'other';
}

type Failure = Extract<BootOutcome, { ok: false }>;

/** The error for a `zrok2 share private` that did not boot; `token` is the persistent share asked for, if any. */
export function shareFailure(failure: Failure, token: string | undefined, env: NodeJS.ProcessEnv): GatewayError {
  if (failure.reason === 'not-installed') return zrokNotInstalled(env, failure.text);
  if (failure.reason === 'timeout') return new GatewayError('PROVIDER_UNAVAILABLE', `zrok2 could not start the share: ${failure.text} (is the zrok API reachable?)`);
  const text = failure.text;
  switch (classifyZrokError(text)) {
    case 'invalid-name':
      return new GatewayError('SHARE_TOKEN_INVALID', `zrok refused the share token: ${text}`);
    case 'not-enabled':
      return zrokNotEnabled();
    case 'not-found':
      if (token !== undefined) {
        return new GatewayError(
          'SHARE_NOT_FOUND',
          `persistent share '${token}' does not exist on zrok: create it once with 'zrok2 create share --share-token ${token}' (add --access-grant ACCOUNT for each other zrok account; zrok2: ${text})`,
        );
      }
      break;
    case 'in-use':
      return new GatewayError('SHARE_TOKEN_IN_USE', `share token '${token ?? '?'}' is already in use on zrok: ${text}`);
    default:
      break;
  }
  return new GatewayError('PROVIDER_UNAVAILABLE', `zrok2 could not start the share: ${text}`);
}

/** The error for a `zrok2 access private` that did not boot. */
export function accessFailure(failure: Failure, token: string, env: NodeJS.ProcessEnv): GatewayError {
  if (failure.reason === 'not-installed') return zrokNotInstalled(env, failure.text);
  if (failure.reason === 'timeout') return new GatewayError('SHARE_UNREACHABLE', `share '${token}' is unreachable: zrok2 access gave ${failure.text}`);
  const text = failure.text;
  switch (classifyZrokError(text)) {
    case 'not-found':
      return new GatewayError('SHARE_NOT_FOUND', `share '${token}' not found on zrok (is its bridge or gateway running?)`);
    case 'not-enabled':
      return zrokNotEnabled();
    case 'denied':
      return new GatewayError('SHARE_UNREACHABLE', `access to share '${token}' was refused by zrok (a closed share needs an access grant): ${text}`);
    default:
      return new GatewayError('SHARE_UNREACHABLE', `share '${token}' is unreachable: ${text}`);
  }
}
