"""The base of the fake provider servers: a real aiohttp server on 127.0.0.1.

A fake checks every request (method, path, auth header, encoding, required
and allowed fields), records it, and responds the way the real service does,
job lifecycle and error bodies included. A request that fails a check gets
the provider's error response and is listed in ``rejections``, so a test
that expects success asserts ``fake.rejections == []``.

Faults (``inject``) apply to the next requests of one *phase*: "submit"
(the paid request), "poll", "download" or "cancel". They are shared by every
fake; see ``faults.py``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web

from .faults import Fault, FaultKind


@dataclass
class UploadedFile:
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    method: str
    path: str
    phase: str
    query: dict[str, str]
    headers: dict[str, str]
    content_type: str
    match: dict[str, str] = field(default_factory=dict)
    json: Any = None
    form: dict[str, str | UploadedFile] = field(default_factory=dict)
    body: bytes = b""


class RequestProblem(Exception):
    """A request check failed; the fake responds with ``status`` and the provider's error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def require(condition: bool, message: str, status: int = 400) -> None:
    if not condition:
        raise RequestProblem(status, message)


def require_header(request: RecordedRequest, name: str, expected: str, status: int = 400) -> None:
    actual = request.headers.get(name.lower())
    require(actual == expected, f"header {name} is {actual!r}, expected {expected!r}", status)


def require_json_object(request: RecordedRequest) -> dict[str, Any]:
    require(request.content_type == "application/json",
            f"content type is {request.content_type!r}, expected application/json")
    require(isinstance(request.json, dict), "the body is not a JSON object")
    return request.json


def require_fields(
    body: Mapping[str, Any], *, required: tuple[str, ...], allowed: tuple[str, ...] | frozenset[str]
) -> None:
    missing = [name for name in required if name not in body]
    require(not missing, f"missing required fields: {', '.join(missing)}", 422)
    unknown = sorted(set(body) - set(allowed) - set(required))
    require(not unknown, f"unknown fields: {', '.join(unknown)}", 422)


def require_choice(body: Mapping[str, Any], name: str, choices: tuple[Any, ...]) -> None:
    if name in body:
        require(body[name] in choices, f"{name} {body[name]!r} is not one of {list(choices)}",
                422)


Handler = Callable[[RecordedRequest], Awaitable[web.StreamResponse]]


