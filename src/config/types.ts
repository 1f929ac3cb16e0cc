/** The validated, frozen gateway configuration. Durations are in milliseconds. */
export interface GatewayConfig {
  readonly aggregator: AggregatorConfig;
  readonly backends: readonly BackendConfig[];
  /** Serve an existing (persistent) share under this token. */
  readonly shareToken?: string;
  readonly orchestrator?: OrchestratorConfig;
  /** JSON logs go to this file (managed mode). */
  readonly logFile?: string;
  /** The admin listener (/metrics, /healthz, /readyz, /status); off when absent. */
  readonly metrics?: { readonly bind: string; readonly allowRemote: boolean };
  /** Refuse client sessions beyond this many (default 1000). */
  readonly maxSessions: number;
  /** Log tool-call arguments (truncated); off by default because they carry secrets. */
  readonly logArguments: boolean;
  /** On SIGINT/SIGTERM, how long in-flight calls may take to finish. */
  readonly shutdownGraceMs: number;
  /** Largest JSON-RPC message accepted from a client, in bytes. */
  readonly maxMessageBytes: number;
  /** Requests one session may have in flight at once. */
  readonly maxConcurrentCalls: number;
  /** `zrok.share`: how the gateway's own zrok share admits accounts. */
  readonly zrokShare: ZrokShareConfig;
  /** A client session with nothing in flight and no message either way for this long is closed; 0: never. */
  readonly sessionIdleTimeoutMs: number;
  /** `resilience:`: the share listener watchdog and the `gateway alive` heartbeat. */
  readonly resilience: ResilienceConfig;
}

/** `zrok.share:` — serving on zrok, and who may reach a share the gateway creates. */
export interface ZrokShareConfig {
  /** false: never serve on zrok (the local share only). */
  readonly enabled: boolean;
  /** zrok accounts (emails) admitted besides the owner; a closed share admits only these. */
  readonly accessGrants: readonly string[];
  /** Open permission mode: any zrok account holding the token gets in. Off unless asked for. */
  readonly open: boolean;
}

/** `resilience:` — rebuild a lost share listener on the same token; log a heartbeat. */
export interface ResilienceConfig {
  readonly watchdogEnabled: boolean;
  /** How often the listener's health is checked (and the base of the rebuild backoff). */
  readonly pollIntervalMs: number;
  /** How long a listener may report no established terminator before it counts as lost. */
  readonly zeroEstablishedGraceMs: number;
  /** Consecutive failed rebuilds before a standalone gateway exits (a managed one reports failed). */
  readonly maxRebuildFailures: number;
  /** How often `gateway alive` is logged; 0: never. */
  readonly heartbeatIntervalMs: number;
}

/** `aggregator:` — what clients see of the gateway itself. */
export interface AggregatorConfig {
  readonly name: string;
  readonly version: string;
  /** Between namespace and name; default "_". */
  readonly separator: string;
  readonly connectTimeoutMs: number;
  readonly callTimeoutMs: number;
}

/** `orchestrator:` — managed mode. */
export interface OrchestratorConfig {
  readonly socketPath: string;
  readonly heartbeatIntervalMs: number;
}

/** One glob filter: `mode` allow or deny over `list`. */
export interface FilterConfig {
  readonly mode: 'allow' | 'deny';
  readonly list: readonly string[];
}

/** How to reach a backend. */
export type TransportConfig = StdioTransportConfig | HttpTransportConfig | ZrokTransportConfig;

/** `type: stdio` */
export interface StdioTransportConfig {
  readonly type: 'stdio';
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** `additive` (also when absent): env over the gateway's environment; `closed`: env is the whole environment. */
  readonly envPolicy?: 'additive' | 'closed';
  readonly workingDir?: string;
}

/** `type: http` or `type: https` */
export interface HttpTransportConfig {
  readonly type: 'http' | 'https';
  readonly endpoint: string;
  /** Absent: streamable HTTP (`sse` for a legacy endpoint). */
  readonly protocol?: 'sse' | 'streamable';
  readonly headers: Readonly<Record<string, string>>;
  readonly allowInsecure: boolean;
  /** Reach the endpoint through HTTP_PROXY/HTTPS_PROXY (NO_PROXY honoured); default false. */
  readonly allowEnvironmentProxy?: boolean;
  /** Follow HTTP redirects; default false (a redirect fails the request). */
  readonly allowRedirects?: boolean;
  readonly tls?: { readonly caCertFile?: string; readonly insecureSkipVerify: boolean };
}

/** `type: zrok` — another bridge or gateway, dialled through the share layer. */
export interface ZrokTransportConfig {
  readonly type: 'zrok';
  readonly shareToken: string;
}

/** One `backends[]` entry. */
export interface BackendConfig {
  readonly id: string;
  /** Human-readable; defaults to the id. */
  readonly name: string;
  /** Prefix of exposed names; defaults to the id; "" exposes names unchanged. */
  readonly namespace: string;
  readonly transport: TransportConfig;
  readonly tools?: FilterConfig;
  readonly resources?: FilterConfig;
  readonly prompts?: FilterConfig;
  /** `session`: one connection per client session (started lazily); `shared`: one for all. */
  readonly isolation: 'session' | 'shared';
  /** false: start without it and retry in the background. */
  readonly required: boolean;
  /**
   * Processes kept started ahead of the sessions that will use them (stdio, isolation: session):
   * a new session's first call then skips the server's start-up. Each is initialized only when
   * a session takes it, with that client's own initialize. 0: none.
   */
  readonly warm: number;
  /** `policy:` — argument-aware rules checked before a tool call is forwarded (stdio backends). */
  readonly policy?: PolicyConfig;
}

/** `policy:` of a backend. */
export interface PolicyConfig {
  readonly paths: readonly PathRuleConfig[];
}

/** One `policy.paths` rule: `argument` of `tool` (the backend's own name) must lie within a root. */
export interface PathRuleConfig {
  readonly tool: string;
  readonly argument: string;
  /** Clean absolute paths of existing directories. */
  readonly roots: readonly string[];
}
