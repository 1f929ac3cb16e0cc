import assert from 'node:assert/strict';
import { realpathSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { isGatewayError } from '../../src/errors.js';
import { ConfigError, expandString, formatDuration, loadConfig, parseConfig, parseDuration, type LoadedConfig } from '../../src/config/index.js';

// dist/test/config → the source tree's fixture (YAML files are not copied by tsc).
const ORIGINAL_EXAMPLE = fileURLToPath(new URL('../../../test/fixtures/configs/original-example.yml', import.meta.url));
const SECRET = 'ghp_s3cr3t-value-that-must-not-leak';
/** An existing, clean, absolute directory for policy roots. */
const EXISTING = realpathSync(tmpdir());

const MINIMAL = `
backends:
  - id: fs
    transport: {type: stdio, command: mcp-filesystem}
`;

/** Parses `yaml` and returns the ConfigError it must raise. */
function problemsOf(yaml: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    parseConfig(yaml, env, 'test.yml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.ok(isGatewayError(err, 'CONFIG_INVALID'));
    assert.ok(!err.message.includes('\n'), 'the message is one line');
    assert.equal(err.message, `test.yml: invalid configuration: ${err.problems.join('; ')}`);
    return err;
  }
  assert.fail('expected the config to be rejected');
}

/** Asserts one problem starts with `path: ` and matches `pattern`. */
function assertProblem(err: ConfigError, path: string, pattern: RegExp): void {
  const hit = err.problems.find((p) => p.startsWith(`${path}: `));
  assert.ok(hit !== undefined, `no problem at ${path}; got: ${err.problems.join(' | ')}`);
  assert.match(hit, pattern);
}

/** A one-backend config with `transport` spliced in (flow style). */
function withTransport(transport: string, extra = ''): string {
  return `backends:\n  - id: b\n    transport: ${transport}\n${extra}`;
}

void describe('loadConfig: the Go original', () => {
  let loaded: LoadedConfig;
  before(async () => {
    loaded = await loadConfig(ORIGINAL_EXAMPLE, { GITHUB_TOKEN: SECRET });
  });

  void it('loads the documented example unchanged', () => {
    const { config, warnings } = loaded;
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.aggregator, { name: 'mcp-gateway', version: '1.0.0', separator: '_', connectTimeoutMs: 30_000, callTimeoutMs: 60_000 });
    assert.equal(config.backends.length, 2);
    const [fs, github] = config.backends;
    assert.deepEqual(fs, {
      id: 'filesystem',
      name: 'Filesystem Tools',
      namespace: 'filesystem',
      transport: { type: 'stdio', command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '/home/user/documents'], env: {}, envPolicy: 'additive' },
      tools: { mode: 'allow', list: ['read_file', 'list_directory', 'search_files'] },
      isolation: 'session',
      required: true,
      warm: 0,
    });
    assert.deepEqual(github?.transport, { type: 'stdio', command: 'npx', args: ['-y', '@modelcontextprotocol/server-github'], env: { GITHUB_TOKEN: SECRET }, envPolicy: 'additive' });
    assert.deepEqual(github?.tools, { mode: 'deny', list: ['delete_*', 'force_*'] });
    assert.equal(config.logArguments, false);
    for (const key of ['shareToken', 'orchestrator', 'logFile']) assert.ok(!(key in config), key);
    assert.equal(config.maxSessions, 1000, 'the default bound on sessions');
  });

  void it('returns a deeply frozen result', () => {
    const { config } = loaded;
    assert.ok(Object.isFrozen(loaded));
    assert.ok(Object.isFrozen(loaded.warnings));
    assert.ok(Object.isFrozen(config.backends));
    const transport = config.backends[1]?.transport;
    assert.ok(transport?.type === 'stdio');
    assert.ok(Object.isFrozen(transport.env));
    assert.ok(Object.isFrozen(transport.args));
    assert.throws(() => {
      (config.aggregator as { separator: string }).separator = '.';
    }, TypeError);
  });

  void it('names the variable and the field when GITHUB_TOKEN is unset', async () => {
    await assert.rejects(loadConfig(ORIGINAL_EXAMPLE, {}), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.problems, [
        'backends[1].transport.env.GITHUB_TOKEN: environment variable GITHUB_TOKEN is not set (use ${GITHUB_TOKEN:-default} for a fallback)',
      ]);
      return true;
    });
  });

  void it('reports a missing file with its path and errno code', async () => {
    await assert.rejects(loadConfig('/nonexistent/dir/config.yml', {}), (err: unknown) => {
      assert.ok(isGatewayError(err, 'CONFIG_INVALID'));
      assert.equal(err.message, 'cannot read config file /nonexistent/dir/config.yml: ENOENT');
      return true;
    });
  });
});

