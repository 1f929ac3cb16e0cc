import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type TextMapGetter, type TextMapSetter, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';

/** What a forwarded request is, for its spans: never its arguments. */
export interface TracedCall {
  method: string;
  /** The tool or prompt name the client used, or the resource URI. */
  target: string | undefined;
  session: string;
  backend: string;
  requestId: string | number;
  /** The client's `_meta`, which may carry `traceparent` / `tracestate` (W3C trace context). */
  meta: Record<string, unknown> | undefined;
}

/** The spans of one forwarded request: the client's request, and our call to the backend. */
export interface CallTrace {
  /** `traceparent` (and `tracestate`) of the backend call, for the backend request's `_meta`. */
  readonly carrier: Record<string, string>;
  /** Ends both spans; `outcome` as in the call log (`ok`, `error`, `tool_error`, `cancelled` or why it failed). */
  end(outcome: string): void;
}

const getter: TextMapGetter<Record<string, unknown>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => (typeof carrier[key] === 'string' ? carrier[key] : undefined),
};
const setter: TextMapSetter<Record<string, string>> = { set: (carrier, key, value) => void (carrier[key] = value) };

/**
 * OpenTelemetry spans for forwarded requests, exported over OTLP/HTTP to where the standard
 * `OTEL_EXPORTER_OTLP_*` variables say. Trace context comes from the client's `_meta`
 * (`traceparent`/`tracestate`, as MCP 2026-07-28 carries it) and goes on in the backend
 * request's `_meta`. Loaded only when the environment asks for it (the CLI checks): the packages
 * cost start-up time.
 */
export class Tracing {
  readonly #provider: TracerProvider;
  readonly #tracer: Tracer;
  readonly #propagator = new W3CTraceContextPropagator();

  constructor(serviceName: string, version: string) {
    this.#provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': process.env['OTEL_SERVICE_NAME'] ?? serviceName, 'service.version': version }),
      // The exporter reads OTEL_EXPORTER_OTLP_*; this SDK no longer reads OTEL_BSP_*, so we do.
      spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter(), ...batchOptionsFromEnv(process.env) })],
    });
    this.#tracer = this.#provider.getTracer('mcp-gateway', version);
  }

  /** Starts the spans of a request forwarded to a backend. */
  call(call: TracedCall): CallTrace {
    const parent = call.meta === undefined ? ROOT_CONTEXT : this.#propagator.extract(ROOT_CONTEXT, call.meta, getter);
    const name = call.target === undefined ? call.method : `${call.method} ${call.target}`;
    const attributes: Record<string, string> = {
      'mcp.method.name': call.method,
      'mcp.session.id': call.session,
      'jsonrpc.request.id': String(call.requestId),
      'mcp_gateway.backend': call.backend,
    };
    if (call.target !== undefined) attributes[targetAttribute(call.method)] = call.target;
    const server = this.#tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
    const serverContext: Context = trace.setSpan(parent, server);
    const client = this.#tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes: { 'mcp.method.name': call.method, 'mcp_gateway.backend': call.backend } }, serverContext);
    const carrier: Record<string, string> = {};
    this.#propagator.inject(trace.setSpan(serverContext, client), carrier, setter);
    return {
      carrier,
      end: (outcome) => {
        for (const span of [client, server]) finish(span, outcome);
      },
    };
  }

  /** Exports what is still buffered. */
  shutdown(): Promise<void> {
    return this.#provider.shutdown();
  }
}

/** The standard `OTEL_BSP_*` settings of the batch processor that are set to whole numbers. */
function batchOptionsFromEnv(env: NodeJS.ProcessEnv): Record<string, number> {
  const keys = { OTEL_BSP_SCHEDULE_DELAY: 'scheduledDelayMillis', OTEL_BSP_MAX_QUEUE_SIZE: 'maxQueueSize', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: 'maxExportBatchSize', OTEL_BSP_EXPORT_TIMEOUT: 'exportTimeoutMillis' };
  const options: Record<string, number> = {};
  for (const [name, option] of Object.entries(keys)) {
    const value = Number(env[name]);
    if (env[name] !== undefined && Number.isInteger(value) && value > 0) options[option] = value;
  }
  return options;
}

function targetAttribute(method: string): string {
  if (method === 'tools/call') return 'gen_ai.tool.name';
  if (method === 'prompts/get') return 'gen_ai.prompt.name';
  return 'mcp.resource.uri';
}

function finish(span: Span, outcome: string): void {
  if (outcome !== 'ok' && outcome !== 'cancelled') {
    // A tool error is the tool's answer, still an error to whoever watches the trace.
    span.setAttribute('error.type', outcome === 'error' || outcome === 'tool_error' ? outcome : 'gateway_error');
    span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
  }
  span.end();
}
