/**
 * The two MCP eras on a backend connection. 2025 (`legacy`): `initialize`, then a session.
 * 2026-07-28 (`modern`): no handshake; `server/discover` tells what the server offers and every
 * request carries who the client is in its `_meta` envelope. Wire names only, no SDK: the
 * gateway routes raw JSON-RPC.
 */

/** Which protocol era a connection speaks. */
export type Era = 'legacy' | 'modern';

/** The one modern revision we speak. */
export const MODERN_PROTOCOL_VERSION = '2026-07-28';

/** `_meta` keys of 2026-07-28: the per-request envelope, and what servers answer with. */
export const META = {
  protocolVersion: 'io.modelcontextprotocol/protocolVersion',
  clientCapabilities: 'io.modelcontextprotocol/clientCapabilities',
  clientInfo: 'io.modelcontextprotocol/clientInfo',
  logLevel: 'io.modelcontextprotocol/logLevel',
  serverInfo: 'io.modelcontextprotocol/serverInfo',
  subscriptionId: 'io.modelcontextprotocol/subscriptionId',
} as const;

/** The client capabilities 2026-07-28 knows; 2025-only ones (`tasks`) stay out of the envelope. */
const MODERN_CLIENT_CAPABILITIES = ['experimental', 'sampling', 'elicitation', 'roots', 'extensions'] as const;

/** Who the client is, as a 2025 client said in `initialize` (its `capabilities` and `clientInfo`). */
export interface ClientIdentity {
  capabilities?: unknown;
  clientInfo?: unknown;
}

/** Envelopes already built, by client: a shared backend's calls come from a few clients, many times. */
const built = new WeakMap<ClientIdentity, Record<string, unknown>>();

/** The `_meta` envelope a modern server needs on every request, for this client. */
export function envelopeFor(client: ClientIdentity): Record<string, unknown> {
  let envelope = built.get(client);
  if (envelope === undefined) {
    envelope = buildEnvelope(client);
    built.set(client, envelope);
  }
  return envelope;
}

function buildEnvelope(client: ClientIdentity): Record<string, unknown> {
  const declared = (client.capabilities ?? {}) as Record<string, unknown>;
  const capabilities: Record<string, unknown> = {};
  for (const key of MODERN_CLIENT_CAPABILITIES) if (declared[key] !== undefined) capabilities[key] = declared[key];
  return {
    [META.protocolVersion]: MODERN_PROTOCOL_VERSION,
    [META.clientCapabilities]: capabilities,
    ...(client.clientInfo === undefined ? {} : { [META.clientInfo]: client.clientInfo }),
  };
}

/**
 * A `server/discover` result as the `initialize` result the rest of the gateway reads
 * (capabilities, serverInfo, instructions); undefined unless the server offers our revision.
 */
export function discoveredAsInitialized(result: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const versions = result?.['supportedVersions'];
  if (result === undefined || !Array.isArray(versions) || !versions.includes(MODERN_PROTOCOL_VERSION)) return undefined;
  const serverInfo = (result['_meta'] as Record<string, unknown> | undefined)?.[META.serverInfo];
  // A modern server's `subscribe` means subscriptions/listen: the gateway's connection turns a
  // 2025 client's resources/subscribe into one (src/mcp/listen.ts).
  const capabilities = { ...(result['capabilities'] as Record<string, unknown> | undefined) };
  return {
    protocolVersion: MODERN_PROTOCOL_VERSION,
    capabilities,
    ...(serverInfo === undefined ? {} : { serverInfo }),
    ...(typeof result['instructions'] === 'string' ? { instructions: result['instructions'] } : {}),
  };
}

/** True when an `initialize` was refused as an unsupported version by a server that offers ours. */
export function refusedForModern(error: { code: number; data?: unknown } | undefined): boolean {
  const supported = (error?.data as { supported?: unknown } | undefined)?.supported;
  return error?.code === -32022 && Array.isArray(supported) && supported.includes(MODERN_PROTOCOL_VERSION);
}