void describe('parseConfig: defaults and new keys', () => {
  void it('fills every default for a minimal config', () => {
    const { config, warnings } = parseConfig(MINIMAL, {});
    assert.deepEqual(warnings, []);
    assert.deepEqual(config, {
      aggregator: { name: 'mcp-gateway', version: '1.0.0', separator: '_', connectTimeoutMs: 30_000, callTimeoutMs: 60_000 },
      backends: [
        { id: 'fs', name: 'fs', namespace: 'fs', transport: { type: 'stdio', command: 'mcp-filesystem', args: [], env: {}, envPolicy: 'additive' }, isolation: 'session', required: true, warm: 0 },
      ],
      logArguments: false,
      shutdownGraceMs: 10_000,
      maxMessageBytes: 16 * 1024 * 1024,
      maxConcurrentCalls: 64,
      maxSessions: 1000,
      zrokShare: { enabled: true, accessGrants: [], open: false },
      sessionIdleTimeoutMs: 30 * 60_000,
      resilience: { watchdogEnabled: true, pollIntervalMs: 10_000, zeroEstablishedGraceMs: 90_000, maxRebuildFailures: 5, heartbeatIntervalMs: 5 * 60_000 },
    });
  });

  void it('reads every optional key', () => {
    const { config, warnings } = parseConfig(
      `
aggregator: {name: gw, version: "2.0", separator: ".", connection: {connect_timeout: 1m30s, call_timeout: 500ms}}
share_token: abc123xyz
orchestrator: {heartbeat_interval: 10s}
log_file: /var/log/gw.log
max_sessions: 8
log_arguments: true
backends:
  - id: api
    namespace: ""
    isolation: shared
    required: false
    transport:
      type: https
      endpoint: https://mcp.example.com/mcp
      protocol: streamable
      headers: {Authorization: "Bearer \${API_TOKEN}"}
      tls: {ca_cert_file: /etc/ssl/ca.pem}
    resources: {list: ["file://*"]}
    prompts: {mode: deny, list: [debug_?]}
  - id: remote
    transport: {type: zrok, share_token: xyz789abc}
  - id: local
    transport: {type: http, endpoint: "http://localhost:8080/sse", allow_insecure: true}
`,
      { API_TOKEN: SECRET },
    );
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.aggregator, { name: 'gw', version: '2.0', separator: '.', connectTimeoutMs: 90_000, callTimeoutMs: 500 });
    assert.equal(config.shareToken, 'abc123xyz');
    assert.deepEqual(config.orchestrator, { socketPath: '/var/run/mcp-orchestrator/orchestrator.sock', heartbeatIntervalMs: 10_000 });
    assert.equal(config.logFile, '/var/log/gw.log');
    assert.equal(config.maxSessions, 8);
    assert.equal(config.logArguments, true);
    const [api, remote, local] = config.backends;
    assert.equal(api?.namespace, '');
    assert.equal(api?.isolation, 'shared');
    assert.equal(api?.required, false);
    assert.deepEqual(api?.transport, {
      type: 'https',
      endpoint: 'https://mcp.example.com/mcp',
      protocol: 'streamable',
      headers: { Authorization: `Bearer ${SECRET}` },
      allowInsecure: false,
      allowEnvironmentProxy: false,
      allowRedirects: false,
      tls: { caCertFile: '/etc/ssl/ca.pem', insecureSkipVerify: false },
    });
    assert.deepEqual(api?.resources, { mode: 'allow', list: ['file://*'] });
    assert.deepEqual(api?.prompts, { mode: 'deny', list: ['debug_?'] });
    assert.equal(api?.tools, undefined);
    assert.deepEqual(remote?.transport, { type: 'zrok', shareToken: 'xyz789abc' });
    assert.deepEqual(local?.transport, { type: 'http', endpoint: 'http://localhost:8080/sse', headers: {}, allowInsecure: true, allowEnvironmentProxy: false, allowRedirects: false });
  });

  void it('reads env_policy (default additive)', () => {
    const { config, warnings } = parseConfig(withTransport('{type: stdio, command: x, env_policy: closed, env: {A: b}}'), {});
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.backends[0]?.transport, { type: 'stdio', command: 'x', args: [], env: { A: 'b' }, envPolicy: 'closed' });
  });

  void it('reads the HTTP opt-ins (default off)', () => {
    const { config, warnings } = parseConfig(withTransport('{type: https, endpoint: "https://h/mcp", allow_environment_proxy: true, allow_redirects: true}'), {});
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.backends[0]?.transport, {
      type: 'https',
      endpoint: 'https://h/mcp',
      headers: {},
      allowInsecure: false,
      allowEnvironmentProxy: true,
      allowRedirects: true,
    });
  });

  void it('reads policy.paths', () => {
    const { config, warnings } = parseConfig(withTransport('{type: stdio, command: x}', `    policy:\n      paths:\n        - {tool: read_file, argument: path, roots: ["${EXISTING}", "/"]}\n`), {});
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.backends[0]?.policy, { paths: [{ tool: 'read_file', argument: 'path', roots: [EXISTING, '/'] }] });
  });

  void it('treats an empty mode with a list as allow', () => {
    const { config } = parseConfig(withTransport('{type: stdio, command: x}', '    tools: {mode: "", list: [a]}\n'), {});
    assert.deepEqual(config.backends[0]?.tools, { mode: 'allow', list: ['a'] });
  });

  void it('treats null values as absent, like Go', () => {
    const { config } = parseConfig(`aggregator:\nbackends:\n  - id: a\n    name:\n    transport: {type: stdio, command: x, env: }\n`, {});
    assert.equal(config.aggregator.separator, '_');
    assert.equal(config.backends[0]?.name, 'a');
  });
});

