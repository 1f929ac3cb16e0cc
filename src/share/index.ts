import { GatewayError, isGatewayError } from '../errors.js';
import type { ProviderChoice } from './choice.js';
import { LocalShareProvider } from './local/index.js';
import type { ListenOptions, ShareConnector, ShareListener, ShareProvider, ShareProviderName } from './provider.js';
import { checkZrok, zrokHome } from './zrok/environment.js';
import type { ZrokShareProvider, ZrokShareProviderOptions } from './zrok/index.js';

export type {
  ShareProvider,
  ShareListener,
  ListenerHealth,
  ShareConnector,
  ListenOptions,
  ConnectionHandler,
  ShareProviderName,
  StdioHandover,
  StdioHandoverHandler,
  HandoverEnd,
} from './provider.js';
export { detachStdio } from './local/handover.js';
export { LocalShareProvider, defaultGatewayHome } from './local/index.js';
export { MemoryShareProvider, MemoryShareNetwork } from './memory/index.js';
export { generateToken, validateToken } from '../wire/token.js';
export { PROVIDER_CHOICES, resolveProviderChoice, type ProviderChoice } from './choice.js';
export { findZrokBinary, isZrokEnabled, checkZrok, type ZrokReadiness } from './zrok/environment.js';
// A type only: the class is loaded on first use (LazyZrokShareProvider); import it from './zrok/index.js'.
export type { ZrokShareProvider, ZrokShareProviderOptions } from './zrok/index.js';

/** Options for {@link createShareProvider} and the choosers below. */
export interface ShareProviderOptions {
  /** Local state directory; defaults to `$MCP_GATEWAY_HOME` or `~/.mcp-gateway`. */
  home?: string;
  /** Where zrok2 and its HOME are looked up (`ZROK2_BIN`, `PATH`, `HOME`); defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Further options for the zrok provider. */
  zrok?: ZrokShareProviderOptions;
}

/** A provider picked for a user's choice, and a sentence saying why, for the caller to log. */
export interface ChosenProvider {
  provider: ShareProvider;
  reason: string;
}

/** The provider for a user's choice; `auto` decides per call (see {@link createListenProvider}, {@link dialShare}). */
export function createShareProvider(choice: ProviderChoice, options: ShareProviderOptions = {}): ShareProvider {
  switch (choice) {
    case 'local':
      return new LocalShareProvider(options.home);
    case 'zrok':
      return newZrok(options);
    case 'auto':
      return new AutoShareProvider(options);
  }
}

/** The provider to serve on: for `auto`, zrok when zrok2 is installed and enabled, else the local share. */
export function createListenProvider(choice: ProviderChoice, options: ShareProviderOptions = {}): ChosenProvider {
  if (choice === 'local') return { provider: new LocalShareProvider(options.home), reason: 'the local share was asked for' };
  if (choice === 'zrok') return { provider: newZrok(options), reason: 'zrok was asked for' };
  const env = options.env ?? process.env;
  const readiness = checkZrok(env, options.zrok?.home ?? zrokHome(env));
  if (readiness.ready) return { provider: newZrok(options), reason: 'zrok2 is installed and enabled' };
  return { provider: new LocalShareProvider(options.home), reason: `using the local share: ${readiness.error.message}` };
}

/** A connector for `token`; for `auto`, a live local share first, else zrok when it is set up, else one clear error. */
export async function dialShare(
  choice: ProviderChoice,
  token: string,
  options: ShareProviderOptions = {},
): Promise<{ connector: ShareConnector; provider: ShareProviderName; reason: string }> {
  if (choice !== 'auto') {
    const provider = createShareProvider(choice, options);
    return { connector: await provider.dial(token), provider: provider.name, reason: `${choice} was asked for` };
  }
  return dialAuto(new LocalShareProvider(options.home), () => newZrok(options), token, options);
}

function newZrok(options: ShareProviderOptions): ShareProvider {
  return new LazyZrokShareProvider({ ...(options.env === undefined ? {} : { env: options.env }), ...options.zrok });
}

/** The zrok provider, loaded on first use: a start-up on the local share (the usual case) has no use for it. */
class LazyZrokShareProvider implements ShareProvider {
  readonly name = 'zrok' as const;
  readonly #options: ZrokShareProviderOptions;
  #provider: Promise<ZrokShareProvider> | undefined;

  constructor(options: ZrokShareProviderOptions) {
    this.#options = options;
  }

  async listen(options: ListenOptions): Promise<ShareListener> {
    return (await this.#load()).listen(options);
  }

  async dial(token: string): Promise<ShareConnector> {
    return (await this.#load()).dial(token);
  }

  #load(): Promise<ZrokShareProvider> {
    this.#provider ??= import('./zrok/index.js').then(({ ZrokShareProvider }) => new ZrokShareProvider(this.#options));
    return this.#provider;
  }
}

async function dialAuto(
  local: LocalShareProvider,
  zrok: () => ShareProvider,
  token: string,
  options: ShareProviderOptions,
): Promise<{ connector: ShareConnector; provider: ShareProviderName; reason: string }> {
  try {
    return { connector: await local.dial(token), provider: 'local', reason: 'the token is a live local share' };
  } catch (err) {
    if (!isGatewayError(err, 'SHARE_NOT_FOUND')) throw err;
  }
  const env = options.env ?? process.env;
  const readiness = checkZrok(env, options.zrok?.home ?? zrokHome(env));
  if (!readiness.ready) {
    throw new GatewayError('SHARE_NOT_FOUND', `share '${token}' is not a local share, and zrok cannot be tried: ${readiness.error.message}`);
  }
  return { connector: await zrok().dial(token), provider: 'zrok', reason: 'the token is not a local share; trying zrok' };
}

/** `auto` as one provider, for callers of {@link createShareProvider}: `name` is the provider used last. */
class AutoShareProvider implements ShareProvider {
  readonly #options: ShareProviderOptions;
  readonly #local: LocalShareProvider;
  #zrok: ShareProvider | undefined;
  #name: ShareProviderName = 'local';

  constructor(options: ShareProviderOptions) {
    this.#options = options;
    this.#local = new LocalShareProvider(options.home);
  }

  get name(): ShareProviderName {
    return this.#name;
  }

  async listen(options: ListenOptions): Promise<ShareListener> {
    const { provider } = createListenProvider('auto', this.#options);
    this.#name = provider.name;
    return (provider.name === 'zrok' ? this.#zrokProvider() : this.#local).listen(options);
  }

  async dial(token: string): Promise<ShareConnector> {
    const { connector, provider } = await dialAuto(this.#local, () => this.#zrokProvider(), token, this.#options);
    this.#name = provider;
    return connector;
  }

  #zrokProvider(): ShareProvider {
    // One instance, so dials of the same token share one zrok2 access.
    this.#zrok ??= newZrok(this.#options);
    return this.#zrok;
  }
}
