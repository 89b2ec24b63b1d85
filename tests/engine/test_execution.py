"""Execution semantics: order, branches, caching, lists, lazy inputs, timeouts, interrupts."""

from __future__ import annotations

import time

import anyio
import pytest

from brushwork.errors import LimitExceededError
from brushwork.events.types import (
    ExecutionFailed,
    ExecutionInterrupted,
    ExecutionSucceeded,
    NodeCached,
    NodeCompleted,
    NodeFailed,
    NodeProgress,
    NodeStarted,
)
from brushwork.runtime import Runtime
from tests.engine.conftest import make_registry, make_settings, of_type, open_runtime, run_prompt


def const(value: int) -> dict:
    return {"class_type": "TestConstant", "inputs": {"value": value}}


def show(link: list) -> dict:
    return {"class_type": "TestOutput", "inputs": {"value": link}}


def ui_text(records, node_id: str) -> list[str]:
    for event in of_type(records, NodeCompleted):
        if event.node_id == node_id:
            return event.ui["text"]
    for event in of_type(records, NodeCached):
        if node_id in event.ui:
            return event.ui[node_id]["text"]
    raise AssertionError(f"node {node_id} has no UI")


@pytest.mark.asyncio
async def test_only_needed_nodes_run(tmp_path):
    async with open_runtime(tmp_path) as runtime:
        prompt = {"1": const(1), "2": const(2), "3": show(["1", 0])}
        _, records = await run_prompt(runtime, prompt)
        assert [e.node_id for e in of_type(records, NodeStarted)] == ["1", "3"]


@pytest.mark.asyncio
async def test_dependency_order_and_result(tmp_path):
    async with open_runtime(tmp_path) as runtime:
        prompt = {"4": show(["3", 0]), "3": {"class_type": "TestAdd", "inputs": {
            "a": ["1", 0], "b": ["2", 0]}}, "1": const(20), "2": const(22)}
        _, records = await run_prompt(runtime, prompt)
        started = [e.node_id for e in of_type(records, NodeStarted)]
        assert started.index("3") > max(started.index("1"), started.index("2"))
        assert started[-1] == "4"
        assert ui_text(records, "4") == ["42"]



@pytest.mark.asyncio
async def test_shared_source_runs_once(tmp_path):
    # "1" feeds "2" and, past it, "3" and "4" again: planning reaches it on
    # three paths, and it must start once.
    async with open_runtime(tmp_path) as runtime:
        prompt = {
            "1": const(5),
            "2": {"class_type": "TestAdd", "inputs": {"a": ["1", 0], "b": ["1", 0]}},
            "3": {"class_type": "TestAdd", "inputs": {"a": ["2", 0], "b": ["1", 0]}},
            "4": {"class_type": "TestAdd", "inputs": {"a": ["3", 0], "b": ["1", 0]}},
            "5": show(["4", 0]),
        }
        _, records = await run_prompt(runtime, prompt)
        started = [e.node_id for e in of_type(records, NodeStarted)]
        assert sorted(started) == ["1", "2", "3", "4", "5"]
        (success,) = of_type(records, ExecutionSucceeded)
        assert sorted(success.executed) == ["1", "2", "3", "4", "5"]
        assert ui_text(records, "5") == ["20"]

@pytest.mark.asyncio
async def test_independent_async_branches_overlap(tmp_path):
    async with open_runtime(tmp_path) as runtime:
        prompt = {"1": const(1)}
        for index in range(8):
            prompt[f"s{index}"] = {"class_type": "TestAsyncSleep",
                                   "inputs": {"value": ["1", 0], "seconds": 0.5}}
            prompt[f"o{index}"] = show([f"s{index}", 0])
        began = time.perf_counter()
        _, records = await run_prompt(runtime, prompt)
        elapsed = time.perf_counter() - began
        assert of_type(records, ExecutionSucceeded)
        assert elapsed < 0.5 * 8 / 2  # far less than running the eight sleeps one by one


@pytest.mark.asyncio
async def test_identical_resubmission_is_cached(tmp_path):
    async with open_runtime(tmp_path) as runtime:
        prompt = {"1": const(5), "2": {"class_type": "TestAdd", "inputs": {"a": ["1", 0]}},
                  "3": show(["2", 0])}
        await run_prompt(runtime, prompt)
        _, records = await run_prompt(runtime, prompt)
        cached = of_type(records, NodeCached)[0]
        assert sorted(cached.node_ids) == ["1", "2", "3"]
        assert cached.ui["3"] == {"text": ["5"]}
        assert of_type(records, NodeStarted) == []


