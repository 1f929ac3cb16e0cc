import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isAbsolute, normalize } from 'node:path';
import { isNode, LineCounter, parseDocument, type Document, type YAMLError } from 'yaml';
import { AGORA_NOT_SUPPORTED, GatewayError } from '../errors.js';
import { validateToken } from '../wire/token.js';
import { expandTree, formatPath, type PathProblem, type PathSegment } from './expand.js';
import {
  issuesToProblems,
  rawConfigSchema,
  TRANSPORT_KEYS_BY_TYPE,
  type RawBackend,
  type RawConfig,
  type RawFilter,
} from './schema.js';
import type { BackendConfig, FilterConfig, GatewayConfig, TransportConfig } from './types.js';

/** A validated configuration and the non-fatal remarks worth showing the operator. */
export interface LoadedConfig {
  readonly config: GatewayConfig;
  readonly warnings: readonly string[];
}

/** CONFIG_INVALID with every problem found, each as `path: problem`, also joined into the message. */
export class ConfigError extends GatewayError {
  /** One entry per problem, e.g. `backends[1].transport.command: is required for stdio transport`. */
  readonly problems: readonly string[];

  constructor(message: string, problems: readonly string[], options?: { cause?: unknown }) {
    super('CONFIG_INVALID', message, options);
    this.problems = Object.freeze([...problems]);
  }
}

/** The values used when the file leaves a setting out (durations in milliseconds). */
export const CONFIG_DEFAULTS = Object.freeze({
  shutdownGraceMs: 10_000,
  maxMessageBytes: 16 * 1024 * 1024,
  maxConcurrentCalls: 64,
  /** Client sessions at once (each may start processes of `session` backends). */
  maxSessions: 1000,
  name: 'mcp-gateway',
  version: '1.0.0',
  separator: '_',
  connectTimeoutMs: 30_000,
  callTimeoutMs: 60_000,
  heartbeatIntervalMs: 30_000,
  // The Go original's default, so managed deployments that only set the interval keep working.
  socketPath: '/var/run/mcp-orchestrator/orchestrator.sock',
  sessionIdleTimeoutMs: 30 * 60_000,
  resilience: Object.freeze({
    watchdogEnabled: true,
    pollIntervalMs: 10_000,
    zeroEstablishedGraceMs: 90_000,
    maxRebuildFailures: 5,
    heartbeatIntervalMs: 5 * 60_000,
  }),
});

/** Reads and validates a config file; throws {@link ConfigError} (CONFIG_INVALID) listing every problem. */
export async function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
    const message = `cannot read config file ${path}: ${reason}`;
    throw new ConfigError(message, [message], { cause: err });
  }
  return parseConfig(text, env, path);
}

/** Validates config YAML text; `sourceName` only labels the error message. Throws {@link ConfigError}. */
export function parseConfig(text: string, env: NodeJS.ProcessEnv = process.env, sourceName = 'config'): LoadedConfig {
  const invalid = (problems: readonly string[]): ConfigError =>
    new ConfigError(`${sourceName}: invalid configuration: ${problems.join('; ')}`, problems);

  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true, prettyErrors: false, uniqueKeys: true });
  const where = (err: YAMLError): string => {
    const { line, col } = lineCounter.linePos(err.pos[0]);
    const reason = err.code === 'MULTIPLE_DOCS' ? 'a config file holds one YAML document, not several' : yamlReason(err.message);
    return `line ${line}, column ${col}: ${reason}`;
  };
  if (doc.errors.length > 0) throw invalid(doc.errors.map(where));
  const yamlWarnings = doc.warnings.map(where);

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw invalid([`${formatPath([])}: ${yamlReason(err instanceof Error ? err.message : String(err))}`]);
  }
  if (data === null || data === undefined) throw invalid([`${formatPath([])}: the file is empty; at least one backend is required`]);

  const expanded = expandTree(stripNulls(data), env);
  const problems: PathProblem[] = [...expanded.problems];
  const warnings: PathProblem[] = [];
  const parsed = rawConfigSchema.safeParse(expanded.value, { reportInput: true });
  if (!parsed.success) problems.push(...issuesToProblems(parsed.error.issues));
  checkRules(expanded.value, problems, warnings);

  const byPosition = sortBySource(doc);
  if (problems.length > 0 || !parsed.success) throw invalid(byPosition(problems));
  const config = toGatewayConfig(parsed.data, warnings);
  return deepFreeze({ config, warnings: [...yamlWarnings, ...byPosition(warnings)] });
}

