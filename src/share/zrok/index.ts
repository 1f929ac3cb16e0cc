import { createServer, type Server } from 'node:net';
import { ZrokShareListener } from './listener.js';
import { GatewayError } from '../../errors.js';
import type { ListenOptions, ShareConnector, ShareListener, ShareProvider } from '../provider.js';
import { validateToken } from '../../wire/token.js';
import { ZrokAccess } from './access.js';
import { checkZrok, zrokHome, zrokNotInstalled } from './environment.js';
import { classifyZrokError, shareFailure } from './errors.js';
import { runZrok, stderrErrorLine, ZrokProcess, type ZrokCommand } from './process.js';

export { findZrokBinary, isZrokEnabled, checkZrok, zrokHome, type ZrokReadiness } from './environment.js';
export { classifyZrokError, type ZrokErrorKind } from './errors.js';

/** Options for {@link ZrokShareProvider}; the defaults are what a user's shell gives zrok2. */
export interface ZrokShareProviderOptions {
  /** Environment for finding and running zrok2 (`ZROK2_BIN`, `PATH`, `HOME`); defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** The HOME whose `.zrok2/` is used; passed to zrok2 as `HOME`. Defaults to `env.HOME`. */
  home?: string;
  /** How long zrok2 may take to print its boot line (default 60 s: it talks to the zrok API first). */
  bootTimeoutMs?: number;
  /** How long a SIGTERMed zrok2 may take to release its share before SIGKILL (default 10 s). */
  stopGraceMs?: number;
}

// A zrok token is one name on the whole network; two listeners in one process would otherwise
// both start zrok2 for it. Other processes are zrok's (or the stand-in's) to refuse.
const servedHere = new Set<string>();

/**
 * Shares over zrok v2 by driving the `zrok2` CLI: `share private` in proxy mode in front of a
 * loopback listener, `access private` onto a loopback port for dialling.
 */
export class ZrokShareProvider implements ShareProvider {
  readonly name = 'zrok' as const;
  readonly #env: NodeJS.ProcessEnv;
  readonly #home: string;
  readonly #bootTimeoutMs: number;
  readonly #stopGraceMs: number;
  readonly #accesses = new Map<string, ZrokAccess>();

  constructor(options: ZrokShareProviderOptions = {}) {
    const env = options.env ?? process.env;
    this.#home = options.home ?? zrokHome(env);
    this.#env = { ...env, HOME: this.#home };
    this.#bootTimeoutMs = options.bootTimeoutMs ?? 60_000;
    this.#stopGraceMs = options.stopGraceMs ?? 10_000;
  }