@pytest.mark.asyncio
async def test_changed_constant_reruns_downstream_only(tmp_path):
    async with open_runtime(tmp_path) as runtime:
        prompt = {"1": const(5), "2": {"class_type": "TestAdd", "inputs": {"a": ["1", 0], "b": 1}},
                  "3": show(["2", 0])}
        await run_prompt(runtime, prompt)
        prompt["2"]["inputs"]["b"] = 2
        _, records = await run_prompt(runtime, prompt)
        assert of_type(records, NodeCached)[0].node_ids == ["1"]
        assert sorted(e.node_id for e in of_type(records, NodeStarted)) == ["2", "3"]
        assert ui_text(records, "3") == ["7"]


@pytest.mark.asyncio
async def test_cache_shared_across_node_ids(tmp_path):
    async with open_runtime(tmp_path) as runtime:
        await run_prompt(runtime, {"1": const(9), "2": show(["1", 0])})
        _, records = await run_prompt(runtime, {"a": const(9), "b": show(["a", 0])})
        assert sorted(of_type(records, NodeCached)[0].node_ids) == ["a", "b"]


@pytest.mark.asyncio
async def test_cache_policy_none_reruns_everything(tmp_path):
    settings = make_settings(tmp_path, cache_policy="none")
    async with Runtime(settings, make_registry()) as rt:
        prompt = {"1": const(3), "2": show(["1", 0])}
        await run_prompt(rt, prompt)
        _, records = await run_prompt(rt, prompt)
    assert of_type(records, NodeCached)[0].node_ids == []
    assert len(of_type(records, NodeStarted)) == 2


@pytest.mark.asyncio
async def test_lru_cache_keeps_entries_across_prompts(tmp_path):
    settings = make_settings(tmp_path, cache_policy="lru", cache_max_entries=100)
    async with Runtime(settings, make_registry()) as rt:
        first = {"1": const(1), "2": show(["1", 0])}
        await run_prompt(rt, first)
        await run_prompt(rt, {"1": const(2), "2": show(["1", 0])})
        _, records = await run_prompt(rt, first)
    assert sorted(of_type(records, NodeCached)[0].node_ids) == ["1", "2"]


@pytest.mark.asyncio
async def test_classic_cache_forgets_older_prompts(tmp_path):
    async with open_runtime(tmp_path) as runtime:
        first = {"1": const(1), "2": show(["1", 0])}
        await run_prompt(runtime, first)
        await run_prompt(runtime, {"1": const(2), "2": show(["1", 0])})
        _, records = await run_prompt(runtime, first)
        assert of_type(records, NodeCached)[0].node_ids == []


@pytest.mark.asyncio
async def test_list_output_maps_downstream_node(tmp_path):
    async with open_runtime(tmp_path) as runtime:
        prompt = {"1": {"class_type": "TestMakeList", "inputs": {"count": 4}},
                  "2": {"class_type": "TestAdd", "inputs": {"a": ["1", 0], "b": 10}},
                  "3": show(["2", 0])}
        _, records = await run_prompt(runtime, prompt)
        assert ui_text(records, "3") == ["10", "11", "12", "13"]


@pytest.mark.asyncio
async def test_list_input_node_gets_whole_list(tmp_path):
    async with open_runtime(tmp_path) as runtime:
        prompt = {"1": {"class_type": "TestMakeList", "inputs": {"count": 5}},
                  "2": {"class_type": "TestSumList", "inputs": {"values": ["1", 0]}},
                  "3": show(["2", 0])}
        _, records = await run_prompt(runtime, prompt)
        assert ui_text(records, "3") == ["10"]


@pytest.mark.asyncio
@pytest.mark.parametrize(("select", "expected", "skipped"), [(True, "1", "f"), (False, "2", "t")])
async def test_lazy_switch_evaluates_one_branch(tmp_path, select, expected, skipped):
    async with open_runtime(tmp_path) as runtime:
        prompt = {"t": const(1), "f": const(2),
                  "s": {"class_type": "TestLazySwitch", "inputs": {
                      "select": select, "on_true": ["t", 0], "on_false": ["f", 0]}},
                  "o": show(["s", 0])}
        _, records = await run_prompt(runtime, prompt)
        started = [e.node_id for e in of_type(records, NodeStarted)]
        assert skipped not in started
        assert ui_text(records, "o") == [expected]