class FakeProviderServer:
    """Subclasses set ``provider``, ``base_path`` and add routes in ``setup_routes``."""

    provider: ClassVar[str] = "fake"
    # The path part of the provider's base URL ("/v1" for OpenAI).
    base_path: ClassVar[str] = ""
    # Content type of downloaded results; OVERSIZED and TRUNCATED_BODY faults send it.
    result_content_type: ClassVar[str] = "application/octet-stream"

    def __init__(
        self,
        *,
        api_key: str,
        polls_until_done: int = 2,
        hang_s: float = 30.0,
        oversize_bytes: int = 4 * 1024 * 1024,
    ) -> None:
        self.api_key = api_key
        self.polls_until_done = polls_until_done
        self.hang_s = hang_s
        self.oversize_bytes = oversize_bytes
        self.requests: list[RecordedRequest] = []
        self.rejections: list[str] = []
        # Paid requests the fake accepted (jobs created or results returned).
        self.submissions = 0
        self.jobs: dict[str, dict[str, Any]] = {}
        # When set, jobs stay running forever (the NEVER_FINISHES fault).
        self.jobs_never_finish = False
        # When set, the next jobs end in failure with this message.
        self.fail_jobs_with: str | None = None
        self.cancelled_jobs: list[str] = []
        # Seconds each API request waits before it is handled (to observe overlap).
        self.response_delay_s = 0.0
        self.active_requests = 0
        self.peak_active_requests = 0
        self._faults: list[Fault] = []
        self._closing = asyncio.Event()
        self._app = web.Application(client_max_size=64 * 1024 * 1024)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.setup_routes()

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> FakeProviderServer:
        self._runner = web.AppRunner(self._app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeProviderServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.origin + self.base_path

    # -- routes and checks -------------------------------------------------------

    def setup_routes(self) -> None:
        """Add the provider's routes with ``route``; override."""

    def route(self, method: str, path: str, phase: str, handler: Handler) -> None:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            recorded = await self._record(request, phase)
            fault = self._take_fault(phase)
            if fault is not None:
                return await self._apply_fault(fault, request, phase)
            self.active_requests += 1
            self.peak_active_requests = max(self.peak_active_requests, self.active_requests)
            try:
                if self.response_delay_s:
                    await asyncio.sleep(self.response_delay_s)
                self.check_auth(recorded)
                return await handler(recorded)
            except RequestProblem as problem:
                self.rejections.append(f"{recorded.method} {recorded.path}: {problem.message}")
                return self.error_response(problem.status, problem.message)
            finally:
                self.active_requests -= 1

        self._app.router.add_route(method, self.base_path + path, wrapped)

    def raw_route(self, method: str, path: str, phase: str, handler: Handler) -> None:
        """Add a route outside the API base path (result downloads on the fake's "CDN")."""
        async def wrapped(request: web.Request) -> web.StreamResponse:
            recorded = await self._record(request, phase)
            fault = self._take_fault(phase)
            if fault is not None:
                return await self._apply_fault(fault, request, phase)
            try:
                return await handler(recorded)
            except RequestProblem as problem:
                self.rejections.append(f"{recorded.method} {recorded.path}: {problem.message}")
                return web.Response(status=problem.status, text=problem.message)

        self._app.router.add_route(method, path, wrapped)

    def check_auth(self, request: RecordedRequest) -> None:
        """Reject a request without the right key; override per provider."""

    def error_body(self, status: int, message: str) -> Any:
        """Return the provider's error body; override per provider."""
        return {"error": {"message": message}}

    def error_response(self, status: int, message: str,
                       headers: Mapping[str, str] | None = None) -> web.Response:
        return web.json_response(self.error_body(status, message), status=status,
                                 headers=headers)

    def content_type_for(self, phase: str) -> str:
        """Return the content type of a successful response in ``phase`` (API ones are JSON)."""
        return self.result_content_type if phase == "download" else "application/json"

    def new_id(self) -> str:
        return secrets.token_hex(8)

    def file_url(self, name: str) -> str:
        """Return a presigned-looking result URL on this server (the query mimics a signature)."""
        return f"{self.origin}/files/{name}?signature={secrets.token_hex(6)}"

    def requests_in(self, phase: str) -> list[RecordedRequest]:
        return [item for item in self.requests if item.phase == phase]

    # -- jobs --------------------------------------------------------------------

    def create_job(self, **data: Any) -> dict[str, Any]:
        job = {"id": self.new_id(), "polls": 0, "fail": self.fail_jobs_with, **data}
        self.jobs[job["id"]] = job
        self.submissions += 1
        return job

    def advance(self, job: dict[str, Any]) -> str:
        """Count one poll and return the job's phase: "queued", "running", "done" or "failed"."""
        job["polls"] += 1
        if job.get("cancelled"):
            return "cancelled"
        if self.jobs_never_finish or job["polls"] < self.polls_until_done:
            return "queued" if job["polls"] == 1 else "running"
        return "failed" if job["fail"] else "done"

    # -- faults ------------------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        if fault.kind is FaultKind.NEVER_FINISHES:
            self.jobs_never_finish = True
            return
        self._faults.append(fault)

    def _take_fault(self, phase: str) -> Fault | None:
        for fault in self._faults:
            if fault.phase in (phase, "any") and fault.remaining > 0:
                fault.remaining -= 1
                fault.applied += 1
                return fault
        return None

    async def _apply_fault(
        self, fault: Fault, request: web.Request, phase: str
    ) -> web.StreamResponse:
        kind = fault.kind
        if kind is FaultKind.RATE_LIMIT:
            return self.error_response(429, "rate limit exceeded",
                                       headers={"Retry-After": fault.retry_after})
        if kind in (FaultKind.SERVER_ERROR, FaultKind.UNAVAILABLE):
            status = fault.status or (500 if kind is FaultKind.SERVER_ERROR else 503)
            return self.error_response(status, "internal error" if status == 500
                                       else "service unavailable")
        if kind is FaultKind.READ_TIMEOUT:
            # Hold the request open until the client gives up or the fake closes.
            try:
                await asyncio.wait_for(self._closing.wait(), self.hang_s)
            except TimeoutError:
                pass
            return web.Response(status=504)
        if kind is FaultKind.CONNECTION_RESET:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        if kind is FaultKind.TRUNCATED_BODY:
            content_type = fault.content_type or self.content_type_for(phase)
            response = web.StreamResponse(
                status=200, headers={"Content-Type": content_type, "Content-Length": "4096"})
            await response.prepare(request)
            await response.write(b'{"id": "trunc')
            if request.transport is not None:
                request.transport.close()
            return response
        if kind is FaultKind.MALFORMED_JSON:
            return web.Response(status=200, body=b'{"id": "abc", "status": ',
                                content_type="application/json")
        if kind is FaultKind.OVERSIZED:
            return await self._stream_oversized(request, fault, phase)
        raise AssertionError(f"fault {kind} has no server behaviour")

    async def _stream_oversized(
        self, request: web.Request, fault: Fault, phase: str
    ) -> web.StreamResponse:
        content_type = fault.content_type or self.content_type_for(phase)
        headers = {"Content-Type": content_type}
        if fault.declare_length:
            headers["Content-Length"] = str(self.oversize_bytes)
        response = web.StreamResponse(status=200, headers=headers)
        await response.prepare(request)
        chunk = b"\0" * (64 * 1024)
        sent = 0
        try:
            while sent < self.oversize_bytes:
                piece = chunk[: self.oversize_bytes - sent]
                await response.write(piece)
                sent += len(piece)
            await response.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass
        return response

    # -- recording -----------------------------------------------------------------

    async def _record(self, request: web.Request, phase: str) -> RecordedRequest:
        content_type = request.content_type
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            phase=phase,
            query=dict(request.query),
            headers={key.lower(): value for key, value in request.headers.items()},
            content_type=content_type,
            match=dict(request.match_info),
        )
        if content_type == "multipart/form-data":
            form = await request.post()
            for name, value in form.items():
                if isinstance(value, web.FileField):
                    recorded.form[name] = UploadedFile(value.filename, value.content_type,
                                                       value.file.read())
                else:
                    recorded.form[name] = str(value)
        elif request.can_read_body:
            recorded.body = await request.read()
            if content_type == "application/json":
                try:
                    recorded.json = json.loads(recorded.body)
                except ValueError:
                    recorded.json = None
        self.requests.append(recorded)
        return recorded
