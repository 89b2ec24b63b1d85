"""Run a workflow against local fake provider servers, with one command.

    python -m brushwork.providers.testing.demo examples/provider-chain.json

The fakes of every provider the workflow uses start on 127.0.0.1, a test
key is put into the environment, and the workflow runs exactly as
``brushwork run`` runs it, with each provider's base URL pointing at its
fake. No request leaves the machine.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from ...cli import main as cli_main
from ...cli_impl import load_workflow
from ...engine.registry import default_registry
from ..secrets import env_var_name
from . import FAKE_SERVERS
from .server import FakeProviderServer
from .support import secret_key


class _FakesThread(threading.Thread):
    """Runs the fake servers on their own event loop until stopped."""

    def __init__(self, classes: list[type[FakeProviderServer]]) -> None:
        super().__init__(daemon=True)
        self.classes = classes
        self.base_urls: dict[str, str] = {}
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.error: BaseException | None = None

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as error:  # reported to the main thread
            self.error = error
            self.ready.set()

    async def _serve(self) -> None:
        servers: list[Any] = []
        try:
            for cls in self.classes:
                server = await cls(api_key=secret_key(cls.provider)).start()
                servers.append(server)
                self.base_urls[cls.provider] = server.base_url
            self.stop = asyncio.Event()
            self.ready.set()
            await self.stop.wait()
        finally:
            for server in servers:
                await server.close()

    def shutdown(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.join(10)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0].startswith("-"):
        print("usage: python -m brushwork.providers.testing.demo WORKFLOW.json "
              "[brushwork run options]", file=sys.stderr)
        return 2
    workflow = load_workflow(Path(args[0]))
    registry = default_registry()
    providers = sorted({
        cls.provider for node in workflow.values()
        if (cls := registry.get(node.get("class_type", ""))) is not None and cls.provider
    })
    fakes = FAKE_SERVERS
    missing = [name for name in providers if name not in fakes]
    if missing:
        print(f"error: no fake server for provider(s) {', '.join(missing)}", file=sys.stderr)
        return 2
    thread = _FakesThread([fakes[name] for name in providers])
    thread.start()
    thread.ready.wait(30)
    if thread.error is not None:
        raise thread.error
    try:
        for name in providers:
            os.environ[env_var_name(name)] = secret_key(name)
        extra = [f"--provider-base-url={name}={url}" for name, url in thread.base_urls.items()]
        if not any(a == "--data-dir" or a.startswith("--data-dir=") for a in args):
            extra.append(f"--data-dir={tempfile.mkdtemp(prefix='brushwork-demo-')}")
        return cli_main(["run", *args, *extra])
    finally:
        thread.shutdown()


if __name__ == "__main__":
    sys.exit(main())
