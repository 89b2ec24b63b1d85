"""Inline placement: fast synchronous nodes move from threads to the event loop."""

from __future__ import annotations

import threading

import pytest

from brushwork.engine.placement import (
    DEMOTE_FACTOR,
    MAX_DEMOTIONS,
    MAX_KEYS,
    WARMUP_RUNS,
    InlinePlacement,
)
from tests.engine.conftest import open_runtime, run_prompt


class Tensor:
    """Just enough of a tensor for the signature: a shape and a dtype."""

    def __init__(self, *shape: int) -> None:
        self.shape = shape
        self.dtype = "float32"


def test_key_follows_shapes_and_settings():
    placement = InlinePlacement(0.001)
    small = placement.key("ImageBlur", [{"image": Tensor(1, 64, 64, 3), "blur_radius": 1}])
    same = placement.key("ImageBlur", [{"image": Tensor(1, 64, 64, 3), "blur_radius": 1}])
    large = placement.key("ImageBlur", [{"image": Tensor(1, 512, 512, 3), "blur_radius": 1}])
    wider = placement.key("ImageBlur", [{"image": Tensor(1, 64, 64, 3), "blur_radius": 9}])
    other = placement.key("ImageSharpen", [{"image": Tensor(1, 64, 64, 3), "blur_radius": 1}])
    assert small == same
    assert len({small, large, wider, other}) == 4


def test_unsortable_input_has_no_key():
    placement = InlinePlacement(0.001)
    assert placement.key("Node", [{"value": {1: "a", "b": 2}}]) is None
    assert not placement.runs_inline(None)


def test_fast_thread_runs_promote_a_key():
    placement = InlinePlacement(0.001)
    key = placement.key("ImageInvert", [{"image": Tensor(1, 8, 8, 3)}])
    for _ in range(WARMUP_RUNS - 1):
        placement.record_thread_run(key, 0.0001)
    assert not placement.runs_inline(key)
    placement.record_thread_run(key, 0.0001)
    assert placement.runs_inline(key)


def test_slow_thread_runs_do_not_count():
    placement = InlinePlacement(0.001)
    key = placement.key("ImageInvert", [{"image": Tensor(1, 8, 8, 3)}])
    for _ in range(10):
        placement.record_thread_run(key, 0.002)
    assert not placement.runs_inline(key)


def test_slow_inline_run_demotes_then_pins():
    placement = InlinePlacement(0.001)
    key = placement.key("ImageInvert", [{"image": Tensor(1, 8, 8, 3)}])
    for demotion in range(MAX_DEMOTIONS):
        for _ in range(WARMUP_RUNS):
            placement.record_thread_run(key, 0.0001)
        assert placement.runs_inline(key), demotion
        placement.record_inline_run(key, 0.0015)  # within the margin: stays inline
        assert placement.runs_inline(key)
        placement.record_inline_run(key, DEMOTE_FACTOR * 0.001 + 0.001)
        assert not placement.runs_inline(key)
    for _ in range(WARMUP_RUNS):
        placement.record_thread_run(key, 0.0001)
    assert not placement.runs_inline(key)


def test_keys_are_bounded():
    placement = InlinePlacement(0.001)
    first = placement.key("EmptyImage", [{"color": 0}])
    for _ in range(WARMUP_RUNS):
        placement.record_thread_run(first, 0.0001)
    for color in range(1, MAX_KEYS + 1):
        placement.record_thread_run(placement.key("EmptyImage", [{"color": color}]), 0.0001)
    assert len(placement._keys) == MAX_KEYS
    assert not placement.runs_inline(first)


def test_disabled_placement_has_no_keys():
    assert not InlinePlacement(0.0).enabled


async def thread_names(tmp_path, threshold: float, runs: int,
                       class_type: str = "TestThreadName") -> list[str]:
    names = []
    async with open_runtime(tmp_path, inline_threshold=threshold, cache_policy="none") as rt:
        prompt = {"1": {"class_type": class_type, "inputs": {"value": 7}},
                  "2": {"class_type": "TestOutput", "inputs": {"value": ["1", 0]}}}
        for _ in range(runs):
            _, records = await run_prompt(rt, prompt)
            (shown,) = [r.event.ui["text"] for r in records
                        if type(r.event).__name__ == "NodeCompleted" and r.event.node_id == "2"]
            names.extend(shown)
    return names


@pytest.mark.asyncio
async def test_fast_node_moves_to_event_loop(tmp_path):
    names = await thread_names(tmp_path, threshold=10.0, runs=WARMUP_RUNS + 2)
    loop_thread = threading.current_thread().name
    assert loop_thread not in names[:WARMUP_RUNS]
    assert names[WARMUP_RUNS:] == [loop_thread, loop_thread]


@pytest.mark.asyncio
async def test_zero_threshold_keeps_threads(tmp_path):
    names = await thread_names(tmp_path, threshold=0.0, runs=WARMUP_RUNS + 2)
    assert threading.current_thread().name not in names


def test_ignored_inputs_share_a_key():
    placement = InlinePlacement(0.001)
    ignore = frozenset({"color", "prompt"})
    red = placement.key("EmptyImage", [{"width": 64, "color": 0xFF0000, "prompt": {"1": {}}}],
                        ignore)
    blue = placement.key("EmptyImage", [{"width": 64, "color": 0x0000FF, "prompt": {"2": {}}}],
                         ignore)
    wide = placement.key("EmptyImage", [{"width": 512, "color": 0xFF0000}], ignore)
    assert red == blue
    assert red != wide


@pytest.mark.asyncio
async def test_opted_out_node_keeps_threads(tmp_path):
    names = await thread_names(tmp_path, threshold=10.0, runs=WARMUP_RUNS + 2,
                               class_type="TestThreadNameOffLoop")
    assert threading.current_thread().name not in names