/** Cross-field rules of the Go original, run on the raw tree so they are reported with type errors. */
function checkRules(root: unknown, problems: PathProblem[], warnings: PathProblem[]): void {
  if (!isRecord(root)) return;
  const backends = root.backends;
  if (backends === undefined || (Array.isArray(backends) && backends.length === 0)) {
    problems.push({ path: ['backends'], message: 'at least one backend is required' });
  }
  if (Array.isArray(backends)) {
    const firstIndex = new Map<string, number>();
    backends.forEach((backend: unknown, index) => {
      if (!isRecord(backend)) return;
      const id = backend.id;
      if (typeof id === 'string' && id !== '') {
        const first = firstIndex.get(id);
        if (first === undefined) firstIndex.set(id, index);
        else problems.push({ path: ['backends', index, 'id'], message: `duplicate backend id "${id}" (also backends[${first}].id)` });
      }
      if (isRecord(backend.transport)) checkTransport(backend.transport, ['backends', index, 'transport'], problems, warnings);
      if (isRecord(backend.policy)) checkPathPolicy(backend, ['backends', index, 'policy'], problems);
      if (typeof backend.warm === 'number' && backend.warm > 0) {
        const stdio = isRecord(backend.transport) && backend.transport.type === 'stdio';
        if (!stdio || backend.isolation === 'shared') {
          problems.push({ path: ['backends', index, 'warm'], message: 'only applies to stdio backends with isolation: session (a process kept started for each next session)' });
        }
      }
    });
  }
  checkAgora(root, problems, warnings);
  // "" counts as unset, as in the Go original, so `${SHARE_TOKEN:-}` can switch the feature off.
  if (typeof root.share_token === 'string' && root.share_token !== '') checkShareToken(root.share_token, ['share_token'], problems);
  checkZrokShare(root, problems, warnings);
}

/** The original's rules for `zrok.share` (plus ours for `open`), each reported at the key at fault. */
function checkZrokShare(root: Record<string, unknown>, problems: PathProblem[], warnings: PathProblem[]): void {
  const share = isRecord(root.zrok) && isRecord(root.zrok.share) ? root.zrok.share : {};
  // An absent `enabled` (or an absent block) means serving on zrok, as in the original.
  const enabled = share.enabled !== false;
  const grants = Array.isArray(share.access_grants) && share.access_grants.length > 0;
  const persistent = typeof root.share_token === 'string' && root.share_token !== '';
  const at = (key: string): PathSegment[] => ['zrok', 'share', key];
  if (grants && !enabled) problems.push({ path: at('access_grants'), message: 'access grants require zrok share serving to be enabled (zrok.share.enabled)' });
  if (grants && persistent) {
    problems.push({
      path: at('access_grants'),
      message: 'access grants apply only to shares the gateway creates and cannot be used with share_token (grant on that share: zrok2 modify share TOKEN --add-access-grant ACCOUNT)',
    });
  }
  if (persistent && !enabled) problems.push({ path: ['share_token'], message: 'share_token requires zrok.share.enabled' });
  if (share.open === true) {
    if (!enabled) problems.push({ path: at('open'), message: 'requires zrok share serving to be enabled (zrok.share.enabled)' });
    else if (persistent) problems.push({ path: at('open'), message: "applies only to shares the gateway creates; a persistent share's permission was set by 'zrok2 create share'" });
    else if (grants) problems.push({ path: at('open'), message: 'admits every zrok account holding the token, so access_grants would mean nothing: choose one' });
    else warnings.push({ path: at('open'), message: 'the zrok share will be open: any zrok account holding the token can reach the gateway' });
  }
}

function checkTransport(t: Record<string, unknown>, path: PathSegment[], problems: PathProblem[], warnings: PathProblem[]): void {
  const type = t.type;
  if (typeof type !== 'string') return;
  const relevant = TRANSPORT_KEYS_BY_TYPE[type];
  if (relevant === undefined) return;
  // The Go original takes one flat struct and ignores the rest; we accept such files but say so.
  const allKeys = new Set(Object.values(TRANSPORT_KEYS_BY_TYPE).flat());
  for (const key of Object.keys(t)) {
    if (!allKeys.has(key) || relevant.includes(key)) continue;
    // As in the newest original, these are errors rather than noise: each widens or changes what the
    // backend is reached with, so a misplaced one is a mistake worth stopping for.
    const refusal = MISPLACED_TRANSPORT_KEYS[key]?.(type);
    if (refusal !== undefined) problems.push({ path: [...path, key], message: refusal });
    else warnings.push({ path: [...path, key], message: `ignored for ${type} transport` });
  }
  const required = (key: string): boolean => {
    const value = t[key];
    if (value !== undefined && !(typeof value === 'string' && value.trim() === '')) return true;
    problems.push({ path: [...path, key], message: `is required for ${type} transport` });
    return false;
  };
  if (type === 'agora') problems.push({ path: [...path, 'type'], message: AGORA_NOT_SUPPORTED });
  else if (type === 'stdio') required('command');
  else if (type === 'zrok') {
    if (required('share_token') && typeof t.share_token === 'string') checkShareToken(t.share_token, [...path, 'share_token'], problems);
  } else if (required('endpoint') && typeof t.endpoint === 'string') {
    checkEndpoint(type, t, path, problems, warnings);
  }
}

