"""Nodes for tests: slow, failing, counting, lazy and list nodes with no torch.

Servers under test load them with ``--extra-nodes tests.support.nodes``.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import anyio

from brushwork.engine.node import Input, Node, NodeOutput, Output


class TestConstant(Node):
    class_type = "TestConstant"
    category = "testing"
    lane = "inline"
    inputs = (Input("value", "INT", default=0, min=-(2**63), max=2**63 - 1),)
    outputs = (Output("INT"),)

    def execute(self, ctx: Any, value: int) -> tuple[int]:
        return (value,)


class TestAdd(Node):
    class_type = "TestAdd"
    category = "testing"
    inputs = (Input("a", "INT"), Input("b", "INT", default=0))
    outputs = (Output("INT"),)

    def execute(self, ctx: Any, a: int, b: int) -> tuple[int]:
        return (a + b,)


class TestSlowAdd(Node):
    """Adds after a sleep that reports progress ten times (interruptible at each step)."""

    class_type = "TestSlowAdd"
    category = "testing"
    inputs = (Input("a", "INT"), Input("b", "INT", default=0),
              Input("seconds", "FLOAT", default=0.2, min=0, max=60))
    outputs = (Output("INT"),)

    def execute(self, ctx: Any, a: int, b: int, seconds: float) -> tuple[int]:
        for step in range(10):
            ctx.progress(step, 10)
            time.sleep(seconds / 10)
        ctx.progress(10, 10)
        _count_run(ctx, "TestSlowAdd")
        return (a + b,)


class TestAsyncSleep(Node):
    """An I/O-style node: sleeps on the event loop, like a provider call."""

    class_type = "TestAsyncSleep"
    category = "testing"
    lane = "io"
    inputs = (Input("value", "INT"), Input("seconds", "FLOAT", default=0.2, min=0, max=60))
    outputs = (Output("INT"),)

    async def execute(self, ctx: Any, value: int, seconds: float) -> tuple[int]:
        await anyio.sleep(seconds)
        return (value,)


class TestQuietSleep(Node):
    """Sleeps in its thread without progress steps, so nothing can stop it early."""

    class_type = "TestQuietSleep"
    category = "testing"
    inputs = (Input("value", "INT"), Input("seconds", "FLOAT", default=0.2, min=0, max=60))
    outputs = (Output("INT"),)

    def execute(self, ctx: Any, value: int, seconds: float) -> tuple[int]:
        time.sleep(seconds)
        return (value,)


class TestFail(Node):
    """Raises RuntimeError, or TimeoutError with ``kind`` "timeout", with the message."""

    class_type = "TestFail"
    category = "testing"
    inputs = (Input("value", "INT"), Input("message", "STRING", default="boom"),
              Input("kind", "STRING", default="runtime"))
    outputs = (Output("INT"),)

    def execute(self, ctx: Any, value: int, message: str, kind: str = "runtime") -> tuple[int]:
        if kind == "timeout":
            raise TimeoutError(message)
        raise RuntimeError(message)


class TestOutput(Node):
    """An output node that shows its value as text and records each run in a file."""

    class_type = "TestOutput"
    category = "testing"
    output_node = True
    inputs = (Input("value", "*"),)

    def execute(self, ctx: Any, value: Any) -> NodeOutput:
        _count_run(ctx, "TestOutput")
        return NodeOutput((), {"text": [str(value)]})


class TestThreadName(Node):
    """Returns the name of the thread that ran it (where the placement put it)."""

    class_type = "TestThreadName"
    category = "testing"
    inputs = (Input("value", "INT", default=0),)
    outputs = (Output("STRING"),)

    def execute(self, ctx: Any, value: int) -> tuple[str]:
        import threading

        return (threading.current_thread().name,)


class TestThreadNameOffLoop(TestThreadName):
    """TestThreadName for a node that must never run on the event loop."""

    class_type = "TestThreadNameOffLoop"
    inline_when_fast = False


class TestLazySwitch(Node):
    """Evaluates only the branch that ``select`` picks (lazy inputs)."""

    class_type = "TestLazySwitch"
    category = "testing"
    inputs = (Input("select", "BOOLEAN", default=True),
              Input("on_true", "INT", lazy=True, optional=True),
              Input("on_false", "INT", lazy=True, optional=True))
    outputs = (Output("INT"),)

    def check_lazy_status(self, select: bool, on_true: Any = None,
                          on_false: Any = None) -> list[str]:
        return ["on_true"] if select else ["on_false"]

    def execute(self, ctx: Any, select: bool, on_true: Any = None,
                on_false: Any = None) -> tuple[Any]:
        return (on_true if select else on_false,)


class TestMakeList(Node):
    class_type = "TestMakeList"
    category = "testing"
    inputs = (Input("count", "INT", default=3, min=0, max=1000),)
    outputs = (Output("INT", is_list=True),)

    def execute(self, ctx: Any, count: int) -> tuple[list[int]]:
        return (list(range(count)),)


class TestSumList(Node):
    class_type = "TestSumList"
    category = "testing"
    input_is_list = True
    inputs = (Input("values", "INT"),)
    outputs = (Output("INT"),)

    def execute(self, ctx: Any, values: list[int]) -> tuple[int]:
        return (sum(values),)


class TestCrashProcess(Node):
    """Kills its own process with SIGKILL while ``marker`` exists: a node that crashes hosts."""

    class_type = "TestCrashProcess"
    category = "testing"
    inputs = (Input("value", "INT"), Input("marker", "STRING", default=""))
    outputs = (Output("INT"),)

    def execute(self, ctx: Any, value: int, marker: str) -> tuple[int]:
        _count_run(ctx, "TestCrashProcess")
        if marker and Path(marker).exists():
            os.kill(os.getpid(), signal.SIGKILL)
        return (value,)


def _count_run(ctx: Any, name: str) -> None:
    """Append one line per run to $BRUSHWORK_TEST_RUN_LOG, so tests can count executions."""
    path = os.environ.get("BRUSHWORK_TEST_RUN_LOG")
    if path:
        with Path(path).open("a") as handle:
            handle.write(f"{ctx.prompt_id} {ctx.node_id} {name} {ctx.attempt}\n")
            handle.flush()
            os.fsync(handle.fileno())


NODE_CLASSES = [
    TestConstant, TestAdd, TestSlowAdd, TestAsyncSleep, TestQuietSleep, TestFail, TestOutput,
    TestLazySwitch, TestMakeList, TestSumList, TestCrashProcess, TestThreadName,
    TestThreadNameOffLoop,
]
