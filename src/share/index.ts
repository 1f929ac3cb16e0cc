import { GatewayError } from '../errors.js';
import { LocalShareProvider } from './local/index.js';
import type { ShareProvider } from './provider.js';

export type { ShareProvider, ShareListener, ShareConnector, ListenOptions, ConnectionHandler } from './provider.js';
export { LocalShareProvider, defaultGatewayHome } from './local/index.js';
export { MemoryShareProvider, MemoryShareNetwork } from './memory/index.js';
export { generateToken, validateToken } from './token.js';

/** What users may ask for with `--provider` / `MCP_SHARE_PROVIDER`. */
export const PROVIDER_CHOICES = ['local', 'zrok', 'auto'] as const;
/** One of {@link PROVIDER_CHOICES}. */
export type ProviderChoice = (typeof PROVIDER_CHOICES)[number];

/** Reads `--provider`, falling back to `MCP_SHARE_PROVIDER`, then `auto`; rejects anything else. */
export function resolveProviderChoice(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): ProviderChoice {
  const value = flag ?? env['MCP_SHARE_PROVIDER'] ?? 'auto';
  if ((PROVIDER_CHOICES as readonly string[]).includes(value)) return value as ProviderChoice;
  throw new GatewayError('USAGE', `unknown share provider '${value}': choose local, zrok or auto`);
}

/** Options for {@link createShareProvider}. */
export interface ShareProviderOptions {
  /** Local state directory; defaults to `$MCP_GATEWAY_HOME` or `~/.mcp-gateway`. */
  home?: string;
}

/** The provider for a user's choice. Until the zrok provider lands, `auto` means local. */
export function createShareProvider(choice: ProviderChoice, options: ShareProviderOptions = {}): ShareProvider {
  switch (choice) {
    case 'local':
    case 'auto':
      return new LocalShareProvider(options.home);
    case 'zrok':
      throw new GatewayError(
        'PROVIDER_UNAVAILABLE',
        'the zrok share provider is not available yet in this version; use --provider local (or auto)',
      );
  }
}