/** The original's `agora:` block: refused when it asks for Agora; a disabled one (its default) changes nothing. */
function checkAgora(root: Record<string, unknown>, problems: PathProblem[], warnings: PathProblem[]): void {
  if (!isRecord(root.agora)) return;
  if (root.agora.enabled === true) problems.push({ path: ['agora', 'enabled'], message: AGORA_NOT_SUPPORTED });
  else warnings.push({ path: ['agora'], message: `${AGORA_NOT_SUPPORTED}; this disabled block is ignored` });
}

/**
 * `policy.paths` as the newest original checks it: stdio backends only (only there does the
 * gateway see the backend's filesystem), one rule per tool and argument, and roots that are
 * clean absolute paths of existing directories (checked here, so `validate` reports them too).
 */
function checkPathPolicy(backend: Record<string, unknown>, path: PathSegment[], problems: PathProblem[]): void {
  const paths = (backend.policy as Record<string, unknown>).paths;
  if (!Array.isArray(paths) || paths.length === 0) return;
  if (isRecord(backend.transport) && backend.transport.type !== 'stdio') {
    problems.push({ path, message: 'path policy requires a stdio backend (only there does the gateway share its filesystem)' });
    return;
  }
  const seen = new Set<string>();
  paths.forEach((rule: unknown, index) => {
    if (!isRecord(rule)) return;
    const at: PathSegment[] = [...path, 'paths', index];
    for (const key of ['tool', 'argument'] as const) {
      const value = rule[key];
      if (typeof value === 'string' && value.trim() !== value) problems.push({ path: [...at, key], message: 'must not have surrounding whitespace' });
    }
    const key = `${String(rule.tool)}\0${String(rule.argument)}`;
    if (seen.has(key)) {
      problems.push({ path: at, message: `duplicate rule for tool "${String(rule.tool)}" argument "${String(rule.argument)}"` });
    }
    seen.add(key);
    if (!Array.isArray(rule.roots)) {
      if (rule.roots === undefined) problems.push({ path: [...at, 'roots'], message: 'at least one root is required' });
      return;
    }
    if (rule.roots.length === 0) problems.push({ path: [...at, 'roots'], message: 'at least one root is required' });
    const roots = new Set<string>();
    rule.roots.forEach((root: unknown, r) => {
      if (typeof root !== 'string' || root === '') return;
      const message = rootProblem(root, roots);
      if (message !== undefined) problems.push({ path: [...at, 'roots', r], message });
      roots.add(root);
    });
  });
}

function rootProblem(root: string, earlier: ReadonlySet<string>): string | undefined {
  if (!isAbsolute(root)) return 'must be an absolute path';
  if (root !== '/' && (normalize(root) !== root || root.endsWith('/'))) return `must be clean (${normalize(root).replace(/(.)\/$/, '$1')})`;
  if (earlier.has(root)) return 'duplicate root';
  try {
    if (!statSync(root).isDirectory()) return 'must be a directory';
  } catch (error) {
    return `must be an existing directory (${(error as NodeJS.ErrnoException).code ?? 'cannot be read'})`;
  }
  return undefined;
}

/** Transport keys refused (not just ignored) on a transport type they do not apply to: the reason, or undefined. */
const MISPLACED_TRANSPORT_KEYS: Readonly<Record<string, (type: string) => string | undefined>> = {
  protocol: (type) =>
    type === 'stdio' ? 'does not apply to stdio transport (sse | streamable is for http and https backends)' : undefined,
  allow_environment_proxy: () => 'applies only to http and https transports',
  allow_redirects: () => 'applies only to http and https transports',
};

