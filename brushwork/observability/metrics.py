"""Prometheus metrics of one server, kept in the app's own CollectorRegistry.

Run, node and provider figures are folds over committed events (see
``EventObserver``), so they count what the log records, not what a caller
hoped for. Gauges that describe the present (queue depth, breaker state,
websocket clients, lag) are read when /metrics is scraped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from ..events.store import RecordedEvent
from ..events.types import (
    ExecutionFailed,
    ExecutionInterrupted,
    ExecutionStarted,
    ExecutionSucceeded,
    NodeCached,
    NodeCompleted,
    NodeFailed,
    PromptDeleted,
    PromptQueued,
    PromptRejected,
    ProviderCallRecorded,
)

# Seconds: node and provider work spans milliseconds (primitives) to many minutes (sampling).
DURATION_BUCKETS = (
    0.001,
    0.005,
    0.01,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
    300,
    600,
    1800,
)
APPEND_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
BREAKER_STATES = ("closed", "open", "half_open")


class Metrics:
    """Every metric that /metrics exposes, registered in a private registry."""

    def __init__(self) -> None:
        # The *_created series double the output and no dashboard here reads them.
        # NOTE: this switch is process-wide in prometheus_client.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.http_requests = Counter(
            "brushwork_http_requests",
            "HTTP requests answered, by route template and status.",
            ("method", "route", "status"),
            registry=registry,
        )
        self.http_duration = Histogram(
            "brushwork_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ("method", "route"),
            buckets=(*APPEND_BUCKETS, 5, 10, 30),
            registry=registry,
        )

        self.queue_depth = Gauge(
            "brushwork_queue_depth",
            "Prompts in the queue projection, by status.",
            ("status",),
            registry=registry,
        )
        self.prompts = Counter(
            "brushwork_prompts",
            "Prompts by outcome: queued, rejected, success, failed, interrupted, deleted.",
            ("outcome",),
            registry=registry,
        )
        self.runs_started = Counter(
            "brushwork_runs_started",
            "Run attempts started (resumed runs count again).",
            registry=registry,
        )
        self.node_duration = Histogram(
            "brushwork_node_duration_seconds",
            "Time a node's execute took, by class and outcome.",
            ("class_type", "outcome"),
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.nodes_cached = Counter(
            "brushwork_nodes_cached",
            "Nodes served from the output cache instead of running.",
            registry=registry,
        )

        self.provider_latency = Histogram(
            "brushwork_provider_call_duration_seconds",
            "Latency of recorded provider calls, retries included, by provider and outcome.",
            ("provider", "outcome"),
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.provider_errors = Counter(
            "brushwork_provider_errors",
            "Provider calls whose outcome was not ok.",
            ("provider", "outcome"),
            registry=registry,
        )
        self.provider_retries = Counter(
            "brushwork_provider_retries",
            "Extra attempts that provider calls needed.",
            ("provider",),
            registry=registry,
        )
        self.breaker_state = Gauge(
            "brushwork_provider_circuit_breaker_state",
            "1 for the current breaker state of each provider used since start, else 0.",
            ("provider", "state"),
            registry=registry,
        )

        self.websocket_clients = Gauge(
            "brushwork_websocket_clients", "Connected websocket clients.", registry=registry
        )

        self.append_duration = Histogram(
            "brushwork_event_append_duration_seconds",
            "Time to commit one group-commit batch of events.",
            buckets=APPEND_BUCKETS,
            registry=registry,
        )
        self.events_appended = Counter(
            "brushwork_events_appended", "Events committed by this process.", registry=registry
        )

        self.projection_lag = Gauge(
            "brushwork_projection_lag_events",
            "Events in the log after a projection's checkpoint.",
            ("projection",),
            registry=registry,
        )
        self.follower_lag = Gauge(
            "brushwork_follower_lag_events",
            "Events in the log not yet seen by an in-process follower (websocket, metrics).",
            ("follower",),
            registry=registry,
        )
        self.log_position = Gauge(
            "brushwork_event_log_position",
            "The highest position in the event log.",
            registry=registry,
        )
        self._handlers = self._event_handlers()

    # -- folds over committed events ---------------------------------------------

    def observe_events(self, records: Iterable[RecordedEvent]) -> None:
        for record in records:
            self.observe_event(record)

    def observe_event(self, record: RecordedEvent) -> None:
        event = record.event
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def _event_handlers(self) -> dict[type, Callable[[Any], None]]:
        """One handler per event type that a metric counts; others are skipped."""
        prompts = self.prompts
        node_duration = self.node_duration
        return {
            PromptQueued: lambda event: prompts.labels("queued").inc(),
            PromptRejected: lambda event: prompts.labels("rejected").inc(),
            ExecutionStarted: lambda event: self.runs_started.inc(),
            NodeCompleted: lambda event: node_duration.labels(event.class_type, "success").observe(
                event.duration_s
            ),
            NodeFailed: lambda event: node_duration.labels(event.class_type, "failed").observe(
                event.duration_s
            ),
            NodeCached: lambda event: self.nodes_cached.inc(len(event.node_ids)),
            ProviderCallRecorded: self._observe_provider_call,
            ExecutionSucceeded: lambda event: prompts.labels("success").inc(),
            ExecutionFailed: lambda event: prompts.labels("failed").inc(),
            ExecutionInterrupted: lambda event: prompts.labels("interrupted").inc(),
            PromptDeleted: lambda event: prompts.labels("deleted").inc(),
        }

    def _observe_provider_call(self, event: ProviderCallRecorded) -> None:
        self.provider_latency.labels(event.provider, event.outcome).observe(event.latency_s)
        if event.outcome != "ok":
            self.provider_errors.labels(event.provider, event.outcome).inc()
        if event.attempts > 1:
            self.provider_retries.labels(event.provider).inc(event.attempts - 1)

    # -- direct observations -----------------------------------------------------

    def observe_append(self, duration_s: float, count: int) -> None:
        """The ``EventWriter.on_commit`` callback."""
        self.append_duration.observe(duration_s)
        self.events_appended.inc(count)

    def observe_request(self, method: str, route: str, status: int, duration_s: float) -> None:
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_duration.labels(method, route).observe(duration_s)

    # -- scrape-time gauges ------------------------------------------------------

    def set_queue_depth(self, queued: int, running: int) -> None:
        self.queue_depth.labels("queued").set(queued)
        self.queue_depth.labels("running").set(running)

    def set_breaker_states(self, states: Mapping[str, str]) -> None:
        for provider, current in states.items():
            for state in BREAKER_STATES:
                self.breaker_state.labels(provider, state).set(1 if state == current else 0)

    def set_positions(
        self, log_position: int, checkpoints: Mapping[str, int], followers: Mapping[str, int]
    ) -> None:
        self.log_position.set(log_position)
        for name, position in checkpoints.items():
            self.projection_lag.labels(name).set(max(0, log_position - position))
        for name, position in followers.items():
            self.follower_lag.labels(name).set(max(0, log_position - position))

    def render(self) -> bytes:
        return generate_latest(self.registry)
