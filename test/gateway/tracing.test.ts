// OpenTelemetry: spans for forwarded requests, exported over OTLP/HTTP to a receiver of the test's
// own, with the client's W3C trace context continued and passed on to the backend.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connectThroughTools, waitFor, type RunningShare } from '../helpers/cli.js';
import { text } from '../helpers/mcp.js';
import { ShareHome, dynamicBackend } from '../helpers/share-home.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: { stringValue?: string } }[];
}

/** An OTLP/HTTP (JSON) receiver on loopback that keeps every span it is sent. */
async function otlpReceiver(): Promise<{ server: Server; url: string; spans: OtlpSpan[] }> {
  const spans: OtlpSpan[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      if (request.url === '/v1/traces') {
        const parsed = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
        for (const rs of parsed.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans };
}

const attribute = (span: OtlpSpan, key: string): string | undefined => span.attributes.find((a) => a.key === key)?.value.stringValue;

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';

describe('mcp-gateway traces', () => {
  let home: ShareHome;
  let receiver: Awaited<ReturnType<typeof otlpReceiver>>;
  let gateway: RunningShare;

  before(async () => {
    home = await ShareHome.create('traces');
    receiver = await otlpReceiver();
    gateway = await home.startGateway(`backends:\n${dynamicBackend('dyn')}`, {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '50' },
    });
  });

  after(async () => {
    await home.cleanup();
    receiver.server.close();
  });

  it('exports a server and a client span per forwarded call, in the client’s trace, without arguments', async () => {
    const { client } = await connectThroughTools(gateway.token, home.env);
    try {
      const traceparent = `00-${TRACE_ID}-${CLIENT_SPAN}-01`;
      const seen = JSON.parse(text(await client.callTool({ name: 'dyn_meta', arguments: {}, _meta: { traceparent } }))) as { traceparent?: string };
      await client.callTool({ name: 'dyn_echo', arguments: { text: 'SECRET-ARGUMENT' } });
      await waitFor(() => receiver.spans.filter((s) => s.name === 'tools/call dyn_meta').length === 2, 10_000, 'the spans of the call');
      const server = receiver.spans.find((s) => s.name === 'tools/call dyn_meta' && s.kind === 2) as OtlpSpan;
      const backend = receiver.spans.find((s) => s.name === 'tools/call dyn_meta' && s.kind === 3) as OtlpSpan;
      assert.equal(server.traceId, TRACE_ID);
      assert.equal(server.parentSpanId, CLIENT_SPAN, 'the client’s span is the parent');
      assert.equal(backend.parentSpanId, server.spanId);
      assert.equal(attribute(server, 'mcp.method.name'), 'tools/call');
      assert.equal(attribute(server, 'gen_ai.tool.name'), 'dyn_meta');
      assert.equal(attribute(server, 'mcp_gateway.backend'), 'dyn');
      assert.ok(attribute(server, 'mcp.session.id'));
      // The backend continues the trace from the gateway's client span.
      assert.equal(seen.traceparent, `00-${TRACE_ID}-${backend.spanId}-01`);
      await waitFor(() => receiver.spans.some((s) => s.name === 'tools/call dyn_echo'), 10_000, 'the second call’s spans');
      assert.ok(!JSON.stringify(receiver.spans).includes('SECRET-ARGUMENT'), 'arguments never reach a span');
    } finally {
      await client.close();
    }
  });

  it('starts a trace of its own for a client that sent none', async () => {
    const { client } = await connectThroughTools(gateway.token, home.env);
    try {
      const seen = JSON.parse(text(await client.callTool({ name: 'dyn_meta', arguments: {} }))) as { traceparent?: string };
      assert.match(seen.traceparent ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
      assert.notEqual(seen.traceparent?.slice(3, 35), TRACE_ID);
    } finally {
      await client.close();
    }
  });
});

describe('mcp-gateway without OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  let home: ShareHome;

  before(async () => {
    home = await ShareHome.create('no-traces');
  });

  after(() => home.cleanup());

  it('passes the client’s trace context to the backend untouched', async () => {
    const gateway = await home.startGateway(`backends:\n${dynamicBackend('dyn')}`);
    const { client } = await connectThroughTools(gateway.token, home.env);
    try {
      const traceparent = `00-${TRACE_ID}-${CLIENT_SPAN}-01`;
      const seen = JSON.parse(text(await client.callTool({ name: 'dyn_meta', arguments: {}, _meta: { traceparent } }))) as { traceparent?: string };
      assert.equal(seen.traceparent, traceparent);
    } finally {
      await client.close();
    }
  });
});
