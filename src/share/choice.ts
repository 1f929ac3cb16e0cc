import { GatewayError } from '../errors.js';

// Apart from index.ts so that a CLI can define `--provider` (and print --help) without loading a provider.

/** What users may ask for with `--provider` / `MCP_SHARE_PROVIDER`. */
export const PROVIDER_CHOICES = ['local', 'zrok', 'auto'] as const;
/** One of {@link PROVIDER_CHOICES}. */
export type ProviderChoice = (typeof PROVIDER_CHOICES)[number];

/** Reads `--provider`, falling back to `MCP_SHARE_PROVIDER`, then `auto`; rejects anything else. */
export function resolveProviderChoice(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): ProviderChoice {
  // An empty variable counts as unset, as shells make it easy to leave one behind.
  const value = flag ?? (env['MCP_SHARE_PROVIDER'] || undefined) ?? 'auto';
  if ((PROVIDER_CHOICES as readonly string[]).includes(value)) return value as ProviderChoice;
  throw new GatewayError('USAGE', `unknown share provider '${value}': choose local, zrok or auto`);
}
