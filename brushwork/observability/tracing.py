"""OpenTelemetry spans for runs, nodes and provider calls, built from committed events.

Only ``opentelemetry-api`` is required. Without a configured SDK every span
is a no-op. ``configure_tracing`` installs the SDK (the ``otel`` extra) with
an OTLP/HTTP exporter or a JSON-lines file exporter.

Span times come from the events' ``recorded_at`` (commit time), so a node
span starts when its NodeStarted committed, not when ``execute`` began. A
provider call span is placed to end at its event's commit and to last the
recorded ``latency_s``. Every span carries ``brushwork.prompt_id``. Node
spans are children of their run span, and provider call spans are children
of the node span that made the call.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from ..events.store import RecordedEvent
from ..events.types import (
    ExecutionFailed,
    ExecutionInterrupted,
    ExecutionStarted,
    ExecutionSucceeded,
    NodeCached,
    NodeCompleted,
    NodeFailed,
    NodeStarted,
    PromptDeleted,
    ProviderCallRecorded,
)

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

INSTRUMENTATION_NAME = "brushwork"
# Runs whose terminal event never arrives (a crash in another process) are
# ended after this many newer runs, so the open-span table stays bounded.
MAX_OPEN_RUNS = 10_000


def _ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


@dataclass
class _OpenRun:
    span: Span
    nodes: dict[str, Span] = field(default_factory=dict)


class RunTracer:
    """Fold committed events into spans; feed it every batch in position order."""

    def __init__(self, tracer: Tracer | None = None) -> None:
        self.tracer = tracer or trace.get_tracer(INSTRUMENTATION_NAME)
        self._runs: OrderedDict[str, _OpenRun] = OrderedDict()

    @property
    def open_runs(self) -> int:
        return len(self._runs)

    def observe_events(self, records: Iterable[RecordedEvent]) -> None:
        for record in records:
            self.observe_event(record)

    def observe_event(self, record: RecordedEvent) -> None:
        event = record.event
        at = record.recorded_at
        if isinstance(event, ExecutionStarted):
            self._start_run(event, at)
        elif isinstance(event, NodeStarted):
            self._start_node(event, at)
        elif isinstance(event, NodeCompleted | NodeFailed):
            self._end_node(event, at)
        elif isinstance(event, NodeCached):
            run = self._runs.get(event.prompt_id)
            if run is not None and event.node_ids:
                run.span.add_event(
                    "nodes_cached", {"brushwork.node_ids": event.node_ids}, timestamp=_ns(at)
                )
        elif isinstance(event, ProviderCallRecorded):
            self._provider_call(event, at)
        elif isinstance(
            event, ExecutionSucceeded | ExecutionFailed | ExecutionInterrupted | PromptDeleted
        ):
            self._end_run(event, at)

    def close(self) -> None:
        """End every open span now (server shutdown)."""
        now = _ns(time.time())
        for run in self._runs.values():
            for span in run.nodes.values():
                span.end(end_time=now)
            run.span.end(end_time=now)
        self._runs.clear()

    # -- runs ----------------------------------------------------------------------

    def _start_run(self, event: ExecutionStarted, at: float) -> None:
        previous = self._runs.pop(event.prompt_id, None)
        if previous is not None:  # a resumed attempt: the earlier one never finished here
            self._abandon(previous, at, "superseded by a resumed attempt")
        span = self.tracer.start_span(
            "brushwork.run",
            kind=SpanKind.INTERNAL,
            start_time=_ns(at),
            attributes={
                "brushwork.prompt_id": event.prompt_id,
                "brushwork.attempt": event.attempt,
                "brushwork.worker_id": event.worker_id,
                "brushwork.resumed": event.resumed,
            },
        )
        self._runs[event.prompt_id] = _OpenRun(span)
        while len(self._runs) > MAX_OPEN_RUNS:
            _, oldest = self._runs.popitem(last=False)
            self._abandon(oldest, at, "no terminal event seen")

    def _end_run(self, event: Any, at: float) -> None:
        run = self._runs.pop(event.prompt_id, None)
        if run is None:
            return
        if isinstance(event, ExecutionSucceeded):
            run.span.set_attribute("brushwork.outcome", "success")
            run.span.set_status(Status(StatusCode.OK))
        elif isinstance(event, ExecutionFailed):
            run.span.set_attribute("brushwork.outcome", "failed")
            if event.node_id is not None:
                run.span.set_attribute("brushwork.failed_node_id", event.node_id)
            run.span.set_status(
                Status(StatusCode.ERROR, f"{event.exception_type}: {event.exception_message}")
            )
        elif isinstance(event, ExecutionInterrupted):
            run.span.set_attribute("brushwork.outcome", "interrupted")
        else:
            run.span.set_attribute("brushwork.outcome", "deleted")
        for span in run.nodes.values():
            span.set_attribute("brushwork.outcome", "interrupted")
            span.end(end_time=_ns(at))
        run.span.end(end_time=_ns(at))

    @staticmethod
    def _abandon(run: _OpenRun, at: float, reason: str) -> None:
        for span in run.nodes.values():
            span.end(end_time=_ns(at))
        run.span.set_attribute("brushwork.outcome", "unknown")
        run.span.set_status(Status(StatusCode.ERROR, reason))
        run.span.end(end_time=_ns(at))

    # -- nodes ---------------------------------------------------------------------

    def _start_node(self, event: NodeStarted, at: float) -> None:
        run = self._runs.get(event.prompt_id)
        if run is None:
            return
        stale = run.nodes.pop(event.node_id, None)
        if stale is not None:
            stale.end(end_time=_ns(at))
        run.nodes[event.node_id] = self.tracer.start_span(
            f"brushwork.node {event.class_type}",
            context=trace.set_span_in_context(run.span),
            start_time=_ns(at),
            attributes=_node_attributes(event),
        )

    def _end_node(self, event: NodeCompleted | NodeFailed, at: float) -> None:
        run = self._runs.get(event.prompt_id)
        if run is None:
            return
        span = run.nodes.pop(event.node_id, None)
        if span is None:  # NodeStarted was not seen (committed before this process followed)
            span = self.tracer.start_span(
                f"brushwork.node {event.class_type}",
                context=trace.set_span_in_context(run.span),
                start_time=_ns(at - event.duration_s),
                attributes=_node_attributes(event),
            )
        span.set_attribute("brushwork.duration_s", event.duration_s)
        if isinstance(event, NodeFailed):
            span.set_attribute("brushwork.outcome", "failed")
            span.set_status(
                Status(StatusCode.ERROR, f"{event.exception_type}: {event.exception_message}")
            )
        else:
            span.set_attribute("brushwork.outcome", "success")
        span.end(end_time=_ns(at))

    def _provider_call(self, event: ProviderCallRecorded, at: float) -> None:
        run = self._runs.get(event.prompt_id)
        parent: Span | None = None
        if run is not None:
            parent = run.nodes.get(event.node_id, run.span)
        context = trace.set_span_in_context(parent) if parent is not None else None
        attributes: dict[str, Any] = {
            "brushwork.prompt_id": event.prompt_id,
            "brushwork.node_id": event.node_id,
            "brushwork.provider": event.provider,
            "http.request.method": event.method,
            "url.path": event.endpoint,
            "brushwork.outcome": event.outcome,
            "brushwork.attempts": event.attempts,
        }
        if event.status is not None:
            attributes["http.response.status_code"] = event.status
        if event.model is not None:
            attributes["brushwork.model"] = event.model
        span = self.tracer.start_span(
            f"brushwork.provider {event.provider}",
            context=context,
            kind=SpanKind.CLIENT,
            start_time=_ns(at - event.latency_s),
            attributes=attributes,
        )
        if event.outcome != "ok":
            span.set_status(Status(StatusCode.ERROR, event.error or event.outcome))
        span.end(end_time=_ns(at))


def _node_attributes(event: NodeStarted | NodeCompleted | NodeFailed) -> dict[str, Any]:
    return {
        "brushwork.prompt_id": event.prompt_id,
        "brushwork.node_id": event.node_id,
        "brushwork.class_type": event.class_type,
        "brushwork.attempt": event.attempt,
    }


# -- SDK setup (the optional ``otel`` extra) ---------------------------------------------


class TracingUnavailableError(RuntimeError):
    """The requested exporter needs packages of the ``otel`` extra that are missing."""


def configure_tracing(
    exporter: str, trace_file: Path | None = None, service_name: str = "brushwork"
) -> TracerProvider | None:
    """Build an SDK tracer provider for ``exporter`` ("none", "otlp" or "file").

    Returns None for "none", so spans go to whatever global provider the
    embedding application installed (a no-op one by default). The OTLP
    exporter reads its endpoint and headers from the standard
    ``OTEL_EXPORTER_OTLP_*`` environment variables.
    """
    if exporter == "none":
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError as error:
        raise TracingUnavailableError(
            f"--trace-exporter {exporter} needs opentelemetry-sdk; "
            "install it with: pip install 'brushwork[otel]'"
        ) from error
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as error:
            raise TracingUnavailableError(
                "--trace-exporter otlp needs opentelemetry-exporter-otlp-proto-http; "
                "install it with: pip install 'brushwork[otel]'"
            ) from error
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif exporter == "file":
        if trace_file is None:
            raise ValueError("--trace-exporter file needs --trace-file PATH")
        provider.add_span_processor(SimpleSpanProcessor(_json_lines_exporter(trace_file)))
    else:
        raise ValueError(f"invalid trace exporter {exporter!r}; use none, otlp or file")
    return provider


def _json_lines_exporter(path: Path) -> Any:
    """Build a SpanExporter that appends one JSON object per finished span to ``path``."""
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    class JsonLinesSpanExporter(SpanExporter):
        def __init__(self) -> None:
            self._lock = threading.Lock()
            path.parent.mkdir(parents=True, exist_ok=True)

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            lines = [json.dumps(span_to_dict(span)) + "\n" for span in spans]
            with self._lock, path.open("a") as handle:
                handle.writelines(lines)
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            return None

    return JsonLinesSpanExporter()


def span_to_dict(span: ReadableSpan) -> dict[str, Any]:
    """Convert a finished span to flat JSON: hex ids, nanosecond times, attributes."""
    context = span.get_span_context()
    parent = span.parent
    return {
        "name": span.name,
        "trace_id": f"{context.trace_id:032x}" if context else None,
        "span_id": f"{context.span_id:016x}" if context else None,
        "parent_span_id": f"{parent.span_id:016x}" if parent else None,
        "kind": span.kind.name,
        "start_time": span.start_time,
        "end_time": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
    }
