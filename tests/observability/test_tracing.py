"""OpenTelemetry spans for runs, nodes and provider calls, built from committed events."""

from __future__ import annotations

import json
import time

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from brushwork.events.store import RecordedEvent
from brushwork.events.types import (
    ExecutionStarted,
    ExecutionSucceeded,
    NodeCompleted,
    NodeStarted,
    PromptDeleted,
    ProviderCallRecorded,
)
from brushwork.observability.tracing import RunTracer, configure_tracing
from tests.support.server import follow_until_done

OK_GRAPH = {
    "1": {"class_type": "TestConstant", "inputs": {"value": 2}},
    "2": {"class_type": "TestOutput", "inputs": {"value": ["1", 0]}},
}
FAIL_GRAPH = {
    "1": {"class_type": "TestConstant", "inputs": {"value": 1}},
    "2": {"class_type": "TestFail", "inputs": {"value": ["1", 0]}},
    "3": {"class_type": "TestOutput", "inputs": {"value": ["2", 0]}},
}


@pytest.fixture(scope="module")
def traced_spans(tmp_path_factory):
    """Spans that a real server exported to a file for one good and one failing run."""
    from tests.support.server import ServerProcess

    folder = tmp_path_factory.mktemp("traced")
    trace_file = folder / "spans.jsonl"
    server = ServerProcess(
        folder / "data", "--trace-exporter", "file", "--trace-file", str(trace_file)
    ).start()
    ws = server.websocket("tracer")
    ids = {}
    for name, graph in (("ok", OK_GRAPH), ("failed", FAIL_GRAPH)):
        _, answer = server.post("/prompt", {"prompt": graph, "client_id": "tracer"})
        follow_until_done(ws, answer["prompt_id"])
        ids[name] = answer["prompt_id"]
    ws.close()
    server.stop()
    spans = [json.loads(line) for line in trace_file.read_text().splitlines()]
    return ids, spans


def spans_of(spans: list[dict], prompt_id: str) -> list[dict]:
    return [s for s in spans if s["attributes"].get("brushwork.prompt_id") == prompt_id]


def test_run_span_per_prompt(traced_spans):
    ids, spans = traced_spans
    for prompt_id in ids.values():
        runs = [s for s in spans_of(spans, prompt_id) if s["name"] == "brushwork.run"]
        assert len(runs) == 1
        assert runs[0]["parent_span_id"] is None


def test_node_spans_are_children(traced_spans):
    ids, spans = traced_spans
    ok = spans_of(spans, ids["ok"])
    (run,) = [s for s in ok if s["name"] == "brushwork.run"]
    nodes = [s for s in ok if s["name"].startswith("brushwork.node ")]
    assert {s["attributes"]["brushwork.node_id"] for s in nodes} == {"1", "2"}
    for node in nodes:
        assert node["trace_id"] == run["trace_id"]
        assert node["parent_span_id"] == run["span_id"]
        assert run["start_time"] <= node["start_time"] <= node["end_time"] <= run["end_time"]
    assert run["status"] == "OK"


def test_failed_node_marks_error(traced_spans):
    ids, spans = traced_spans
    failed = spans_of(spans, ids["failed"])
    (node,) = [s for s in failed if s["name"] == "brushwork.node TestFail"]
    assert node["status"] == "ERROR"
    assert node["attributes"]["brushwork.outcome"] == "failed"
    (run,) = [s for s in failed if s["name"] == "brushwork.run"]
    assert run["status"] == "ERROR"
    assert run["attributes"]["brushwork.failed_node_id"] == "2"


@pytest.fixture
def memory():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return RunTracer(provider.get_tracer("test")), exporter


def record(event, at: float, position: int = 1) -> RecordedEvent:
    return RecordedEvent(position, event.prompt_id, position, event, at, f"e{position}")


def test_provider_span_under_node(memory):
    tracer, exporter = memory
    now = time.time()
    tracer.observe_events(
        [
            record(ExecutionStarted(prompt_id="p"), now),
            record(NodeStarted(prompt_id="p", node_id="7", class_type="OpenAIImage"), now + 0.1),
            record(
                ProviderCallRecorded(
                    prompt_id="p",
                    node_id="7",
                    provider="openai",
                    method="POST",
                    endpoint="/v1/images",
                    latency_s=2.0,
                    status=500,
                    outcome="server_error",
                    attempts=3,
                ),
                now + 3,
            ),
            record(
                NodeCompleted(
                    prompt_id="p", node_id="7", class_type="OpenAIImage", outputs=[], duration_s=3.0
                ),
                now + 3.1,
            ),
            record(ExecutionSucceeded(prompt_id="p"), now + 3.2),
        ]
    )
    spans = {span.name: span for span in exporter.get_finished_spans()}
    provider = spans["brushwork.provider openai"]
    node = spans["brushwork.node OpenAIImage"]
    assert provider.parent.span_id == node.context.span_id
    assert node.parent.span_id == spans["brushwork.run"].context.span_id
    assert provider.end_time - provider.start_time == pytest.approx(2e9, rel=1e-6)
    assert provider.attributes["http.response.status_code"] == 500
    assert provider.status.status_code.name == "ERROR"


def test_completion_without_start_uses_duration(memory):
    tracer, exporter = memory
    now = time.time()
    tracer.observe_events(
        [
            record(ExecutionStarted(prompt_id="q"), now),
            record(
                NodeCompleted(
                    prompt_id="q", node_id="1", class_type="Slow", outputs=[], duration_s=1.5
                ),
                now + 2,
            ),
        ]
    )
    (node,) = exporter.get_finished_spans()
    assert node.end_time - node.start_time == pytest.approx(1.5e9, rel=1e-6)


def test_close_ends_open_spans(memory):
    tracer, exporter = memory
    now = time.time()
    tracer.observe_events(
        [
            record(ExecutionStarted(prompt_id="r"), now),
            record(NodeStarted(prompt_id="r", node_id="1", class_type="Hang"), now),
        ]
    )
    assert tracer.open_runs == 1
    tracer.close()
    assert tracer.open_runs == 0
    assert len(exporter.get_finished_spans()) == 2


def test_resumed_attempt_ends_earlier_span(memory):
    tracer, exporter = memory
    now = time.time()
    tracer.observe_events(
        [
            record(ExecutionStarted(prompt_id="s"), now),
            record(ExecutionStarted(prompt_id="s", attempt=2), now + 1),
            record(PromptDeleted(prompt_id="s"), now + 2),
        ]
    )
    first, second = exporter.get_finished_spans()
    assert first.attributes["brushwork.outcome"] == "unknown"
    assert second.attributes["brushwork.attempt"] == 2


def test_exporter_none_installs_nothing():
    assert configure_tracing("none") is None


def test_file_exporter_needs_path():
    with pytest.raises(ValueError, match="--trace-file"):
        configure_tracing("file")


def test_otlp_exporter_configures(monkeypatch):
    # Nothing is exported: the provider is shut down before any span ends.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    provider = configure_tracing("otlp")
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "brushwork"
    provider.shutdown()


def test_tracing_sink_only_with_a_provider(monkeypatch):
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from brushwork.http.app import _global_tracing_configured

    monkeypatch.setattr(trace, "get_tracer_provider", trace.ProxyTracerProvider)
    assert not _global_tracing_configured()
    monkeypatch.setattr(trace, "get_tracer_provider", TracerProvider)
    assert _global_tracing_configured()
