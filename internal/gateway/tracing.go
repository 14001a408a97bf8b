package gateway

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/edgegate/edgegate/internal/config"
	"github.com/edgegate/edgegate/internal/script"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// tracer is the gateway's OpenTelemetry plumbing. It is nil when tracing is
// off, and every use checks for that, so a gateway without tracing pays one
// nil check per stage and nothing else.
type tracer struct {
	provider *sdktrace.TracerProvider
	t        trace.Tracer
	prop     propagation.TextMapPropagator
}

// traceHeaders are the W3C trace context headers: accepted only from
// trusted proxies, always replaced toward the origin.
var traceHeaders = [...]string{"Traceparent", "Tracestate"}

func newTracer(cfg config.Tracing) (*tracer, error) {
	if cfg.Endpoint == "" {
		return nil, nil
	}
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(cfg.Endpoint))
	if err != nil {
		return nil, fmt.Errorf("tracing.endpoint: %w", err)
	}
	res := sdkresource.NewSchemaless(semconv.ServiceName(cfg.ServiceName))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		// A trusted parent's decision is kept; new traces are sampled at the ratio.
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	return &tracer{
		provider: tp,
		t:        tp.Tracer("github.com/edgegate/edgegate"),
		prop:     propagation.TraceContext{},
	}, nil
}

func (tr *tracer) shutdown() {
	if tr == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = tr.provider.Shutdown(ctx)
}

// startRequest opens the request's server span. The client's trace context
// is taken only from a trusted proxy; anyone else starts a new trace.
func (tr *tracer) startRequest(r *http.Request, trusted bool) (context.Context, trace.Span) {
	ctx := r.Context()
	if trusted {
		ctx = tr.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	return tr.t.Start(ctx, "edgegate.request", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method)))
}

// stage opens a child span for one pipeline stage; end it with endStage.
func (tr *tracer) stage(ctx context.Context, name string) (context.Context, trace.Span) {
	if tr == nil {
		return ctx, nil
	}
	return tr.t.Start(ctx, name)
}

// scriptSpanNames are the span names of the edge-script handlers, such
// as "edgegate.script.onClientRequest": one span per handler run.
var scriptSpanNames = func() (n [script.NumHandlers]string) {
	for h := range script.NumHandlers {
		n[h] = "edgegate.script." + h.String()
	}
	return n
}()

// cacheSpanName is the span of the cache: the lookup and, on a miss, the
// origin fetch and the store, with the cache status as an attribute.
const cacheSpanName = "edgegate.cache"

func endStage(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		// The reason code only: causes can hold request data.
		span.SetStatus(codes.Error, errorCode(err))
	}
	span.End()
}

// endCacheSpan ends the cache span with the request's cache status
// (hit, miss, stale, ...; the access log's cache_status).
func endCacheSpan(span trace.Span, status string, err error) {
	if span == nil {
		return
	}
	span.SetAttributes(attribute.String("edgegate.cache.status", status))
	endStage(span, err)
}

// inject writes the current span's context into the outbound header.
func (tr *tracer) inject(ctx context.Context, h http.Header) {
	for _, k := range traceHeaders {
		delete(h, k)
	}
	if tr != nil {
		tr.prop.Inject(ctx, propagation.HeaderCarrier(h))
	}
}