  async listen(options: ListenOptions): Promise<ShareListener> {
    const token = options.token === undefined ? undefined : validateToken(options.token);
    const binary = this.#binary();
    if (token !== undefined) reserve(token);
    const server = createServer((socket) => {
      socket.setNoDelay(true);
      options.onConnection(socket);
    });
    try {
      const port = await listenOnLoopback(server);
      const target = `http://127.0.0.1:${port}`;
      // The contract: --share-token serves an existing share and cannot be combined with
      // --backend-mode; the share's mode and permissions were fixed when it was created. A share
      // we create is closed (owner only) unless grants or an explicit open say otherwise.
      const args =
        token === undefined
          ? ['share', 'private', target, '--backend-mode', 'proxy', ...permissionArgs(options), '--subordinate']
          : ['share', 'private', target, '--share-token', token, '--subordinate'];
      const child = new ZrokProcess({ binary, args, env: this.#env }, this.#bootTimeoutMs);
      const outcome = await child.booted;
      if (!outcome.ok) {
        await child.stop(this.#stopGraceMs);
        throw shareFailure(outcome, token, this.#env);
      }
      const served = outcome.line['token'];
      if (typeof served !== 'string' || (token !== undefined && served !== token)) {
        await child.stop(this.#stopGraceMs);
        throw new GatewayError('PROVIDER_UNAVAILABLE', `zrok2 reported an unexpected share token ${JSON.stringify(served)}`);
      }
      if (token === undefined) servedHere.add(served);
      return new ZrokShareListener({
        token: served,
        server,
        child,
        target,
        created: token === undefined,
        zrok: { binary, env: this.#env, bootTimeoutMs: this.#bootTimeoutMs, stopGraceMs: this.#stopGraceMs },
        createShare: () => this.createShare(served, options).then(() => undefined),
        released: () => servedHere.delete(served),
      });
    } catch (err) {
      if (token !== undefined) servedHere.delete(token);
      server.close();
      throw err;
    }
  }

  async dial(token: string): Promise<ShareConnector> {
    validateToken(token);
    const binary = this.#binary();
    let access = this.#accesses.get(token);
    if (access === undefined || access.stopped) {
      const timing = { bootTimeoutMs: this.#bootTimeoutMs, stopGraceMs: this.#stopGraceMs };
      const created: ZrokAccess = new ZrokAccess(token, { binary, args: [], env: this.#env }, timing, () => {
        if (this.#accesses.get(token) === created) this.#accesses.delete(token);
      });
      access = created;
      this.#accesses.set(token, access);
    }
    return access.acquire();
  }

  /** Stops every zrok2 access this provider started; connectors still open then fail with SHARE_CLOSED. */
  async close(): Promise<void> {
    await Promise.all([...this.#accesses.values()].map((access) => access.release()));
  }

  /**
   * Creates a persistent share (`zrok2 create share --share-token NAME`), closed unless `open`,
   * admitting `accessGrants` besides its owner; resolves to its token.
   */
  async createShare(token?: string, access: Pick<ListenOptions, 'accessGrants' | 'open'> = {}): Promise<string> {
    if (token !== undefined) validateToken(token);
    const args = ['create', 'share', ...(token === undefined ? [] : ['--share-token', token]), ...permissionArgs(access)];
    const result = await this.#run(args);
    const created = /created share '([a-z0-9-]{3,32})'/.exec(result.stdout + result.stderr)?.[1];
    if (result.code === 0 && created !== undefined) return created;
    const text = stderrErrorLine(result.stderr) ?? `zrok2 create share exited with code ${String(result.code)}`;
    switch (classifyZrokError(text)) {
      case 'invalid-name':
        throw new GatewayError('SHARE_TOKEN_INVALID', `zrok refused the share token: ${text}`);
      case 'in-use':
        throw new GatewayError('SHARE_TOKEN_IN_USE', `share token '${token ?? '?'}' already exists on zrok: ${text}`);
      default:
        throw new GatewayError('PROVIDER_UNAVAILABLE', `zrok2 could not create the share: ${text}`);
    }
  }

  /** Deletes a persistent share (`zrok2 delete share NAME`). */
  async deleteShare(token: string): Promise<void> {
    validateToken(token);
    const result = await this.#run(['delete', 'share', token]);
    if (result.code === 0) return;
    const text = stderrErrorLine(result.stderr) ?? `zrok2 delete share exited with code ${String(result.code)}`;
    if (classifyZrokError(text) === 'not-found') throw new GatewayError('SHARE_NOT_FOUND', `share '${token}' not found on zrok`);
    throw new GatewayError('PROVIDER_UNAVAILABLE', `zrok2 could not delete share '${token}': ${text}`);
  }

  async #run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const command: ZrokCommand = { binary: this.#binary(), args, env: this.#env };
    const result = await runZrok(command, this.#bootTimeoutMs);
    if (result.notInstalled) throw zrokNotInstalled(this.#env, result.stderr);
    return result;
  }

  /** The binary, once zrok is known to be installed and enabled; both are checked before anything runs. */
  #binary(): string {
    const readiness = checkZrok(this.#env, this.#home);
    if (!readiness.ready) throw readiness.error;
    return readiness.binary;
  }
}

/** `--open`, or one `--access-grant` per account: what a share we create admits besides its owner. */
function permissionArgs(access: Pick<ListenOptions, 'accessGrants' | 'open'>): string[] {
  if (access.open === true) return ['--open'];
  return (access.accessGrants ?? []).flatMap((account) => ['--access-grant', account]);
}

function reserve(token: string): void {
  if (servedHere.has(token)) throw new GatewayError('SHARE_TOKEN_IN_USE', `share token '${token}' is already served by this process`);
  servedHere.add(token);
}

function listenOnLoopback(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.removeListener('error', reject);
      const address = server.address();
      if (address === null || typeof address === 'string') reject(new GatewayError('BIND_FAILED', 'no loopback port for the share'));
      else resolve(address.port);
    });
  });
}
