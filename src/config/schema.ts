import { z } from 'zod';
import { isGatewayError } from '../errors.js';
import { parseDuration } from './duration.js';
import type { PathProblem, PathSegment } from './expand.js';

/** What a backend id may contain: it names the backend in logs, metrics and default namespaces. */
export const BACKEND_ID_PATTERN = /^[A-Za-z0-9_.-]+$/;

// Namespaces become part of exposed MCP names, whose allowed characters these are (or "" for none).
const NAMESPACE_PATTERN = /^[A-Za-z0-9_.-]*$/;

/** Longest timer Node can arm: setTimeout fires at once for anything larger. */
export const MAX_TIMER_MS = 2_147_483_647;
/** Most processes one backend may keep started ahead of sessions (`warm`). */
export const MAX_WARM = 32;

/**
 * A Go-style duration string, parsed to milliseconds. Custom issues (rather than zod's defaults)
 * so the message explains durations; numbers get a hint because YAML `30` is the classic mistake.
 */
function duration(options: { allowZero: boolean }) {
  return z.unknown().transform((value, ctx): number => {
    const fail = (message: string): never => {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    };
    // Go reads a YAML 0 as a zero time.Duration; anything else needs a unit.
    if (value === 0 && options.allowZero) return 0;
    if (typeof value === 'number') {
      return fail(`must be a duration string such as "${value}s" (a bare number has no unit)`);
    }
    if (typeof value !== 'string') return fail(`expected a duration such as "30s", got ${kindOf(value)}`);
    let ms: number;
    try {
      ms = parseDuration(value);
    } catch (err) {
      return fail(isGatewayError(err) ? err.message : 'is not a valid duration');
    }
    if (ms < 0) return fail(options.allowZero ? 'must not be negative' : 'must be greater than 0');
    if (ms === 0 && !options.allowZero) return fail('must be greater than 0');
    if (ms > MAX_TIMER_MS) return fail('must be at most 596h (the longest timer Node.js supports)');
    return ms;
  });
}

const nonEmpty = z.string().min(1);

/** A zrok account as `--access-grant` takes it (its email address): one word, no spaces. */
const accountName = z.string().refine((account) => /^\S+$/.test(account), { message: 'must be a zrok account (its email address), without spaces' });

const filterSchema = z.strictObject({
  // "" is what the Go original treats as "unset"; a list then means allow.
  mode: z.enum(['allow', 'deny', '']).optional(),
  list: z.array(nonEmpty).optional(),
});

const tlsSchema = z.strictObject({
  ca_cert_file: nonEmpty.optional(),
  insecure_skip_verify: z.boolean().optional(),
});

// One flat object for every transport type, as in the Go original: type-specific requirements
// are checked afterwards so that all of them are reported, not just the first union branch.
const transportSchema = z.strictObject({
  type: z.enum(['stdio', 'http', 'https', 'zrok', 'agora']),
  command: z.string().optional(),
  args: z.array(z.string()).optional(),
  env: z.record(z.string().regex(/^[^=\0]+$/), z.string()).optional(),
  working_dir: nonEmpty.optional(),
  share_token: z.string().optional(),
  endpoint: z.string().optional(),
  protocol: z.enum(['sse', 'streamable']).optional(),
  headers: z.record(nonEmpty, z.string()).optional(),
  allow_insecure: z.boolean().optional(),
  tls: tlsSchema.optional(),
  // Keys of the newest original (issue 19).
  env_policy: z.enum(['additive', 'closed']).optional(),
  allow_environment_proxy: z.boolean().optional(),
  allow_redirects: z.boolean().optional(),
  agora_tunnel: z.string().optional(),
});

/** Transport keys that only mean something for some transport types. */
export const TRANSPORT_KEYS_BY_TYPE: Readonly<Record<string, readonly string[]>> = {
  stdio: ['command', 'args', 'env', 'env_policy', 'working_dir'],
  http: ['endpoint', 'protocol', 'headers', 'allow_insecure', 'allow_environment_proxy', 'allow_redirects', 'tls'],
  https: ['endpoint', 'protocol', 'headers', 'allow_insecure', 'allow_environment_proxy', 'allow_redirects', 'tls'],
  zrok: ['share_token'],
  agora: ['agora_tunnel', 'protocol'],
};

