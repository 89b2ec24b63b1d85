"""A real `brushwork serve` subprocess on 127.0.0.1 and a small sync client for it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import websocket

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    def __init__(self, data_dir: Path, *extra_args: str, port: int | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.extra_args = list(extra_args)
        self.env = env or {}
        # Sent as "Authorization: Bearer TOKEN" with every request when set.
        self.token: str | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30, wait_ready: bool = True) -> ServerProcess:
        env = {**os.environ, "PYTHONPATH": str(REPO), **self.env}
        command = [sys.executable, "-m", "brushwork.cli", "serve", "--host", "127.0.0.1",
                   "--port", str(self.port), "--data-dir", str(self.data_dir),
                   "--extra-nodes", "tests.support.nodes", *self.extra_args]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=log, env=env, cwd=REPO)
        if not wait_ready:
            return self
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n"
                                   + self.log_path.read_text()[-3000:])
            try:
                self.get("/healthz")
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not answer within the timeout:\n"
                           + self.log_path.read_text()[-3000:])

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    # -- HTTP -------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, raw: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
        data = raw if raw is not None else (
            json.dumps(body).encode() if body is not None else None)
        sent = {"Content-Type": "application/json"}
        if self.token is not None:
            sent["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers={**sent, **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read(), dict(error.headers)

    def get(self, path: str) -> Any:
        status, body, _ = self.request("GET", path)
        if status != 200:
            raise AssertionError(f"GET {path} answered {status}: {body[:500]!r}")
        return json.loads(body)

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        status, raw, _ = self.request("POST", path, body)
        return status, (json.loads(raw) if raw else None)

    def websocket(self, client_id: str, after: int | None = None) -> websocket.WebSocket:
        url = f"ws://127.0.0.1:{self.port}/ws?clientId={client_id}"
        if after is not None:
            url += f"&after={after}"
        ws = websocket.WebSocket()
        headers = [f"Authorization: Bearer {self.token}"] if self.token is not None else None
        ws.connect(url, timeout=30, header=headers)
        return ws


def wait_for(predicate: Any, timeout: float = 30, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within the timeout")
        time.sleep(interval)


def follow_until_done(ws: websocket.WebSocket, prompt_id: str, timeout: float = 60
                      ) -> list[dict[str, Any]]:
    """Read messages the way ComfyUI's example client does, until executing node=null."""
    messages = []
    deadline = time.monotonic() + timeout
    ws.settimeout(timeout)
    while time.monotonic() < deadline:
        frame = ws.recv()
        if isinstance(frame, bytes):
            continue
        message = json.loads(frame)
        messages.append(message)
        data = message.get("data", {})
        if (message["type"] == "executing" and data.get("node") is None
                and data.get("prompt_id") == prompt_id):
            return messages
    raise AssertionError(f"run {prompt_id} did not finish; messages: {messages[-5:]}")
