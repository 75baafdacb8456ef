// Package tracing sets up OpenTelemetry: spans for HTTP requests, GraphQL
// operations and fields, loader batches, Redis and SQL, exported with OTLP
// over HTTP when OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set.
// Without it nothing is instrumented: tracing off costs nothing.
package tracing

import (
	"context"
	"fmt"
	"os"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// ServiceName names the gateway's spans' service.
const ServiceName = "authz-gateway"

// Configured reports whether the environment asks for export.
func Configured(getenv func(string) string) bool {
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// FromEnv returns a provider exporting with OTLP/HTTP as the standard
// OTEL_* variables say (endpoint, headers, timeout), batched; shutdown
// flushes it.
func FromEnv(ctx context.Context) (*sdktrace.TracerProvider, error) {
	exporter, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	return NewProvider(sdktrace.WithBatcher(exporter)), nil
}

// NewProvider returns a provider for the gateway's service with opts (an
// exporter or span processor).
func NewProvider(opts ...sdktrace.TracerProviderOption) *sdktrace.TracerProvider {
	host, _ := os.Hostname()
	res := sdkresource.NewSchemaless(semconv.ServiceName(ServiceName), semconv.HostName(host))
	return sdktrace.NewTracerProvider(append([]sdktrace.TracerProviderOption{sdktrace.WithResource(res)}, opts...)...)
}

// Install makes tp the process's provider (the instrumentation libraries
// and the loaders' spans use it) with W3C trace context propagation.
func Install(tp trace.TracerProvider) {
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
}

// Tracer is the gateway's own tracer (loader batches).
func Tracer() trace.Tracer { return otel.Tracer("authz-gateway") }
