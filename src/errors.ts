/** Stable codes for every local failure; they never travel on the wire as stack traces. */
export type GatewayErrorCode =
  | 'USAGE'
  | 'CONFIG_INVALID'
  | 'SHARE_TOKEN_INVALID'
  | 'SHARE_TOKEN_IN_USE'
  | 'SHARE_NOT_FOUND'
  | 'SHARE_UNREACHABLE'
  | 'SHARE_UNTRUSTED'
  | 'SHARE_CLOSED'
  | 'PROVIDER_UNAVAILABLE'
  | 'ZROK_NOT_INSTALLED'
  | 'ZROK_NOT_ENABLED'
  | 'UPSTREAM_START_FAILED'
  | 'UPSTREAM_TIMEOUT'
  | 'UPSTREAM_CLOSED'
  | 'UPSTREAM_SESSION_LOST'
  | 'UPSTREAM_UNAVAILABLE'
  | 'LIMIT_EXCEEDED'
  | 'PROTOCOL_ERROR'
  | 'BIND_FAILED';

/** The one error type of this project: a stable `code`, a one-line message and an optional cause. */
export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  readonly code: GatewayErrorCode;

  constructor(code: GatewayErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** True when `err` is a GatewayError, optionally with the given code. */
export function isGatewayError(err: unknown, code?: GatewayErrorCode): err is GatewayError {
  return err instanceof GatewayError && (code === undefined || err.code === code);
}

/** A one-line, path-free description of any thrown value, for CLI output and logs. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0] ?? err.name;
  return String(err);
}

/** The one line every Agora key, transport and flag of the original is refused with (config and CLIs). */
export const AGORA_NOT_SUPPORTED = 'Agora is not supported by this implementation (it serves and reaches shares over zrok and the local share only)';