function checkEndpoint(type: string, t: Record<string, unknown>, path: PathSegment[], problems: PathProblem[], warnings: PathProblem[]): void {
  let url: URL | undefined;
  try {
    url = new URL(String(t.endpoint));
  } catch {
    url = undefined;
  }
  // Never echo the endpoint: its query or user-info part may carry credentials.
  if (url === undefined || url.host === '' || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    problems.push({ path: [...path, 'endpoint'], message: 'must be an absolute http:// or https:// URL' });
    return;
  }
  if (type === 'https' && url.protocol !== 'https:') {
    problems.push({
      path: [...path, 'endpoint'],
      message: 'must be an https:// URL for https transport (plain http needs type: http and allow_insecure: true)',
    });
  }
  if (type === 'http' && url.protocol === 'http:') {
    if (t.allow_insecure === undefined || t.allow_insecure === false) {
      problems.push({ path: [...path, 'allow_insecure'], message: 'must be true to use a plain http:// endpoint' });
    }
    if (t.tls !== undefined) problems.push({ path: [...path, 'tls'], message: 'only applies to https:// endpoints' });
  }
  if (isRecord(t.tls) && t.tls.insecure_skip_verify === true) {
    warnings.push({ path: [...path, 'tls', 'insecure_skip_verify'], message: 'TLS certificate verification is disabled for this backend' });
  }
}

function checkShareToken(token: string, path: PathSegment[], problems: PathProblem[]): void {
  try {
    validateToken(token);
  } catch {
    // validateToken's own message quotes the token; share tokens are credentials, so we do not.
    problems.push({ path, message: 'must be 3–32 characters of lowercase letters, digits and hyphens' });
  }
}

function toGatewayConfig(raw: RawConfig, warnings: PathProblem[]): GatewayConfig {
  const aggregator = raw.aggregator;
  const connection = aggregator?.connection;
  return {
    aggregator: {
      name: aggregator?.name ?? CONFIG_DEFAULTS.name,
      version: aggregator?.version ?? CONFIG_DEFAULTS.version,
      separator: aggregator?.separator ?? CONFIG_DEFAULTS.separator,
      connectTimeoutMs: wholeMs(connection?.connect_timeout ?? CONFIG_DEFAULTS.connectTimeoutMs),
      callTimeoutMs: wholeMs(connection?.call_timeout ?? CONFIG_DEFAULTS.callTimeoutMs),
    },
    backends: (raw.backends ?? []).map((backend, index) => toBackend(backend, ['backends', index], warnings)),
    ...(raw.share_token !== undefined && raw.share_token !== '' && { shareToken: raw.share_token }),
    ...(raw.orchestrator !== undefined && {
      orchestrator: {
        socketPath: raw.orchestrator.socket_path ?? CONFIG_DEFAULTS.socketPath,
        heartbeatIntervalMs: wholeMs(raw.orchestrator.heartbeat_interval ?? CONFIG_DEFAULTS.heartbeatIntervalMs),
      },
    }),
    ...(raw.log_file !== undefined && { logFile: raw.log_file }),
    ...(raw.metrics?.bind !== undefined && { metrics: { bind: raw.metrics.bind, allowRemote: raw.metrics.allow_remote ?? false } }),
    maxSessions: raw.max_sessions ?? CONFIG_DEFAULTS.maxSessions,
    logArguments: raw.log_arguments ?? false,
    shutdownGraceMs: wholeMs(raw.shutdown_grace ?? CONFIG_DEFAULTS.shutdownGraceMs),
    maxMessageBytes: raw.max_message_bytes ?? CONFIG_DEFAULTS.maxMessageBytes,
    maxConcurrentCalls: raw.max_concurrent_calls ?? CONFIG_DEFAULTS.maxConcurrentCalls,
    zrokShare: {
      enabled: raw.zrok?.share?.enabled ?? true,
      accessGrants: raw.zrok?.share?.access_grants ?? [],
      open: raw.zrok?.share?.open ?? false,
    },
    sessionIdleTimeoutMs: wholeMs(raw.session_idle_timeout ?? CONFIG_DEFAULTS.sessionIdleTimeoutMs),
    resilience: toResilience(raw.resilience),
  };
}

function toResilience(raw: RawConfig['resilience']): GatewayConfig['resilience'] {
  const defaults = CONFIG_DEFAULTS.resilience;
  return {
    watchdogEnabled: raw?.watchdog_enabled ?? defaults.watchdogEnabled,
    pollIntervalMs: wholeMs(raw?.poll_interval ?? defaults.pollIntervalMs),
    zeroEstablishedGraceMs: wholeMs(raw?.zero_established_grace ?? defaults.zeroEstablishedGraceMs),
    maxRebuildFailures: raw?.max_rebuild_failures ?? defaults.maxRebuildFailures,
    heartbeatIntervalMs: wholeMs(raw?.heartbeat_interval ?? defaults.heartbeatIntervalMs),
  };
}

