"""Throughput of one PostgreSQL log with 1, 2 and 4 workers, printed as a table.

    python benchmarks/bench_workers.py [--prompts 120] [--workers 1,2,4]

One API server (`serve --no-worker`) takes the prompts; N `brushwork worker`
processes run them. Two workloads: a CPU-bound 10-node image chain (bounded
by the machine's cores) and an I/O-bound prompt that waits 100 ms the way a
provider call does (bounded by workers, one prompt at a time each). Needs the
PostgreSQL server at 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_engine import Server, _wait_done, image_chain  # noqa: E402


def io_prompt(index: int) -> dict:
    return {"1": {"class_type": "TestConstant", "inputs": {"value": index}},
            "2": {"class_type": "TestAsyncSleep", "inputs": {"value": ["1", 0], "seconds": 0.1}},
            "3": {"class_type": "TestOutput", "inputs": {"value": ["2", 0]}}}


async def admin(statement: str) -> None:
    conn = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def measure(workers: int, prompts: int, workload: str) -> float:
    name = f"brushwork_bench_{uuid.uuid4().hex[:10]}"
    await admin(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    data_dir = Path(tempfile.mkdtemp(prefix="brushwork-bench-"))
    processes = []
    try:
        async with Server("--no-worker", "--database-url", url) as server:
            server.data_dir = data_dir
            env = {**os.environ, "PYTHONPATH": str(REPO)}
            for _ in range(workers):
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", "brushwork.cli", "worker", "--database-url", url,
                     "--data-dir", str(data_dir), "--extra-nodes", "tests.support.nodes",
                     "--log-level", "warning"], cwd=REPO, env=env))
            client = uuid.uuid4().hex
            ws = await server.session.ws_connect(f"/ws?clientId={client}")
            make = (lambda i: image_chain(10, i)) if workload == "cpu" else io_prompt
            warm = {await server.submit(make(10_000 + i), client) for i in range(workers * 2)}
            await _wait_done(ws, warm)
            began = time.perf_counter()
            ids = set(await asyncio.gather(*(server.submit(make(i), client)
                                             for i in range(prompts))))
            await _wait_done(ws, ids)
            elapsed = time.perf_counter() - began
            await ws.close()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
        await admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{name}' AND pid <> pg_backend_pid()")
        await admin(f'DROP DATABASE IF EXISTS "{name}"')
    return prompts / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=120)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    print("| workers | 10-node image chain (CPU) | 100 ms I/O wait per prompt |")
    print("| --- | --- | --- |")
    for count in counts:
        cpu = asyncio.run(measure(count, args.prompts, "cpu"))
        io = asyncio.run(measure(count, args.prompts, "io"))
        print(f"| {count} | {cpu:.1f} prompts/s | {io:.1f} prompts/s |", flush=True)


if __name__ == "__main__":
    main()
