import { createRequire } from 'node:module';

/** The optional package `@mcp-gateway/fd-passing`: descriptor passing, peer credentials, the parent guard. */
export type NativePackage = typeof import('@mcp-gateway/fd-passing');

let loaded: { native: NativePackage | undefined } | undefined;

/**
 * The optional native package, loaded on first use (the way `ws` treats `bufferutil`); undefined
 * where it is missing or was not built (no compiler at install time). Each user says what it does
 * without it. A build from before a function was added lacks it: callers check each function.
 */
export function nativePackage(): NativePackage | undefined {
  if (loaded === undefined) {
    let native: NativePackage | undefined;
    try {
      native = createRequire(import.meta.url)('@mcp-gateway/fd-passing') as NativePackage;
    } catch {
      native = undefined;
    }
    loaded = { native };
  }
  return loaded.native;
}

/** The uid at the other end of a connected unix socket, where the native package can tell; else undefined. */
export function peerUid(fd: number | undefined): number | undefined {
  const read = nativePackage()?.peerCredentials;
  if (fd === undefined || typeof read !== 'function') return undefined;
  try {
    return read(fd).uid;
  } catch {
    return undefined;
  }
}