const backendSchema = z.strictObject({
  id: z.string().refine((id) => BACKEND_ID_PATTERN.test(id), {
    message: 'must be letters, digits, ".", "_" or "-" (and not empty)',
  }),
  name: z.string().optional(),
  namespace: z.string().refine((ns) => NAMESPACE_PATTERN.test(ns), {
    message: 'may only contain letters, digits, ".", "_" or "-" ("" exposes names unchanged)',
  }).optional(),
  transport: transportSchema,
  tools: filterSchema.optional(),
  resources: filterSchema.optional(),
  prompts: filterSchema.optional(),
  isolation: z.enum(['session', 'shared']).optional(),
  required: z.boolean().optional(),
  warm: z.number().int().min(0).max(MAX_WARM).optional(),
  // Keys of the newest original (issue 19): path policy, its cross-field rules in load.ts.
  policy: z
    .strictObject({
      paths: z.array(z.strictObject({ tool: nonEmpty, argument: nonEmpty, roots: z.array(nonEmpty) })).optional(),
    })
    .optional(),
});

/** The config file's shape (snake_case keys, as the Go original reads them), before defaults. */
export const rawConfigSchema = z.strictObject({
  aggregator: z
    .strictObject({
      name: nonEmpty.optional(),
      version: nonEmpty.optional(),
      separator: nonEmpty.optional(),
      connection: z
        .strictObject({
          connect_timeout: duration({ allowZero: false }).optional(),
          call_timeout: duration({ allowZero: false }).optional(),
        })
        .optional(),
    })
    .optional(),
  // Presence and length are checked with the other cross-field rules, for one clear message.
  backends: z.array(backendSchema).optional(),
  share_token: z.string().optional(),
  orchestrator: z
    .strictObject({
      socket_path: nonEmpty.optional(),
      heartbeat_interval: duration({ allowZero: false }).optional(),
    })
    .optional(),
  log_file: nonEmpty.optional(),
  metrics: z
    .strictObject({
      bind: z.string().refine((bind) => /^(\[[^\]]+\]|[^:\s]+):\d{1,5}$/.test(bind), { message: 'must be host:port, e.g. 127.0.0.1:9464' }).optional(),
      allow_remote: z.boolean().optional(),
    })
    .optional(),
  max_sessions: z.number().int().positive().optional(),
  log_arguments: z.boolean().optional(),
  shutdown_grace: duration({ allowZero: true }).optional(),
  max_message_bytes: z.number().int().min(1024).optional(),
  max_concurrent_calls: z.number().int().positive().optional(),
  // --- zrok share access, idle sessions, listener watchdog (issue 19 items 1, 3, 9) ---
  session_idle_timeout: duration({ allowZero: true }).optional(),
  resilience: z
    .strictObject({
      watchdog_enabled: z.boolean().optional(),
      poll_interval: duration({ allowZero: false }).optional(),
      zero_established_grace: duration({ allowZero: true }).optional(),
      max_rebuild_failures: z.number().int().positive().optional(),
      heartbeat_interval: duration({ allowZero: true }).optional(),
    })
    .optional(),
  // The original's Agora network (v0.1.5): recognised, then refused in load.ts when it asks for Agora.
  agora: z.record(z.string(), z.unknown()).optional(),
  zrok: z
    .strictObject({
      share: z
        .strictObject({
          enabled: z.boolean().optional(),
          access_grants: z.array(accountName).optional(),
          open: z.boolean().optional(),
        })
        .optional(),
    })
    .optional(),
  // --- end of issue 19 items 1, 3, 9 ---
});

/** The validated file, snake_case, durations already in milliseconds, defaults not yet applied. */
export type RawConfig = z.output<typeof rawConfigSchema>;
/** One `backends[]` entry of {@link RawConfig}. */
export type RawBackend = z.output<typeof backendSchema>;
/** One `tools`/`resources`/`prompts` filter of {@link RawConfig}. */
export type RawFilter = z.output<typeof filterSchema>;

