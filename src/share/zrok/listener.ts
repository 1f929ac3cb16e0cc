import type { Server } from 'node:net';
import { GatewayError } from '../../errors.js';
import { redactToken } from '../../wire/token.js';
import type { ListenerHealth, ShareListener } from '../provider.js';
import { classifyZrokError, shareFailure } from './errors.js';
import { runZrok, stderrErrorLine, ZrokProcess } from './process.js';

/** How zrok2 is run for one listener. */
export interface ZrokRunner {
  binary: string;
  env: NodeJS.ProcessEnv;
  bootTimeoutMs: number;
  stopGraceMs: number;
}

/** What {@link ZrokShareListener} is made of. */
export interface ZrokListenerParts {
  token: string;
  /** The loopback server zrok2 proxies to: it outlives every rebuild. */
  server: Server;
  /** The `zrok2 share private` serving it now. */
  child: ZrokProcess;
  /** `http://127.0.0.1:PORT` of `server`. */
  target: string;
  /** We created the share (ephemeral): if it goes with its zrok2, a rebuild creates it again. */
  created: boolean;
  zrok: ZrokRunner;
  /** `zrok2 create share` of this token with the access it was first created with. */
  createShare: () => Promise<void>;
  /** The token is no longer served by this process. */
  released: () => void;
}

/**
 * A zrok share served by `zrok2 share private` in front of a loopback server. When zrok2 goes,
 * the share can be rebuilt on the same token with the server untouched: `share private
 * --share-token` serves it again (a share we created is created again first if it went with
 * its zrok2, and deleted at close, as zrok2 does not delete a share it serves by token).
 */
export class ZrokShareListener implements ShareListener {
  readonly token: string;
  readonly failed: Promise<Error>;
  readonly #parts: ZrokListenerParts;
  readonly #lost: ((reason: string) => void)[] = [];
  #child: ZrokProcess;
  #resolveFailed!: (error: Error) => void;
  #closing: Promise<void> | undefined;
  #deleteOnClose = false;
  #serverError: string | undefined;

  constructor(parts: ZrokListenerParts) {
    this.token = parts.token;
    this.#parts = parts;
    this.#child = parts.child;
    this.failed = new Promise<Error>((resolve) => (this.#resolveFailed = resolve));
    parts.server.once('error', (err) => {
      this.#serverError = err.message;
      this.#report(new GatewayError('SHARE_CLOSED', `share '${this.token}' stopped: ${err.message}`, { cause: err }));
    });
    this.#watch(parts.child);
  }

  health(): ListenerHealth {
    if (this.#serverError !== undefined) return { serving: false, reason: `the loopback server failed: ${this.#serverError}` };
    if (this.#child.hasExited) return { serving: false, reason: this.#exitReason(this.#child) };
    return { serving: true };
  }

  onLost(callback: (reason: string) => void): void {
    this.#lost.push(callback);
  }

  async rebuild(): Promise<void> {
    if (this.#closing !== undefined) throw new GatewayError('SHARE_CLOSED', `share '${this.token}' is closed`);
    if (this.#serverError !== undefined) throw new GatewayError('SHARE_CLOSED', `share '${this.token}' cannot be rebuilt: its loopback server failed`);
    const { zrok, target } = this.#parts;
    // A zrok2 still there (wedged, or serving no terminator) goes first: one serving process a share.
    await this.#child.stop(zrok.stopGraceMs);
    const args = ['share', 'private', target, '--share-token', this.token, '--subordinate'];
    let child = new ZrokProcess({ binary: zrok.binary, args, env: zrok.env }, zrok.bootTimeoutMs);
    let outcome = await child.booted;
    if (!outcome.ok && outcome.reason !== 'not-installed' && this.#parts.created && classifyZrokError(outcome.text) === 'not-found') {
      // Our ephemeral share went with its zrok2 (a SIGTERM deletes it): created again, same token.
      await child.stop(zrok.stopGraceMs);
      await this.#parts.createShare();
      this.#deleteOnClose = true;
      child = new ZrokProcess({ binary: zrok.binary, args, env: zrok.env }, zrok.bootTimeoutMs);
      outcome = await child.booted;
    }
    if (!outcome.ok) {
      await child.stop(zrok.stopGraceMs);
      throw shareFailure(outcome, this.token, zrok.env);
    }
    // Served by token, a share we created is no longer deleted by zrok2 on exit: we do it.
    if (this.#parts.created) this.#deleteOnClose = true;
    if (this.#closing !== undefined) {
      await child.stop(zrok.stopGraceMs);
      throw new GatewayError('SHARE_CLOSED', `share '${this.token}' was closed while it was being rebuilt`);
    }
    this.#child = child;
    this.#watch(child);
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      const { zrok, server } = this.#parts;
      // SIGTERM lets zrok2 delete an ephemeral share; a SIGKILL first would leak it on the network.
      await this.#child.stop(zrok.stopGraceMs);
      // Connections already open are their owners' to end, as with the local share.
      server.close();
      if (this.#deleteOnClose) {
        const result = await runZrok({ binary: zrok.binary, args: ['delete', 'share', this.token], env: zrok.env }, zrok.bootTimeoutMs);
        if (result.code !== 0 && classifyZrokError(stderrErrorLine(result.stderr) ?? '') !== 'not-found') {
          // Nothing to do about it here but say so: the share is left on the network.
          process.emitWarning(`zrok2 could not delete share '${redactToken(this.token)}': ${stderrErrorLine(result.stderr) ?? `exit ${String(result.code)}`}`);
        }
      }
      this.#parts.released();
    })();
    return this.#closing;
  }

  /** A zrok2 that exits while it is the current one, and not because we closed: the share is lost. */
  #watch(child: ZrokProcess): void {
    void child.exited.then(() => {
      if (this.#closing !== undefined || child !== this.#child) return;
      this.#report(new GatewayError('SHARE_CLOSED', `zrok2 stopped serving share '${this.token}' (${this.#exitReason(child)})`));
    });
  }

  #report(error: GatewayError): void {
    this.#resolveFailed(error);
    for (const callback of this.#lost) callback(error.message);
  }

  #exitReason(child: ZrokProcess): string {
    const exit = child.exitStatus;
    return child.lastError ?? (exit === undefined ? 'it exited' : exit.signal === null ? `exit code ${String(exit.code)}` : `signal ${exit.signal}`);
  }
}
