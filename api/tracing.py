"""OpenTelemetry tracing, exported over OTLP/HTTP to the collector sidecar (ADOT -> X-Ray).

main.py imports this module only when FVDEPLOY_TRACING=true, so the default path neither
loads nor needs the OpenTelemetry SDK.
"""

import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.propagators.aws import AwsXRayPropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

DEFAULT_SERVICE_NAME = "fastapi-vars"
# The sidecar shares the task's network namespace. 127.0.0.1 rather than the SDK's
# "localhost", which may resolve to ::1 where the collector does not listen.
DEFAULT_ENDPOINT = "http://127.0.0.1:4318/v1/traces"
# The ALB health-checks every few seconds: those spans would only be noise and cost.
# Matched against scheme://host/path (no query string).
EXCLUDED_URLS = r"^[a-z]+://[^/]*/health$"


def _endpoint() -> str | None:
    # None lets the exporter apply the standard OTEL_EXPORTER_OTLP_*ENDPOINT variables.
    if os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    ):
        return None
    return DEFAULT_ENDPOINT


Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


def _flushing(lifespan: Lifespan, provider: TracerProvider) -> Lifespan:
    # uvicorn ends a worker stopped by SIGTERM by re-raising the signal after its graceful
    # shutdown, so atexit never runs: the batched spans are exported here instead.
    @asynccontextmanager
    async def flushing(app: Any) -> AsyncIterator[Any]:
        async with lifespan(app) as state:
            yield state
        provider.shutdown()

    return flushing


def instrument(app: FastAPI) -> None:
    """Trace every request but /health; call once, before the app serves."""
    service = os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: service}),
        # X-Ray's trace ID format: the first 32 bits are the start time, in Unix seconds.
        id_generator=AwsXRayIdGenerator(),
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=_endpoint())))
    trace.set_tracer_provider(provider)
    app.router.lifespan_context = _flushing(app.router.lifespan_context, provider)
    # An X-Amzn-Trace-Id header from an X-Ray-traced caller (kept by the ALB) wins over a
    # W3C traceparent, being extracted last.
    propagate.set_global_textmap(
        CompositePropagator([TraceContextTextMapPropagator(), AwsXRayPropagator()])
    )
    # Header capture stays off (the default): the Authorization header must never reach a
    # span. Without the per-message receive/send spans, a request is one span.
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls=EXCLUDED_URLS, exclude_spans=["receive", "send"]
    )