/** Turns zod issues into `path: problem` entries worded for people editing YAML. Never echoes values. */
export function issuesToProblems(issues: readonly z.core.$ZodIssue[]): PathProblem[] {
  const problems: PathProblem[] = [];
  for (const issue of issues) {
    const path = issue.path.map((segment): PathSegment => (typeof segment === 'number' ? segment : String(segment)));
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(path);
      for (const key of issue.keys) problems.push({ path: [...path, key], message: unknownKeyMessage(key, known) });
    } else {
      problems.push({ path, message: describeIssue(issue) });
    }
  }
  return problems;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      if (issue.expected === 'int' && typeof issue.input === 'number') return 'must be a whole number';
      return `expected ${EXPECTED[issue.expected] ?? issue.expected}, got ${kindOf(issue.input)}`;
    case 'invalid_value': {
      if (issue.input === undefined) return 'is required';
      const values = issue.values.filter((v) => v !== '').map((v) => JSON.stringify(v));
      return values.length === 1 ? `must be ${values[0]}` : `must be one of ${values.join(', ')}`;
    }
    case 'too_small':
      if (issue.origin === 'string') return 'must not be empty';
      if (issue.origin === 'array') return `must have at least ${String(issue.minimum)} entries`;
      return `must be ${issue.inclusive ? 'at least' : 'greater than'} ${String(issue.minimum)}`;
    case 'too_big':
      return `must be ${issue.inclusive ? 'at most' : 'less than'} ${String(issue.maximum)}`;
    case 'invalid_key':
      return 'is not a valid name here';
    case 'custom':
      return issue.message;
    default:
      return 'is not valid here';
  }
}

const EXPECTED: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
};

/** A type name for messages; deliberately never the value itself, which may be a secret. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `a ${typeof value}`;
}

function unknownKeyMessage(key: string, known: readonly string[]): string {
  const suggestion = suggestKey(key, known);
  if (suggestion !== undefined) return `unknown key (did you mean "${suggestion}"?)`;
  return known.length > 0 ? `unknown key (known keys here: ${known.join(', ')})` : 'unknown key';
}

/**
 * The known key a misspelt one most likely meant: same letters ignoring case, "_" and "-"
 * (camelCase for snake_case), or within a small edit distance; undefined when nothing is close.
 */
export function suggestKey(key: string, known: readonly string[]): string | undefined {
  const normalize = (s: string): string => s.toLowerCase().replace(/[_-]/g, '');
  const exact = known.find((k) => normalize(k) === normalize(key));
  if (exact !== undefined) return exact;
  // Short keys tolerate fewer edits, or every two-letter typo would "mean" something.
  const limit = key.length <= 4 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of known) {
    const d = levenshtein(key.toLowerCase(), candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** The keys the schema knows at `path` (indexes into lists are skipped through), or []. */
function knownKeysAt(path: readonly PathSegment[]): string[] {
  let schema: z.core.$ZodType | undefined = rawConfigSchema;
  for (const segment of path) {
    schema = schema === undefined ? undefined : child(unwrap(schema), segment);
  }
  const target = schema === undefined ? undefined : unwrap(schema);
  return target !== undefined && target instanceof z.ZodObject ? Object.keys(target.shape) : [];
}

function unwrap(schema: z.core.$ZodType): z.core.$ZodType {
  let current = schema;
  while (current instanceof z.ZodOptional || current instanceof z.ZodDefault) current = current.unwrap();
  return current;
}

function child(schema: z.core.$ZodType, segment: PathSegment): z.core.$ZodType | undefined {
  if (schema instanceof z.ZodObject && typeof segment === 'string') {
    return (schema.shape as Record<string, z.core.$ZodType | undefined>)[segment];
  }
  if (schema instanceof z.ZodArray && typeof segment === 'number') return schema.element;
  if (schema instanceof z.ZodRecord) return schema.valueType;
  return undefined;
}
