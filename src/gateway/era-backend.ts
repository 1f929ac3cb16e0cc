import { randomUUID } from 'node:crypto';
import { GatewayError } from '../errors.js';
import { META } from '../mcp/era.js';
import { JsonRpcErrorCode } from '../mcp/jsonrpc.js';
import { shapeForLegacy } from '../mcp/modern.js';
import { PassThroughResponse } from '../mcp/passthrough.js';
import type { RawResponse, RequestOptions, ResponseCallback, UpstreamConnection } from '../mcp/upstream.js';

/**
 * A 2025 client's call to a 2026-07-28 backend. Such a backend does not send the client
 * sampling, elicitation or roots requests; it answers the call with `input_required` and expects
 * it again with the answers (`inputResponses`) and its `requestState` echoed byte for byte. A 2025
 * client knows nothing of that, so the gateway asks the client in the client's own vocabulary and
 * makes the retries itself, until the backend gives its final result. A client that speaks
 * 2026-07-28 itself (its request carries the envelope) gets `input_required` as it is and retries
 * on its own.
 */

/** The requests a modern backend may answer with `input_required`. */
const MULTI_ROUND_METHODS = new Set(['tools/call', 'prompts/get', 'resources/read']);

/** Rounds of input one call may take before the gateway gives up on the backend. */
export const MAX_INPUT_ROUNDS = 16;

/** The client capability each kind of input request needs. */
const CAPABILITY: Readonly<Record<string, string>> = {
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots',
};

/** What the translation needs from the session whose client caused the call. */
export interface InputClient {
  /** True when the client speaks 2026-07-28 itself: it gets `input_required` as it is and retries on its own. */
  takesInputRequired(): boolean;
  /** The capabilities the client declared in `initialize`. */
  capabilities(): Record<string, unknown>;
  /**
   * Sends a request to the client; `answer` hears its response once. The function returned
   * withdraws it (the client is told with `notifications/cancelled`; a late answer is dropped).
   */
  ask(method: string, params: Record<string, unknown> | undefined, answer: (response: RawResponse) => void): () => void;
}

type Obj = Record<string, unknown>;

/**
 * Calls a backend as {@link UpstreamConnection.call} does; when the backend speaks 2026-07-28 and
 * answers `input_required`, fulfils its input requests through the client and retries, so that
 * `done` hears only the final outcome. The call's timeout bounds all rounds together, the
 * client's answers included, and its cancellation ends it in whichever round it is.
 */
export function callWithInput(
  connection: UpstreamConnection,
  method: string,
  params: Obj,
  options: RequestOptions,
  client: InputClient,
  done: ResponseCallback,
): void {
  if (connection.era !== 'modern' || client.takesInputRequired() || speaksModern(params)) {
    connection.call(method, params, options, done);
    return;
  }
  // A 2025 client of a 2026-07-28 backend: answers lose what its revision does not have.
  const legacy: ResponseCallback = (outcome) => done(outcome instanceof Error || outcome instanceof PassThroughResponse ? outcome : shapeForLegacy(outcome, method));
  if (!MULTI_ROUND_METHODS.has(method)) {
    connection.call(method, params, options, legacy);
    return;
  }
  const deadline = performance.now() + options.timeoutMs;
  const timedOut = (): Error => new GatewayError('UPSTREAM_TIMEOUT', `backend '${connection.label}' did not complete ${method} within ${options.timeoutMs} ms`);
  const round = (n: number, roundParams: Obj): void => {
    const timeoutMs = Math.round(deadline - performance.now());
    if (timeoutMs <= 0) return done(timedOut());
    // Parsed, never passed through as bytes: an input_required answer must be seen to be acted on.
    const roundOptions: RequestOptions = { ...options, timeoutMs, passThrough: false };
    connection.call(method, roundParams, roundOptions, (outcome) => {
      const result = outcome instanceof Error || outcome instanceof PassThroughResponse ? undefined : outcome.result;
      if (result?.['resultType'] !== 'input_required') return legacy(outcome);
      if (n >= MAX_INPUT_ROUNDS) {
        return done(failure(`backend '${connection.label}' still asked for input after ${MAX_INPUT_ROUNDS} rounds of ${method}`));
      }
      const requestState = result['requestState'];
      fulfil(connection.label, (result['inputRequests'] as Obj | undefined) ?? {}, client, options, deadline, timedOut, (answers) => {
        if (!('responses' in answers)) return done(answers);
        // The original request again, with the answers and the backend's state exactly as it sent it.
        round(n + 1, { ...params, inputResponses: answers.responses, ...(requestState === undefined ? {} : { requestState }) });
      });
    });
    // The caller knows its call by the progress token it carries now (the session routes by it).
    if (roundOptions.sentProgressToken !== undefined) options.sentProgressToken = roundOptions.sentProgressToken;
  };
  round(1, params);
}