@pytest.mark.asyncio
async def test_node_failure_fails_run(tmp_path):
    async with open_runtime(tmp_path) as runtime:
        prompt = {"1": const(1), "2": {"class_type": "TestFail", "inputs": {
            "value": ["1", 0], "message": "broken on purpose"}}, "3": show(["2", 0])}
        _, records = await run_prompt(runtime, prompt)
        failed = of_type(records, NodeFailed)[0]
        assert failed.node_id == "2"
        run = of_type(records, ExecutionFailed)[0]
        assert run.node_id == "2"
        assert run.exception_message == "broken on purpose"
        assert run.exception_type == "RuntimeError"
        assert "1" in run.executed


@pytest.mark.asyncio
@pytest.mark.parametrize(("class_type", "inputs"), [
    # Cancelled on the event loop at the deadline.
    ("TestAsyncSleep", {"value": ["1", 0], "seconds": 5}),
    # In a thread: ten progress steps of 0.3 s, stopped at the first past 0.2 s.
    ("TestSlowAdd", {"a": ["1", 0], "seconds": 3}),
])
async def test_node_timeout_fails_node(tmp_path, class_type, inputs):
    settings = make_settings(tmp_path, node_timeouts={class_type: 0.2})
    async with Runtime(settings, make_registry()) as rt:
        prompt = {"1": const(1), "2": {"class_type": class_type, "inputs": inputs},
                  "3": show(["2", 0])}
        began = time.perf_counter()
        _, records = await run_prompt(rt, prompt)
    assert time.perf_counter() - began < 2
    run = of_type(records, ExecutionFailed)[0]
    assert run.node_id == "2"
    assert "timed out after 0.2 s" in run.exception_message
    assert f"--node-timeout {class_type}=SECONDS" in run.exception_message
    assert "2" not in {e.node_id for e in of_type(records, NodeCompleted)}


@pytest.mark.asyncio
async def test_thread_node_past_timeout_fails(tmp_path):
    settings = make_settings(tmp_path, node_timeouts={"TestQuietSleep": 0.1})
    async with Runtime(settings, make_registry()) as rt:
        prompt = {"1": const(1), "2": {"class_type": "TestQuietSleep", "inputs": {
            "value": ["1", 0], "seconds": 0.4}}, "3": show(["2", 0])}
        _, records = await run_prompt(rt, prompt)
    run = of_type(records, ExecutionFailed)[0]
    assert run.node_id == "2"
    assert "timed out after 0.1 s" in run.exception_message
    assert "2" not in {e.node_id for e in of_type(records, NodeCompleted)}


@pytest.mark.asyncio
@pytest.mark.parametrize("node_timeouts", [{}, {"TestFail": 30}])
async def test_own_timeout_error_is_kept(tmp_path, node_timeouts):
    # A TimeoutError that the node raises (a socket timeout) is its own
    # error, with or without a configured limit.
    settings = make_settings(tmp_path, node_timeouts=node_timeouts)
    async with Runtime(settings, make_registry()) as rt:
        prompt = {"1": const(1), "2": {"class_type": "TestFail", "inputs": {
            "value": ["1", 0], "message": "socket read timed out", "kind": "timeout"}},
            "3": show(["2", 0])}
        _, records = await run_prompt(rt, prompt)
    run = of_type(records, ExecutionFailed)[0]
    assert run.node_id == "2"
    assert run.exception_type == "TimeoutError"
    assert run.exception_message == "socket read timed out"


async def _interrupt_when_started(rt, node_id: str) -> None:
    subscription = rt.broadcaster.subscribe()
    try:
        while True:
            for record in await subscription.next_batch():
                if isinstance(record.event, NodeStarted) and record.event.node_id == node_id:
                    await rt.commands.interrupt([record.event.prompt_id])
                    return
    finally:
        subscription.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("node_class", ["TestAsyncSleep", "TestSlowAdd"])
async def test_interrupt_stops_running_node(tmp_path, node_class):
    async with open_runtime(tmp_path) as runtime:
        inputs = {"value": ["1", 0], "seconds": 10} if node_class == "TestAsyncSleep" else {
            "a": ["1", 0], "seconds": 10}
        prompt = {"1": const(1), "2": {"class_type": node_class, "inputs": inputs},
                  "3": show(["2", 0])}
        began = time.perf_counter()
        async with anyio.create_task_group() as tg:
            tg.start_soon(_interrupt_when_started, runtime, "2")
            _, records = await run_prompt(runtime, prompt)
        assert time.perf_counter() - began < 5
        interrupted = of_type(records, ExecutionInterrupted)[0]
        assert interrupted.node_id == "2"
        assert of_type(records, ExecutionSucceeded) == []


