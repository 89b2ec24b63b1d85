"""Prometheus metrics at /metrics, folded from committed events."""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from brushwork.events.store import RecordedEvent
from brushwork.events.types import ProviderCallRecorded
from brushwork.observability.metrics import Metrics
from tests.support.server import follow_until_done, wait_for

OK_GRAPH = {
    "1": {"class_type": "TestConstant", "inputs": {"value": 2}},
    "2": {"class_type": "TestOutput", "inputs": {"value": ["1", 0]}},
}
FAIL_GRAPH = {
    "1": {"class_type": "TestConstant", "inputs": {"value": 1}},
    "2": {"class_type": "TestFail", "inputs": {"value": ["1", 0]}},
    "3": {"class_type": "TestOutput", "inputs": {"value": ["2", 0]}},
}


def scrape(server) -> dict[tuple[str, frozenset], float]:
    status, body, headers = server.request("GET", "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape_until(server, name: str, target: float, **labels: str) -> dict:
    """Scrape until the sample reaches ``target`` (events are folded asynchronously)."""

    def reached():
        samples = scrape(server)
        return samples if value(samples, name, **labels) >= target else None

    return wait_for(reached)


def run(server, graph: dict, client: str) -> str:
    ws = server.websocket(client)
    status, answer = server.post("/prompt", {"prompt": graph, "client_id": client})
    assert status == 200
    follow_until_done(ws, answer["prompt_id"])
    ws.close()
    return answer["prompt_id"]


def test_run_outcomes_counted(json_server):
    run(json_server, OK_GRAPH, "m1")
    run(json_server, FAIL_GRAPH, "m2")
    json_server.post("/prompt", {"prompt": {"1": {"class_type": "Missing"}}})

    samples = scrape_until(json_server, "brushwork_prompts_total", 1, outcome="rejected")
    assert value(samples, "brushwork_prompts_total", outcome="queued") >= 2
    assert value(samples, "brushwork_prompts_total", outcome="success") >= 1
    assert value(samples, "brushwork_prompts_total", outcome="failed") >= 1
    assert value(samples, "brushwork_runs_started_total") >= 2


def test_node_durations_by_class(json_server):
    run(json_server, FAIL_GRAPH, "m3")
    samples = scrape_until(
        json_server,
        "brushwork_node_duration_seconds_count",
        1,
        class_type="TestFail",
        outcome="failed",
    )
    assert (
        value(
            samples,
            "brushwork_node_duration_seconds_count",
            class_type="TestConstant",
            outcome="success",
        )
        >= 1
    )


def test_append_latency_observed(json_server):
    samples = scrape(json_server)
    assert value(samples, "brushwork_event_append_duration_seconds_count") >= 1
    assert value(samples, "brushwork_events_appended_total") >= 1
    assert value(samples, "brushwork_event_log_position") >= 1


def test_lag_gauges_present(json_server):
    samples = scrape(json_server)
    assert ("brushwork_projection_lag_events", frozenset({("projection", "prompts")})) in samples
    assert value(samples, "brushwork_follower_lag_events", follower="websocket") >= 0


def test_websocket_clients_gauge(json_server):
    ws = json_server.websocket("gauge-client")
    ws.recv()
    assert value(scrape(json_server), "brushwork_websocket_clients") == 1
    ws.close()
    wait_for(lambda: value(scrape(json_server), "brushwork_websocket_clients") == 0)


def test_http_requests_by_route(json_server):
    json_server.get("/history/some-id")
    samples = scrape(json_server)
    assert (
        value(
            samples,
            "brushwork_http_requests_total",
            method="GET",
            route="/history/{prompt_id}",
            status="200",
        )
        >= 1
    )


def test_queue_depth_gauge(server):
    slow = {
        "1": {"class_type": "TestConstant", "inputs": {"value": 1}},
        "2": {"class_type": "TestSlowAdd", "inputs": {"a": ["1", 0], "seconds": 1.5}},
        "3": {"class_type": "TestOutput", "inputs": {"value": ["2", 0]}},
    }
    server.post("/prompt", {"prompt": slow})
    server.post("/prompt", {"prompt": OK_GRAPH})
    samples = scrape_until(server, "brushwork_queue_depth", 1, status="running")
    assert value(samples, "brushwork_queue_depth", status="queued") == 1


def recorded(event, position: int) -> RecordedEvent:
    return RecordedEvent(position, event.prompt_id, position, event, time.time(), f"e{position}")


def test_provider_calls_folded():
    metrics = Metrics()
    metrics.observe_events(
        [
            recorded(
                ProviderCallRecorded(
                    prompt_id="p",
                    node_id="1",
                    provider="openai",
                    method="POST",
                    endpoint="/v1/images",
                    latency_s=0.4,
                    attempts=3,
                    outcome="ok",
                ),
                1,
            ),
            recorded(
                ProviderCallRecorded(
                    prompt_id="p",
                    node_id="2",
                    provider="openai",
                    method="POST",
                    endpoint="/v1/images",
                    latency_s=2.0,
                    attempts=1,
                    outcome="server_error",
                ),
                2,
            ),
        ]
    )
    metrics.set_breaker_states({"openai": "open"})
    text = metrics.render().decode()
    assert 'brushwork_provider_retries_total{provider="openai"} 2.0' in text
    assert 'brushwork_provider_errors_total{outcome="server_error",provider="openai"} 1.0' in text
    assert (
        'brushwork_provider_call_duration_seconds_count{outcome="ok",provider="openai"} 1.0' in text
    )
    assert 'brushwork_provider_circuit_breaker_state{provider="openai",state="open"} 1.0' in text
    assert 'brushwork_provider_circuit_breaker_state{provider="openai",state="closed"} 0.0' in text


def test_registries_are_per_app():
    first, second = Metrics(), Metrics()
    first.prompts.labels("success").inc()
    assert b'outcome="success"' in first.render()
    assert b'outcome="success"' not in second.render()
