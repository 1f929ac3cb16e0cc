import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The `requestState` the gateway mints for a modern client (MCP 2026-07-28 multi round-trip):
 * it comes back from the client as attacker-controlled input, so it is signed with
 * HMAC-SHA256 under a key that exists only in this process and is bound to the session, the
 * suspended call and the round. Anything else is refused; a restarted gateway refuses every
 * state the previous one minted.
 */

/** Marks states of ours, so that a backend's own state is not mistaken for one. */
export const STATE_PREFIX = 'mcpgw1.';

/** What a state binds. */
export interface StateClaims {
  /** The session that minted it. */
  readonly session: string;
  /** The suspended call, by the gateway's own key for it. */
  readonly call: string;
  /** The round it answers: an old round's state is not accepted twice. */
  readonly round: number;
  /** The request it continues: method and tool/prompt name or resource URI. */
  readonly target: string;
}

const KEY = randomBytes(32);

function mac(payload: string): Buffer {
  return createHmac('sha256', KEY).update(payload).digest();
}

/** A signed, opaque state string for these claims. */
export function mintState(claims: StateClaims): string {
  const payload = Buffer.from(JSON.stringify([claims.session, claims.call, claims.round, claims.target])).toString('base64url');
  return `${STATE_PREFIX}${payload}.${mac(payload).toString('base64url')}`;
}

/** The claims of a state this process minted, or undefined when it is not one (or was altered). */
export function verifyState(state: string): StateClaims | undefined {
  if (!state.startsWith(STATE_PREFIX)) return undefined;
  const [payload, signature, extra] = state.slice(STATE_PREFIX.length).split('.');
  if (payload === undefined || signature === undefined || extra !== undefined) return undefined;
  const given = Buffer.from(signature, 'base64url');
  const expected = mac(payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  try {
    const [session, call, round, target] = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown[];
    if (typeof session !== 'string' || typeof call !== 'string' || typeof round !== 'number' || typeof target !== 'string') return undefined;
    return { session, call, round, target };
  } catch {
    return undefined;
  }
}
