// Loading our N-API addons (built by `npm install` with node-gyp, see binding.gyp), and what both
// need from Node's sockets.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
/** Each addon once loaded, or `undefined` where it was not built or was turned off. */
const loaded = new Map<string, unknown>();

/**
 * The addon `build/Release/<name>.node`, loaded on first use, or undefined where it was not built
 * or `<offEnv>=0` turns it off (then its callers take their plain-Node path). `onLoad` configures
 * it once loaded; if that throws, the addon counts as not built.
 */
export function loadAddon<T>(name: string, offEnv: string, onLoad?: (addon: T) => void): T | undefined {
  if (!loaded.has(name)) {
    let addon: T | undefined;
    if (process.env[offEnv] !== '0') {
      try {
        addon = require(`../../../build/Release/${name}.node`) as T;
        onLoad?.(addon);
      } catch {
        addon = undefined;
      }
    }
    loaded.set(name, addon);
  }
  return loaded.get(name) as T | undefined;
}

/** The descriptor under a net.Socket, when it has one (unix sockets and pipes do). */
export function socketFd(socket: object): number | undefined {
  const fd = (socket as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}
