import { createRequire } from 'node:module';
import { GatewayError } from '../errors.js';

// node:crypto is loaded by the first token generated, not by every start-up: dialling a share
// (mcp-tools run) only validates one, and loading it costs several milliseconds.
const require = createRequire(import.meta.url);

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** 12 characters of a 36-letter alphabet: log2(36^12) ≈ 62 bits of randomness. */
const RANDOM_TOKEN_LENGTH = 12;
const TOKEN_PATTERN = /^[a-z0-9-]{3,32}$/;

/** A fresh random share token from the CSPRNG. */
export function generateToken(): string {
  const { randomInt } = require('node:crypto') as typeof import('node:crypto');
  let token = '';
  for (let i = 0; i < RANDOM_TOKEN_LENGTH; i++) token += ALPHABET[randomInt(ALPHABET.length)];
  return token;
}

/** Throws SHARE_TOKEN_INVALID unless `token` is 3–32 characters of [a-z0-9-] (zrok's rule). */
export function validateToken(token: string): string {
  if (!TOKEN_PATTERN.test(token)) {
    const shown = JSON.stringify(token.length > 40 ? `${token.slice(0, 40)}…` : token);
    throw new GatewayError(
      'SHARE_TOKEN_INVALID',
      `invalid share token ${shown}: use 3–32 characters of lowercase letters, digits and hyphens`,
    );
  }
  return token;
}

/** A token as log lines show it: its first 4 characters, enough to tell shares apart, not to dial one. */
export function redactToken(token: string): string {
  return `${token.slice(0, 4)}…`;
}