function toBackend(raw: RawBackend, path: PathSegment[], warnings: PathProblem[]): BackendConfig {
  const tools = toFilter(raw.tools, [...path, 'tools'], 'tools', warnings);
  const resources = toFilter(raw.resources, [...path, 'resources'], 'resources', warnings);
  const prompts = toFilter(raw.prompts, [...path, 'prompts'], 'prompts', warnings);
  return {
    id: raw.id,
    // The Go original shows the id when the name is empty.
    name: raw.name !== undefined && raw.name !== '' ? raw.name : raw.id,
    namespace: raw.namespace ?? raw.id,
    transport: toTransport(raw.transport),
    ...(tools !== undefined && { tools }),
    ...(resources !== undefined && { resources }),
    ...(prompts !== undefined && { prompts }),
    isolation: raw.isolation ?? 'session',
    required: raw.required ?? true,
    warm: raw.warm ?? 0,
    ...(raw.policy?.paths !== undefined && raw.policy.paths.length > 0 && { policy: { paths: raw.policy.paths } }),
  };
}

function toTransport(t: RawBackend['transport']): TransportConfig {
  switch (t.type) {
    case 'stdio':
      return {
        type: 'stdio',
        command: t.command ?? '',
        args: t.args ?? [],
        env: t.env ?? {},
        envPolicy: t.env_policy ?? 'additive',
        ...(t.working_dir !== undefined && { workingDir: t.working_dir }),
      };
    case 'zrok':
      return { type: 'zrok', shareToken: t.share_token ?? '' };
    case 'agora':
      // Never reached: checkRules refuses the type, and nothing is built from a refused file.
      throw new ConfigError(AGORA_NOT_SUPPORTED, [AGORA_NOT_SUPPORTED]);
    case 'http':
    case 'https':
      return {
        type: t.type,
        endpoint: t.endpoint ?? '',
        ...(t.protocol !== undefined && { protocol: t.protocol }),
        headers: t.headers ?? {},
        allowInsecure: t.allow_insecure ?? false,
        allowEnvironmentProxy: t.allow_environment_proxy ?? false,
        allowRedirects: t.allow_redirects ?? false,
        ...(t.tls !== undefined && {
          tls: {
            ...(t.tls.ca_cert_file !== undefined && { caCertFile: t.tls.ca_cert_file }),
            insecureSkipVerify: t.tls.insecure_skip_verify ?? false,
          },
        }),
      };
  }
}

function toFilter(raw: RawFilter | undefined, path: PathSegment[], what: string, warnings: PathProblem[]): FilterConfig | undefined {
  if (raw === undefined) return undefined;
  const explicitMode = raw.mode === '' ? undefined : raw.mode;
  if (explicitMode === undefined && raw.list === undefined) {
    warnings.push({ path, message: `has neither mode nor list, so it filters nothing (all ${what} are exposed)` });
    return undefined;
  }
  // As in the Go original, a list without a mode is an allow list.
  const mode = explicitMode ?? 'allow';
  const list = raw.list ?? [];
  if (mode === 'allow' && list.length === 0) warnings.push({ path, message: `allow mode with an empty list exposes no ${what}` });
  return { mode, list };
}

/** Rounds up, so that a positive sub-millisecond duration never turns into "no timeout". */
function wholeMs(ms: number): number {
  return Math.ceil(ms);
}

/** Orders problems as they appear in the file, so the message reads top to bottom. */
function sortBySource(doc: Document): (items: readonly PathProblem[]) => string[] {
  const offset = (path: readonly PathSegment[]): number => {
    for (let depth = path.length; depth > 0; depth--) {
      const node: unknown = doc.getIn(path.slice(0, depth), true);
      if (isNode(node) && node.range) return node.range[0];
    }
    return -1;
  };
  return (items) =>
    items
      .map((item, index) => ({ item, index, at: offset(item.path) }))
      .sort((a, b) => a.at - b.at || a.index - b.index)
      .map(({ item }) => `${formatPath(item.path)}: ${item.message}`);
}

/** YAML's reason without its position (we add ours) and without any quoted source text. */
function yamlReason(message: string): string {
  const firstLine = message.split('\n')[0] ?? message;
  return firstLine.replace(/ at line \d+, column \d+.*$/, '').replace(/:\s*["'].*$/, '').trim();
}

/** Null values are treated as absent, as Go's YAML decoding does for `key:` with nothing after it. */
function stripNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripNulls);
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item === null) continue;
    Object.defineProperty(out, key, { value: stripNulls(item), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}