/** True when the request still carries a 2026-07-28 client's envelope (its `_meta` names the protocol version). */
function speaksModern(params: Obj): boolean {
  return typeof (params['_meta'] as Obj | undefined)?.[META.protocolVersion] === 'string';
}

/** A JSON-RPC error answer of the gateway's, for the client: a whole message, as a backend's answer is. */
function failure(message: string, code: number = JsonRpcErrorCode.InternalError): RawResponse {
  return { jsonrpc: '2.0', error: { code, message } } as RawResponse;
}

/**
 * Asks the client every input request of one round at once; `finish` hears all the answers
 * (keyed as the backend keyed its requests), or why there are none: an error answer, the
 * client lacking a capability, the deadline, a cancellation.
 */
function fulfil(
  backend: string,
  requests: Obj,
  client: InputClient,
  options: RequestOptions,
  deadline: number,
  timedOut: () => Error,
  finish: (answers: { responses: Obj } | RawResponse | Error) => void,
): void {
  const entries = Object.entries(requests);
  const declared = client.capabilities();
  for (const [, request] of entries) {
    const problem = unservable(backend, request, declared);
    if (problem !== undefined) return finish(failure(problem, JsonRpcErrorCode.InvalidRequest));
  }
  const responses: Obj = {};
  const withdrawals: (() => void)[] = [];
  let waiting = entries.length;
  let over = false;
  const end = (answers: { responses: Obj } | RawResponse | Error): void => {
    if (over) return;
    over = true;
    clearTimeout(timer);
    options.cancellation?.onAbort(undefined);
    if (!('responses' in answers)) for (const withdraw of withdrawals) withdraw();
    finish(answers);
  };
  const timer = setTimeout(() => end(timedOut()), Math.max(1, deadline - performance.now()));
  options.cancellation?.onAbort(() => end(new GatewayError('UPSTREAM_CLOSED', 'cancelled')));
  if (waiting === 0) return end({ responses });
  for (const [key, request] of entries) {
    const { method, params } = request as { method: string; params?: Obj };
    withdrawals.push(
      client.ask(method, asLegacyRequest(method, params), (response) => {
        if (response.error !== undefined) return end(failure(`the client answered ${method} (asked by backend '${backend}') with an error: ${response.error.message}`));
        responses[key] = response.result ?? {};
        if (--waiting === 0) end({ responses });
      }),
    );
    if (over) return; // the client went away while being asked
  }
}

/** Why the client cannot be asked this, or undefined when it can. */
function unservable(backend: string, request: unknown, declared: Obj): string | undefined {
  const method = (request as { method?: unknown } | null)?.method;
  const capability = typeof method === 'string' ? CAPABILITY[method] : undefined;
  if (typeof method !== 'string' || capability === undefined) return `backend '${backend}' asked the client for unknown input (${String(method)})`;
  if (declared[capability] === undefined) {
    return `backend '${backend}' needs ${method} from the client, which did not declare the '${capability}' capability`;
  }
  const params = (request as { params?: Obj }).params;
  if (method === 'elicitation/create' && params?.['mode'] === 'url' && (declared['elicitation'] as Obj | null)?.['url'] === undefined) {
    return `backend '${backend}' needs URL elicitation from the client, which did not declare it ('elicitation.url')`;
  }
  return undefined;
}

/** An embedded input request's params as the 2025 request carries them. */
function asLegacyRequest(method: string, params: Obj | undefined): Obj | undefined {
  // 2026-07-28 dropped the URL elicitation's id (correlation is the server's requestState); 2025 requires one.
  if (method === 'elicitation/create' && params?.['mode'] === 'url' && params['elicitationId'] === undefined) {
    return { ...params, elicitationId: randomUUID() };
  }
  return params;
}