void describe('parseConfig: warnings', () => {
  const warningsOf = (yaml: string): readonly string[] => parseConfig(yaml, {}).warnings;

  void it('takes the resilience and zrok blocks of newer originals without a warning', () => {
    const warnings = warningsOf(`${MINIMAL}
resilience: {watchdog_enabled: true, poll_interval: 10s, zero_established_grace: 90s, max_rebuild_failures: 5, heartbeat_interval: 0}
zrok: {share: {enabled: true}}
`);
    assert.deepEqual(warnings, []);
  });

  void it('accepts a disabled agora block (the original default) with a warning naming Agora as unsupported', () => {
    const warnings = warningsOf(`${MINIMAL}agora: {enabled: false, instance_name: gw}\n`);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /^agora: Agora is not supported by this implementation.*disabled block is ignored$/);
  });

  void it('warns about an allow filter with an empty list', () => {
    const warnings = warningsOf(withTransport('{type: stdio, command: x}', '    tools: {mode: allow}\n'));
    assert.deepEqual(warnings, ['backends[0].tools: allow mode with an empty list exposes no tools']);
  });

  void it('warns about transport keys another type would use, and about skipping TLS verification', () => {
    const warnings = warningsOf(
      withTransport('{type: https, endpoint: "https://h/sse", command: x, tls: {insecure_skip_verify: true}}'),
    );
    assert.deepEqual(warnings, [
      'backends[0].transport.command: ignored for https transport',
      'backends[0].transport.tls.insecure_skip_verify: TLS certificate verification is disabled for this backend',
    ]);
  });
});