@pytest.mark.asyncio
async def test_progress_marks_are_coarse(tmp_path):
    async with open_runtime(tmp_path) as runtime:
        prompt = {"1": const(1), "2": {"class_type": "TestSlowAdd", "inputs": {
            "a": ["1", 0], "seconds": 0.1}}, "3": show(["2", 0])}
        ticks = []
        runtime.progress_listeners.append(lambda *args: ticks.append(args))
        _, records = await run_prompt(runtime, prompt)
        marks = of_type(records, NodeProgress)
        assert len(ticks) == 11
        assert 1 <= len(marks) <= 4


@pytest.mark.asyncio
async def test_queue_limit_answers_429(tmp_path):
    settings = make_settings(tmp_path, max_queue_size=2, run_worker=False)
    async with Runtime(settings, make_registry()) as rt:
        for _ in range(2):
            await rt.commands.submit({"prompt": {"1": const(1), "2": show(["1", 0])}})
        with pytest.raises(LimitExceededError) as raised:
            await rt.commands.submit({"prompt": {"1": const(1), "2": show(["1", 0])}})
    assert raised.value.status == 429
    assert raised.value.retry_after is not None


@pytest.mark.asyncio
async def test_deleted_queued_prompt_never_runs(tmp_path):
    settings = make_settings(tmp_path, run_worker=False)
    async with Runtime(settings, make_registry()) as rt:
        answer = await rt.commands.submit({"prompt": {"1": const(1), "2": show(["1", 0])}})
        await rt.commands.delete([answer["prompt_id"]])
        assert await rt.reader.queue_remaining() == 0
    settings.run_worker = True
    async with Runtime(settings, make_registry()) as rt:
        await anyio.sleep(0.3)
        records = await rt.store.read_stream(answer["prompt_id"])
    assert [type(r.event).__name__ for r in records] == ["PromptQueued", "PromptDeleted"]


@pytest.mark.asyncio
async def test_known_prompt_id_gets_first_response(tmp_path):
    # A client retrying a POST may send its first body again, send a changed one
    # or hit a full queue. A prompt_id already queued always gets the first response.
    settings = make_settings(tmp_path, max_queue_size=1, run_worker=False)
    async with Runtime(settings, make_registry()) as rt:
        prompt_id = "0b5e8a9c-3f1d-4c2a-9e7b-1a2b3c4d5e6f"
        body = {"prompt": {"1": const(1), "2": show(["1", 0])}, "prompt_id": prompt_id}
        first = await rt.commands.submit(body)
        assert await rt.commands.submit(body) == first  # the queue is full now
        invalid = {"prompt": {"1": {"class_type": "NoSuchNode", "inputs": {}}},
                   "prompt_id": prompt_id}
        assert await rt.commands.submit(invalid) == first
        records = await rt.store.read_stream(prompt_id)
    assert [type(r.event).__name__ for r in records] == ["PromptQueued"]


@pytest.mark.asyncio
async def test_objects_of_new_imports_are_frozen(tmp_path, monkeypatch):
    import gc
    import sys

    from brushwork.engine import executor

    monkeypatch.setattr(executor, "_frozen_module_count", 0)
    monkeypatch.setitem(sys.modules, "brushwork_test_new_module", object())
    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(len(sys.modules)))
    async with open_runtime(tmp_path) as runtime:
        for value in (1, 2):
            await run_prompt(runtime, {"1": const(value), "2": show(["1", 0])})
    # The first run freezes what was imported; the second imports nothing new.
    assert frozen == [len(sys.modules)]


@pytest.mark.asyncio
async def test_back_to_back_runs_share_a_commit(tmp_path):
    # An hour-long linger: only urgent appends commit, so the test also shows
    # that the last run's end event is urgent.
    settings = make_settings(tmp_path, run_worker=False, commit_linger=3600.0)
    async with Runtime(settings, make_registry()) as rt:
        first = await rt.commands.submit({"prompt": {"1": const(1), "2": show(["1", 0])}})
        second = await rt.commands.submit({"prompt": {"1": const(2), "2": show(["1", 0])}})
    settings.run_worker = True
    async with Runtime(settings, make_registry()) as rt:
        with anyio.fail_after(10):
            while not of_type(await rt.store.read_stream(second["prompt_id"]),
                              ExecutionSucceeded):
                await anyio.sleep(0.02)
        first_records = await rt.store.read_stream(first["prompt_id"])
        second_records = await rt.store.read_stream(second["prompt_id"])
    (succeeded,) = [r for r in first_records if isinstance(r.event, ExecutionSucceeded)]
    (started,) = [r for r in second_records if type(r.event).__name__ == "ExecutionStarted"]
    # One transaction stamps its events with one time.
    assert succeeded.recorded_at == started.recorded_at
    assert started.position == succeeded.position + 1
