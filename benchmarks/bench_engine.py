"""Model-free engine benchmarks, printed as a table.

    python benchmarks/bench_engine.py [throughput latency overhead fanout memory]

- throughput: 200 prompts of a 10-node image chain on 64x64 images, queued
  at once against a `brushwork serve` subprocess; prompts per second.
- latency: a 3-node and a 30-node prompt, POST /prompt to the websocket's
  execution_success, median of 20 (each prompt a new colour: no cache hits).
- overhead: engine time per node beyond the node's own work, from a run of
  200 constant-time nodes in process, and the share of it that appends cost.
- fanout: 32 provider nodes against a local fake that answers in 200 ms;
  the run should take under 1.3 times one call.
- memory: server RSS after 10,000 finished prompts against RSS after 100.

Every figure depends on the machine; compare runs on one machine only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

OPS = ["ImageInvert", "ImageBlur", "ImageSharpen", "ImageScale", "ImageBlend"]


def image_chain(nodes: int, color: int, size: int = 64) -> dict[str, Any]:
    prompt: dict[str, Any] = {"1": {"class_type": "EmptyImage", "inputs": {
        "width": size, "height": size, "batch_size": 1, "color": color % 16777216}}}
    previous = "1"
    for index in range(nodes - 2):
        node_id = str(index + 2)
        op = OPS[index % len(OPS)]
        inputs: dict[str, Any] = {"image": [previous, 0]}
        if op == "ImageBlur":
            inputs.update(blur_radius=1, sigma=1.0)
        elif op == "ImageSharpen":
            inputs.update(sharpen_radius=1, sigma=1.0, alpha=1.0)
        elif op == "ImageScale":
            inputs.update(upscale_method="bilinear", width=size, height=size, crop="disabled")
        elif op == "ImageBlend":
            inputs = {"image1": [previous, 0], "image2": ["1", 0], "blend_factor": 0.5,
                      "blend_mode": "normal"}
        prompt[node_id] = {"class_type": op, "inputs": inputs}
        previous = node_id
    prompt[str(nodes)] = {"class_type": "SaveImage",
                          "inputs": {"images": [previous, 0], "filename_prefix": "bench"}}
    return prompt


class Server:
    def __init__(self, *args: str) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="brushwork-bench-"))
        self.port = _free_port()
        self.args = args

    async def __aenter__(self) -> Server:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "brushwork.cli", "serve", "--port", str(self.port),
             "--data-dir", str(self.data_dir), "--log-level", "warning",
             "--extra-nodes", "tests.support.nodes", *self.args],
            cwd=REPO, env=env)
        self.session = aiohttp.ClientSession(f"http://127.0.0.1:{self.port}")
        for _ in range(600):
            try:
                async with self.session.get("/system_stats") as response:
                    if response.status == 200:
                        return self
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
        raise RuntimeError("server did not start")

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()
        self.process.terminate()
        self.process.wait(30)

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    async def submit(self, prompt: dict[str, Any], client_id: str | None = None) -> str:
        body: dict[str, Any] = {"prompt": prompt}
        if client_id:
            body["client_id"] = client_id
        async with self.session.post("/prompt", json=body) as response:
            answer = await response.json()
            if response.status != 200:
                raise RuntimeError(f"POST /prompt answered {response.status}: {answer}")
            return answer["prompt_id"]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _wait_done(ws: aiohttp.ClientWebSocketResponse, pending: set[str]) -> None:
    async for message in ws:
        if message.type != aiohttp.WSMsgType.TEXT:
            continue
        data = json.loads(message.data)
        if data["type"] in ("execution_success", "execution_error"):
            pending.discard(data["data"]["prompt_id"])
            if not pending:
                return


async def throughput(count: int = 200, nodes: int = 10) -> list[tuple[str, str]]:
    async with Server() as server:
        client = uuid.uuid4().hex
        ws = await server.session.ws_connect(f"/ws?clientId={client}")
        await server.submit(image_chain(nodes, 1), client)  # warm-up: imports torch
        await _wait_done(ws, {await server.submit(image_chain(nodes, 2), client)})
        began = time.perf_counter()
        ids = set(await asyncio.gather(*(server.submit(image_chain(nodes, 10 + i), client)
                                         for i in range(count))))
        await _wait_done(ws, ids)
        elapsed = time.perf_counter() - began
        await ws.close()
    return [(f"throughput: {count} x {nodes}-node 64x64 queued at once",
             f"{count / elapsed:.1f} prompts/s ({elapsed:.2f} s)")]


async def latency(runs: int = 20) -> list[tuple[str, str]]:
    rows = []
    async with Server() as server:
        client = uuid.uuid4().hex
        ws = await server.session.ws_connect(f"/ws?clientId={client}")
        await _wait_done(ws, {await server.submit(image_chain(3, 1), client)})
        for nodes in (3, 30):
            samples = []
            for run in range(runs):
                began = time.perf_counter()
                prompt_id = await server.submit(image_chain(nodes, 1000 * nodes + run), client)
                await _wait_done(ws, {prompt_id})
                samples.append(time.perf_counter() - began)
            rows.append((f"latency: {nodes}-node, submit to execution_success",
                         f"median {statistics.median(samples) * 1000:.1f} ms "
                         f"(min {min(samples) * 1000:.1f}, max {max(samples) * 1000:.1f})"))
        await ws.close()
    return rows


async def overhead(nodes: int = 200) -> list[tuple[str, str]]:
    from brushwork.engine.registry import NodeRegistry
    from brushwork.events.types import ExecutionSucceeded, NodeCompleted
    from brushwork.logs import configure
    from brushwork.runtime import Runtime
    from brushwork.settings import Settings
    from tests.support import nodes as test_nodes

    configure("console", "warning")
    registry = NodeRegistry(test_nodes.NODE_CLASSES)
    prompt: dict[str, Any] = {"0": {"class_type": "TestConstant", "inputs": {"value": 0}}}
    for index in range(1, nodes):
        prompt[str(index)] = {"class_type": "TestAdd",
                              "inputs": {"a": [str(index - 1), 0], "b": 1}}
    prompt["out"] = {"class_type": "TestOutput", "inputs": {"value": [str(nodes - 1), 0]}}
    samples = []
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="brushwork-bench-")),
                        cache_policy="none")
    async with Runtime(settings, registry) as runtime:
        for _ in range(5):
            subscription = runtime.broadcaster.subscribe()
            answer = await runtime.commands.submit({"prompt": prompt})
            finished = None
            work = 0.0
            while finished is None:
                for record in await subscription.next_batch():
                    event = record.event
                    if getattr(event, "prompt_id", None) != answer["prompt_id"]:
                        continue
                    if isinstance(event, NodeCompleted):
                        work += event.duration_s
                    elif isinstance(event, ExecutionSucceeded):
                        finished = event
            subscription.close()
            samples.append((finished.duration_s, work))
        before = await runtime.store.max_position()
    per_node = [(total - work) / (nodes + 1) * 1e6 for total, work in samples[1:]]
    return [(f"overhead: engine time per node ({nodes + 1} cheap nodes, median of 4)",
             f"{statistics.median(per_node):.0f} us (node work excluded; {before} events)")]


async def fanout(calls: int = 32, delay: float = 0.2) -> list[tuple[str, str]]:
    from brushwork.engine.registry import default_registry
    from brushwork.events.types import ExecutionSucceeded
    from brushwork.logs import configure
    from brushwork.runtime import Runtime
    from brushwork.settings import Settings

    configure("console", "warning")

    async def chat(request: web.Request) -> web.Response:
        await asyncio.sleep(delay)
        body = await request.json()
        return web.json_response({
            "id": "chatcmpl-bench", "object": "chat.completion", "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "ok"}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    os.environ["BRUSHWORK_SECRET_OPENAI"] = "bench-key-0123456789"
    registry = default_registry()
    chat_node = registry.require("OpenAIChat")
    spec = {i.name: i for i in chat_node.inputs}
    prompt: dict[str, Any] = {}
    for index in range(calls):
        inputs = {name: s.default for name, s in spec.items() if s.has_default}
        inputs["prompt"] = f"question {index}"
        prompt[f"c{index}"] = {"class_type": "OpenAIChat", "inputs": inputs}
        prompt[f"o{index}"] = {"class_type": "TestOutput", "inputs": {"value": [f"c{index}", 0]}}
    from tests.support import nodes as test_nodes

    for cls in test_nodes.NODE_CLASSES:
        registry.register(cls)
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="brushwork-bench-")),
                        provider_base_urls={"openai": f"http://127.0.0.1:{port}/v1"})
    samples = []
    async with Runtime(settings, registry) as runtime:
        runtime.lanes._default_provider_limit = calls
        hub = runtime.services["providers"]
        hub.settings = type(hub.settings)(**{**hub.settings.__dict__, "concurrency": calls})
        for run in range(3):
            for node in prompt.values():
                if node["class_type"] == "OpenAIChat":
                    node["inputs"]["prompt"] += f" {run}"
            subscription = runtime.broadcaster.subscribe()
            began = time.perf_counter()
            answer = await runtime.commands.submit({"prompt": prompt})
            done = False
            while not done:
                for record in await subscription.next_batch():
                    if (isinstance(record.event, ExecutionSucceeded)
                            and record.event.prompt_id == answer["prompt_id"]):
                        done = True
                    elif getattr(record.event, "exception_message", None):
                        raise RuntimeError(record.event.exception_message)
            subscription.close()
            samples.append(time.perf_counter() - began)
    await runner.cleanup()
    best = statistics.median(samples[1:])
    return [(f"fan-out: {calls} provider calls of {delay * 1000:.0f} ms each",
             f"{best * 1000:.0f} ms = {best / delay:.2f} x one call (target < 1.3)")]


async def memory(first: int = 100, total: int = 10_000) -> list[tuple[str, str]]:
    async with Server("--cache", "none") as server:
        client = uuid.uuid4().hex
        ws = await server.session.ws_connect(f"/ws?clientId={client}")

        async def run_batch(start: int, count: int) -> None:
            for offset in range(0, count, 200):
                ids = set(await asyncio.gather(*(
                    server.submit({"1": {"class_type": "TestConstant",
                                         "inputs": {"value": start + offset + i}},
                                   "2": {"class_type": "TestOutput",
                                         "inputs": {"value": ["1", 0]}}}, client)
                    for i in range(min(200, count - offset)))))
                await _wait_done(ws, ids)

        await run_batch(0, first)
        after_first = server.rss_mb()
        await run_batch(first, total - first)
        after_total = server.rss_mb()
        await ws.close()
    growth = (after_total - after_first) / after_first * 100
    return [(f"memory: server RSS after {first} / {total} prompts",
             f"{after_first:.0f} MB / {after_total:.0f} MB ({growth:+.1f} %, target within 10 %)")]


BENCHMARKS = {"throughput": throughput, "latency": latency, "overhead": overhead,
              "fanout": fanout, "memory": memory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", default=list(BENCHMARKS), choices=list(BENCHMARKS))
    args = parser.parse_args()
    rows = []
    for name in args.names:
        rows.extend(asyncio.run(BENCHMARKS[name]()))
    width = max(len(label) for label, _ in rows)
    print(f"| {'benchmark'.ljust(width)} | result |")
    print(f"| {'-' * width} | --- |")
    for label, value in rows:
        print(f"| {label.ljust(width)} | {value} |")


if __name__ == "__main__":
    main()