void describe('parseConfig: every problem has its path', () => {
  const cases: readonly { name: string; yaml: string; path: string; pattern: RegExp; env?: NodeJS.ProcessEnv }[] = [
    { name: 'no backends key', yaml: 'aggregator: {name: x}\n', path: 'backends', pattern: /at least one backend is required/ },
    { name: 'empty backends', yaml: 'backends: []\n', path: 'backends', pattern: /at least one backend is required/ },
    { name: 'missing id', yaml: 'backends:\n  - transport: {type: stdio, command: x}\n', path: 'backends[0].id', pattern: /is required/ },
    { name: 'bad id', yaml: withTransport('{type: stdio, command: x}').replace('id: b', 'id: "a b"'), path: 'backends[0].id', pattern: /letters, digits/ },
    { name: 'missing transport', yaml: 'backends:\n  - id: a\n', path: 'backends[0].transport', pattern: /is required/ },
    { name: 'missing type', yaml: withTransport('{command: x}'), path: 'backends[0].transport.type', pattern: /is required/ },
    { name: 'unknown type', yaml: withTransport('{type: ftp}'), path: 'backends[0].transport.type', pattern: /must be one of "stdio", "http", "https", "zrok"/ },
    { name: 'stdio without command', yaml: withTransport('{type: stdio}'), path: 'backends[0].transport.command', pattern: /is required for stdio transport/ },
    { name: 'stdio with empty command', yaml: withTransport('{type: stdio, command: ""}'), path: 'backends[0].transport.command', pattern: /is required/ },
    { name: 'https without endpoint', yaml: withTransport('{type: https}'), path: 'backends[0].transport.endpoint', pattern: /is required for https transport/ },
    { name: 'http without endpoint', yaml: withTransport('{type: http}'), path: 'backends[0].transport.endpoint', pattern: /is required for http transport/ },
    { name: 'zrok without share_token', yaml: withTransport('{type: zrok}'), path: 'backends[0].transport.share_token', pattern: /is required for zrok transport/ },
    { name: 'malformed share token', yaml: withTransport('{type: zrok, share_token: "Not/Valid"}'), path: 'backends[0].transport.share_token', pattern: /lowercase letters/ },
    { name: 'top-level share token', yaml: `${MINIMAL}share_token: "UPPER"\n`, path: 'share_token', pattern: /lowercase letters/ },
    { name: 'http endpoint without allow_insecure', yaml: withTransport('{type: http, endpoint: "http://h/sse"}'), path: 'backends[0].transport.allow_insecure', pattern: /must be true/ },
    { name: 'https type with http endpoint', yaml: withTransport('{type: https, endpoint: "http://h/sse"}'), path: 'backends[0].transport.endpoint', pattern: /must be an https:\/\/ URL/ },
    { name: 'tls on an http endpoint', yaml: withTransport('{type: http, endpoint: "http://h/sse", allow_insecure: true, tls: {}}'), path: 'backends[0].transport.tls', pattern: /only applies to https/ },
    { name: 'endpoint not a URL', yaml: withTransport('{type: https, endpoint: "mcp.example.com"}'), path: 'backends[0].transport.endpoint', pattern: /absolute http/ },
    { name: 'bad protocol', yaml: withTransport('{type: https, endpoint: "https://h", protocol: websocket}'), path: 'backends[0].transport.protocol', pattern: /"sse", "streamable"/ },
    { name: 'non-string header value', yaml: withTransport('{type: https, endpoint: "https://h", headers: {X-Retry: 3}}'), path: 'backends[0].transport.headers.X-Retry', pattern: /expected a string, got a number/ },
    { name: 'non-string env value', yaml: withTransport('{type: stdio, command: x, env: {DEBUG: true}}'), path: 'backends[0].transport.env.DEBUG', pattern: /expected a string, got a boolean/ },
    { name: 'unknown env_policy', yaml: withTransport('{type: stdio, command: x, env_policy: open}'), path: 'backends[0].transport.env_policy', pattern: /must be one of "additive", "closed"$/ },
    { name: 'protocol on stdio', yaml: withTransport('{type: stdio, command: x, protocol: sse}'), path: 'backends[0].transport.protocol', pattern: /does not apply to stdio transport/ },
    { name: 'proxy opt-in on stdio', yaml: withTransport('{type: stdio, command: x, allow_environment_proxy: true}'), path: 'backends[0].transport.allow_environment_proxy', pattern: /only to http and https/ },
    { name: 'redirect opt-in on zrok', yaml: withTransport('{type: zrok, share_token: abc123, allow_redirects: false}'), path: 'backends[0].transport.allow_redirects', pattern: /only to http and https/ },
    { name: 'redirect opt-in not a boolean', yaml: withTransport('{type: https, endpoint: "https://h", allow_redirects: "yes"}'), path: 'backends[0].transport.allow_redirects', pattern: /true or false/ },
    { name: 'policy on a non-stdio backend', yaml: withTransport('{type: zrok, share_token: abc123}', `    policy: {paths: [{tool: t, argument: a, roots: ["${EXISTING}"]}]}\n`), path: 'backends[0].policy', pattern: /requires a stdio backend/ },
    { name: 'policy rule without tool', yaml: withTransport('{type: stdio, command: x}', `    policy: {paths: [{argument: a, roots: ["${EXISTING}"]}]}\n`), path: 'backends[0].policy.paths[0].tool', pattern: /is required/ },
    { name: 'policy argument with spaces', yaml: withTransport('{type: stdio, command: x}', `    policy: {paths: [{tool: t, argument: " a", roots: ["${EXISTING}"]}]}\n`), path: 'backends[0].policy.paths[0].argument', pattern: /surrounding whitespace/ },
    { name: 'policy rule without roots', yaml: withTransport('{type: stdio, command: x}', '    policy: {paths: [{tool: t, argument: a, roots: []}]}\n'), path: 'backends[0].policy.paths[0].roots', pattern: /at least one root/ },
    { name: 'relative policy root', yaml: withTransport('{type: stdio, command: x}', '    policy: {paths: [{tool: t, argument: a, roots: [project]}]}\n'), path: 'backends[0].policy.paths[0].roots[0]', pattern: /must be an absolute path/ },
    { name: 'unclean policy root', yaml: withTransport('{type: stdio, command: x}', `    policy: {paths: [{tool: t, argument: a, roots: ["${EXISTING}/./"]}]}\n`), path: 'backends[0].policy.paths[0].roots[0]', pattern: /must be clean/ },
    { name: 'missing policy root', yaml: withTransport('{type: stdio, command: x}', `    policy: {paths: [{tool: t, argument: a, roots: ["${EXISTING}/no-such-dir"]}]}\n`), path: 'backends[0].policy.paths[0].roots[0]', pattern: /existing directory \(ENOENT\)/ },
    { name: 'duplicate policy root', yaml: withTransport('{type: stdio, command: x}', `    policy: {paths: [{tool: t, argument: a, roots: ["${EXISTING}", "${EXISTING}"]}]}\n`), path: 'backends[0].policy.paths[0].roots[1]', pattern: /duplicate root/ },
    { name: 'duplicate policy rule', yaml: withTransport('{type: stdio, command: x}', `    policy: {paths: [{tool: t, argument: a, roots: ["${EXISTING}"]}, {tool: t, argument: a, roots: ["${EXISTING}"]}]}\n`), path: 'backends[0].policy.paths[1]', pattern: /duplicate rule for tool "t" argument "a"/ },
    { name: 'unknown policy key', yaml: withTransport('{type: stdio, command: x}', '    policy: {commands: []}\n'), path: 'backends[0].policy.commands', pattern: /unknown key/ },
    { name: 'bad filter mode', yaml: withTransport('{type: stdio, command: x}', '    tools: {mode: block, list: [a]}\n'), path: 'backends[0].tools.mode', pattern: /must be one of "allow", "deny"$/ },
    { name: 'empty filter entry', yaml: withTransport('{type: stdio, command: x}', '    prompts: {list: [a, ""]}\n'), path: 'backends[0].prompts.list[1]', pattern: /must not be empty/ },
    { name: 'bad isolation', yaml: withTransport('{type: stdio, command: x}', '    isolation: global\n'), path: 'backends[0].isolation', pattern: /"session", "shared"/ },
    { name: 'bad namespace', yaml: withTransport('{type: stdio, command: x}', '    namespace: "a/b"\n'), path: 'backends[0].namespace', pattern: /may only contain/ },
    { name: 'required not a boolean', yaml: withTransport('{type: stdio, command: x}', '    required: "yes"\n'), path: 'backends[0].required', pattern: /expected true or false, got a string/ },
    { name: 'empty separator', yaml: `${MINIMAL}aggregator: {separator: ""}\n`, path: 'aggregator.separator', pattern: /must not be empty/ },
    { name: 'bare-number timeout', yaml: `${MINIMAL}aggregator: {connection: {call_timeout: 60}}\n`, path: 'aggregator.connection.call_timeout', pattern: /duration string such as "60s"/ },
    { name: 'unitless timeout string', yaml: `${MINIMAL}aggregator: {connection: {call_timeout: "60"}}\n`, path: 'aggregator.connection.call_timeout', pattern: /no unit \(did you mean "60s"\?\)/ },
    { name: 'zero timeout', yaml: `${MINIMAL}aggregator: {connection: {connect_timeout: 0s}}\n`, path: 'aggregator.connection.connect_timeout', pattern: /greater than 0/ },
    { name: 'negative heartbeat', yaml: `${MINIMAL}orchestrator: {heartbeat_interval: -5s}\n`, path: 'orchestrator.heartbeat_interval', pattern: /greater than 0/ },
    { name: 'timeout beyond a timer', yaml: `${MINIMAL}aggregator: {connection: {call_timeout: 1000h}}\n`, path: 'aggregator.connection.call_timeout', pattern: /at most 596h/ },
    { name: 'max_sessions zero', yaml: `${MINIMAL}max_sessions: 0\n`, path: 'max_sessions', pattern: /greater than 0/ },
    { name: 'max_sessions fraction', yaml: `${MINIMAL}max_sessions: 1.5\n`, path: 'max_sessions', pattern: /whole number/ },
    { name: 'log_arguments a string', yaml: `${MINIMAL}log_arguments: "on"\n`, path: 'log_arguments', pattern: /true or false/ },
    { name: 'top level not a mapping', yaml: '- a\n- b\n', path: '(top level)', pattern: /expected a mapping, got a list/ },
    { name: 'empty file', yaml: '# nothing\n', path: '(top level)', pattern: /empty/ },
    { name: 'unterminated reference', yaml: `${MINIMAL}log_file: "\${LOG"\n`, path: 'log_file', pattern: /unterminated/ },
    { name: 'unknown top-level key', yaml: `${MINIMAL}carrier_pigeon: {enabled: true}\n`, path: 'carrier_pigeon', pattern: /unknown key \(known keys here: aggregator, backends/ },
    { name: 'agora enabled', yaml: `${MINIMAL}agora: {enabled: true, serve: {enabled: true, tunnel: gw}}\n`, path: 'agora.enabled', pattern: /^agora\.enabled: Agora is not supported by this implementation/ },
    { name: 'agora backend', yaml: withTransport('{type: agora, agora_tunnel: filesystem-relay}'), path: 'backends[0].transport.type', pattern: /: Agora is not supported by this implementation \(/ },
  ];
  for (const { name, yaml, path, pattern, env } of cases) {
    void it(name, () => assertProblem(problemsOf(yaml, env), path, pattern));
  }

  void it('names both indexes of a duplicate id', () => {
    const err = problemsOf(`backends:
  - {id: a, transport: {type: stdio, command: x}}
  - {id: b, transport: {type: stdio, command: x}}
  - {id: a, transport: {type: stdio, command: x}}
`);
    assert.deepEqual(err.problems, ['backends[2].id: duplicate backend id "a" (also backends[0].id)']);
  });

  void it('takes warm on a stdio session backend and refuses it elsewhere', () => {
    assert.equal(parseConfig('backends:\n  - {id: a, warm: 2, transport: {type: stdio, command: x}}\n', {}).config.backends[0]?.warm, 2);
    const err = problemsOf(`backends:
  - {id: a, warm: 1, isolation: shared, transport: {type: stdio, command: x}}
  - {id: b, warm: 1, transport: {type: http, endpoint: "http://127.0.0.1:1/mcp", allow_insecure: true}}
  - {id: c, warm: 99, transport: {type: stdio, command: x}}
`);
    assert.equal(err.problems.filter((p) => /^backends\[[01]\]\.warm: only applies to stdio backends with isolation: session/.test(p)).length, 2, err.problems.join('\n'));
    assert.ok(err.problems.some((p) => p.startsWith('backends[2].warm:')), err.problems.join('\n'));
  });

  void it('suggests the closest known key', () => {
    const err = problemsOf(`aggregator: {conection: {}}
backends:
  - id: a
    isolaton: shared
    transport: {type: stdio, comand: x, workingDir: /tmp}
    tools: {mode: allow, lst: [a]}
`);
    assertProblem(err, 'aggregator.conection', /^[^:]+: unknown key \(did you mean "connection"\?\)$/);
    assertProblem(err, 'backends[0].isolaton', /did you mean "isolation"/);
    assertProblem(err, 'backends[0].transport.comand', /did you mean "command"/);
    assertProblem(err, 'backends[0].transport.workingDir', /did you mean "working_dir"/);
    assertProblem(err, 'backends[0].tools.lst', /did you mean "list"/);
  });

  void it('reports every problem at once, in file order', () => {
    const err = problemsOf(`aggregator:
  separator: ""
  connection: {call_timeout: 60}
backends:
  - id: one
    transport: {type: stdio}
  - id: one
    transport: {type: https, endpoint: "http://x", tls: {ca_cert_file: 5}}
    tools: {mode: maybe}
  - id: three
    transport: {type: stdio, command: "\${MISSING}"}
`);
    assert.deepEqual(err.problems, [
      'aggregator.separator: must not be empty',
      'aggregator.connection.call_timeout: must be a duration string such as "60s" (a bare number has no unit)',
      'backends[0].transport.command: is required for stdio transport',
      'backends[1].id: duplicate backend id "one" (also backends[0].id)',
      'backends[1].transport.endpoint: must be an https:// URL for https transport (plain http needs type: http and allow_insecure: true)',
      'backends[1].transport.tls.ca_cert_file: expected a string, got a number',
      'backends[1].tools.mode: must be one of "allow", "deny"',
      'backends[2].transport.command: environment variable MISSING is not set (use ${MISSING:-default} for a fallback)',
    ]);
  });

  void it('names line and column of YAML syntax errors', () => {
    const err = problemsOf(`backends:\n  - id: a\n    transport: {type: stdio, command: x\n`);
    assert.match(err.problems[0] ?? '', /^line \d+, column \d+: /);
    const dup = problemsOf(`${MINIMAL}log_file: a\nlog_file: b\n`);
    assert.match(dup.problems[0] ?? '', /^line 6, column 1: Map keys must be unique/);
  });

  void it('never echoes env or header values', () => {
    const err = problemsOf(
      withTransport(`{type: http, endpoint: "http://user:${SECRET}@h/sse", headers: {Authorization: ${SECRET}, X: [1]}}`),
    );
    assert.ok(err.problems.length >= 2);
    assert.ok(!err.message.includes(SECRET), err.message);
    const yamlErr = problemsOf(`backends:\n  - id: a\n    env: {K: "${SECRET}" trailing}\n`);
    assert.ok(!yamlErr.message.includes(SECRET), yamlErr.message);
  });
});

void describe('expandString', () => {
  const env = { HOME: '/home/u', EMPTY: '', TOKEN: SECRET };
  const table: readonly [string, string][] = [
    ['plain', 'plain'], ['${HOME}/docs', '/home/u/docs'], ['${UNSET:-fallback}', 'fallback'],
    ['${EMPTY:-fallback}', 'fallback'], ['${EMPTY}', ''], ['${HOME:-x}', '/home/u'], ['${UNSET:-}', ''],
    ['$HOME and pa$$word', '$HOME and pa$$word'], ['$${HOME}', '${HOME}'], ['a${HOME}b${TOKEN}', `a/home/ub${SECRET}`],
  ];
  for (const [input, expected] of table) {
    void it(`${input} → ${JSON.stringify(expected)}`, () => assert.deepEqual(expandString(input, env), { value: expected }));
  }

  void it('rejects bad references without echoing values', () => {
    for (const input of ['${', '${1A}', '${}', '${A:-${B}}', '${NOPE}']) {
      const result = expandString(input, env);
      assert.ok('error' in result, input);
    }
  });

  void it('applies ${VAR:-default} throughout a config, but not to keys', () => {
    const { config } = parseConfig(
      `backends:\n  - id: "\${ID:-fs}"\n    transport: {type: stdio, command: "\${CMD:-node}", env: {"\${KEY}": v}}\n`,
      { CMD: 'deno' },
    );
    assert.equal(config.backends[0]?.id, 'fs');
    const transport = config.backends[0]?.transport;
    assert.ok(transport?.type === 'stdio');
    assert.equal(transport.command, 'deno');
    assert.deepEqual(transport.env, { '${KEY}': 'v' });
  });
});

void describe('parseDuration', () => {
  const valid: readonly [string, number][] = [
    ['500ms', 500], ['30s', 30_000], ['2m', 120_000], ['1h', 3_600_000], ['1m30s', 90_000],
    ['1h2m3s4ms', 3_723_004], ['1.5s', 1500], ['0.1s', 100], ['.5m', 30_000], ['250us', 0.25],
    ['250µs', 0.25], ['1000000ns', 1], ['0', 0], ['-1s', -1000], ['+2s', 2000],
  ];
  for (const [text, ms] of valid) void it(`${text} = ${ms}ms`, () => assert.equal(parseDuration(text), ms));

  const invalid: readonly [string, RegExp][] = [
    ['', /empty/], ['30', /no unit \(did you mean "30s"\?\)/], ['1.5', /no unit/], ['30x', /unknown unit "x"/],
    ['s', /not a duration/], ['1m30', /missing a unit/], ['30 s', /unknown unit/], ['1.2.3s', /not a duration/],
    ['9999999999h', /too large/],
  ];
  for (const [text, pattern] of invalid) {
    void it(`rejects ${JSON.stringify(text)}`, () => {
      assert.throws(() => parseDuration(text), (err: unknown) => isGatewayError(err, 'CONFIG_INVALID') && pattern.test(err.message));
    });
  }

  void it('formats like Go', () => {
    assert.equal(formatDuration(90_000), '1m30s');
    assert.equal(formatDuration(500), '500ms');
    assert.equal(formatDuration(3_600_000), '1h0m0s');
    assert.equal(formatDuration(1500), '1.5s');
  });
});

void describe('loadConfig: files', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcpgw-config-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  void it('labels problems with the file path', async () => {
    const file = join(dir, 'bad.yml');
    await writeFile(file, 'backends: []\n');
    await assert.rejects(loadConfig(file, {}), {
      message: `${file}: invalid configuration: backends: at least one backend is required`,
    });
  });

  void it('reports a directory as unreadable', async () => {
    await assert.rejects(loadConfig(dir, {}), { message: `cannot read config file ${dir}: EISDIR` });
  });
});
