"""The HTTP client of one provider: session, limits, retries and the circuit breaker.

``ProviderClient.send`` runs one logical request as up to
``RetryPolicy.max_attempts`` HTTP attempts. Each attempt passes the circuit
breaker, takes one slot of the provider's concurrency limiter while it runs,
and hands a successful response to a *reader* (read JSON, read bytes, stream
to a file). Failures are classified once, in ``AttemptFailure``, and the
retry mode of the request decides which of them are retried:

- ``"idempotent"`` (polls, downloads, submissions that carry an idempotency
  key): every transient failure is retried.
- ``"unsafe"`` (a paid submission without an idempotency key): only failures
  that show the provider did not accept the work are retried, namely
  connection errors before the request was sent (refused, DNS, connect
  timeout) and 429 responses. A 5xx or a lost response ends the call with
  ``may_have_charged=True``, because the provider may have started the work.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import urlsplit

import aiohttp
import anyio
import structlog

from ..errors import ProviderError
from .breaker import CircuitBreaker
from .redact import redact_text
from .retry import backoff_delay, parse_retry_after
from .settings import BreakerPolicy, PollPolicy, ProviderSettings, RetryPolicy, Timeouts

log = structlog.get_logger("brushwork.providers")

T = TypeVar("T")
RetryMode = Literal["idempotent", "unsafe"]

_ERROR_BODY_LIMIT = 64 * 1024
_MESSAGE_LIMIT = 400


# -- provider description ---------------------------------------------------


def bearer_auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def header_auth(name: str) -> Callable[[str], dict[str, str]]:
    """Return an auth function that sends the key in the header ``name``."""

    def auth(key: str) -> dict[str, str]:
        return {name: key}

    return auth


def default_error_message(body: Any) -> str | None:
    """Pull a human-readable message out of a provider's error body (JSON or text)."""
    if isinstance(body, str):
        return body.strip()[:_MESSAGE_LIMIT] or None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        message = error.get("message") or error.get("type") or error.get("code")
        if message:
            return str(message)
    elif isinstance(error, str) and error:
        return error
    detail = body.get("detail")
    if isinstance(detail, dict):
        parts = [str(detail[key]) for key in ("status", "message") if detail.get(key)]
        if parts:
            return ": ".join(parts)
    elif isinstance(detail, list) and detail:
        return "; ".join(str(item.get("msg", item)) if isinstance(item, dict) else str(item)
                         for item in detail[:5])
    elif detail:
        return str(detail)
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        return "; ".join(str(item) for item in errors[:5])
    for key in ("message", "title", "failure", "name"):
        if body.get(key):
            return str(body[key])
    return None


@dataclass(frozen=True)
class ProviderSpec:
    """Description of one provider for the shared layer: URLs, auth, errors, polling."""

    # The provider's name: settings key, default secret name, audit ``provider`` field.
    name: str
    # The vendor's name as messages show it.
    display_name: str
    # The API's base URL; request paths are joined to it.
    base_url: str
    # Returns the auth headers for a key.
    auth: Callable[[str], Mapping[str, str]]
    # Headers sent on every API request (API version headers).
    default_headers: Mapping[str, str] = field(default_factory=dict)
    # Other hosts that may receive the key, as exact names or ".suffix" patterns;
    # the base URL's host always may. Used for provider-supplied polling URLs.
    auth_hosts: tuple[str, ...] = ()
    error_message: Callable[[Any], str | None] = default_error_message
    # The default poll policy of this provider's jobs (video jobs take longer).
    poll: PollPolicy | None = None
    # Where an operator manages keys and billing, for error messages.
    console_url: str | None = None


# -- request and response ---------------------------------------------------


@dataclass(frozen=True)
class FormField:
    """One ``multipart/form-data`` part; ``filename`` makes it a file part."""

    name: str
    value: str | bytes
    filename: str | None = None
    content_type: str | None = None


@dataclass
class HttpRequest:
    method: str
    url: str
    # The URL without query string, for messages and audit events.
    endpoint: str
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    form: Sequence[FormField] | None = None
    params: Mapping[str, str] | None = None
    retry: RetryMode = "idempotent"
    # The request starts paid work at the provider.
    submission: bool = False
    # The provider already accepted the paid work (polls, downloads of results).
    accepted: bool = False
    # Redirects are followed only for requests that carry no key.
    allow_redirects: bool = False
    secret_name: str | None = None
    idempotency_key: str | None = None
    # Replaces Timeouts.total_s for this request (downloads).
    total_timeout_s: float | None = None


@dataclass
class Sent(Generic[T]):
    """The result of a request that succeeded, possibly after retries."""

    value: T
    status: int
    headers: Mapping[str, str]
    attempts: int
    latency_s: float


class FailureKind(StrEnum):
    CONNECT = "connect"
    CONNECT_TIMEOUT = "connect_timeout"
    TLS = "tls"
    READ_TIMEOUT = "read_timeout"
    DISCONNECTED = "disconnected"
    TRUNCATED = "truncated"
    HTTP_STATUS = "http_status"
    REDIRECT = "redirect"
    BAD_BODY = "bad_body"
    TOO_LARGE = "too_large"
    BAD_CONTENT_TYPE = "bad_content_type"
    INVALID_URL = "invalid_url"


@dataclass
class AttemptFailure(Exception):
    """One failed attempt, classified. Readers raise it for bad 2xx bodies."""

    kind: FailureKind
    detail: str
    status: int | None = None
    retry_after: float | None = None
    # The provider certainly did not accept the work (nothing was sent, or it returned 4xx).
    rejected_before_accept: bool = False
    # Trying again may succeed.
    transient: bool = True
    # The failure indicates an unhealthy service, so it counts towards the breaker.
    unhealthy: bool = True

    def __str__(self) -> str:
        return self.detail


def _status_failure(status: int, headers: Mapping[str, str], message: str | None,
                    now: float) -> AttemptFailure:
    text = f"HTTP {status}" + (f" ({message})" if message else "")
    if status == 429:
        return AttemptFailure(
            FailureKind.HTTP_STATUS, text, status=status,
            retry_after=parse_retry_after(headers, now),
            rejected_before_accept=True, transient=True, unhealthy=False,
        )
    if status >= 500:
        return AttemptFailure(FailureKind.HTTP_STATUS, text, status=status,
                              retry_after=parse_retry_after(headers, now))
    if 300 <= status < 400:
        return AttemptFailure(
            FailureKind.REDIRECT, f"{text}, an unexpected redirect to "
            f"{strip_query(headers.get('location', '?'))}",
            status=status, rejected_before_accept=True, transient=False, unhealthy=False,
        )
    return AttemptFailure(FailureKind.HTTP_STATUS, text, status=status,
                          rejected_before_accept=True, transient=False, unhealthy=False)


def _exception_failure(exc: BaseException) -> AttemptFailure:
    """Classify an aiohttp or timeout exception of one attempt."""
    name = type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return AttemptFailure(FailureKind.CONNECT_TIMEOUT, "connecting timed out",
                              rejected_before_accept=True)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return AttemptFailure(FailureKind.TLS, f"TLS failed ({name}: {exc})",
                              rejected_before_accept=True, transient=False)
    if isinstance(exc, aiohttp.ClientConnectorError):
        # Refused, unreachable or DNS failure: the request was never sent.
        return AttemptFailure(FailureKind.CONNECT, f"connection failed ({name}: {exc})",
                              rejected_before_accept=True)
    if isinstance(exc, TimeoutError):
        return AttemptFailure(FailureKind.READ_TIMEOUT, "the response timed out")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return AttemptFailure(FailureKind.TRUNCATED, f"the response body was cut short ({exc})")
    if isinstance(exc, aiohttp.InvalidURL):
        return AttemptFailure(FailureKind.INVALID_URL, f"invalid URL {exc}",
                              rejected_before_accept=True, transient=False, unhealthy=False)
    return AttemptFailure(FailureKind.DISCONNECTED, f"the connection failed ({name}: {exc})")


def strip_query(url: str) -> str:
    """Drop the query and fragment: presigned URLs carry credentials there."""
    parts = urlsplit(url)
    if not parts.scheme:
        return parts.path
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


# -- response readers ---------------------------------------------------------


def _media_type(response: aiohttp.ClientResponse) -> str:
    return response.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _check_length(response: aiohttp.ClientResponse, max_bytes: int) -> None:
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise AttemptFailure(
            FailureKind.TOO_LARGE,
            f"the response is {declared} bytes, over the {max_bytes}-byte limit",
            transient=False, unhealthy=False,
        )


def _too_large(max_bytes: int) -> AttemptFailure:
    return AttemptFailure(
        FailureKind.TOO_LARGE,
        f"the response exceeded the {max_bytes}-byte limit and was not read further",
        transient=False, unhealthy=False,
    )


def check_content_type(response: aiohttp.ClientResponse, accepted: Sequence[str]) -> str:
    """Return the media type, or raise if it matches none of ``accepted`` (prefixes)."""
    media_type = _media_type(response)
    if accepted and not any(media_type.startswith(prefix) for prefix in accepted):
        raise AttemptFailure(
            FailureKind.BAD_CONTENT_TYPE,
            f"the response has content type {media_type or 'none'!r}, "
            f"expected {' or '.join(accepted)}",
            transient=False, unhealthy=False,
        )
    return media_type


async def read_limited(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """Read the body into memory, aborting once it passes ``max_bytes``."""
    _check_length(response, max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def json_reader(max_bytes: int) -> Callable[[aiohttp.ClientResponse], Awaitable[Any]]:
    async def read(response: aiohttp.ClientResponse) -> Any:
        body = await read_limited(response, max_bytes)
        try:
            return json.loads(body)
        except ValueError as exc:
            raise AttemptFailure(
                FailureKind.BAD_BODY,
                f"the response is not valid JSON ({exc.__class__.__name__} at byte "
                f"{getattr(exc, 'pos', '?')} of {len(body)})",
            ) from None

    return read


def bytes_reader(
    max_bytes: int, content_types: Sequence[str]
) -> Callable[[aiohttp.ClientResponse], Awaitable[tuple[bytes, str]]]:
    async def read(response: aiohttp.ClientResponse) -> tuple[bytes, str]:
        media_type = check_content_type(response, content_types)
        return await read_limited(response, max_bytes), media_type

    return read


def file_reader(
    dest: Path, max_bytes: int, content_types: Sequence[str]
) -> Callable[[aiohttp.ClientResponse], Awaitable[tuple[int, str]]]:
    """Stream the body into ``dest`` through a temporary file that is renamed at the end."""

    async def read(response: aiohttp.ClientResponse) -> tuple[int, str]:
        media_type = check_content_type(response, content_types)
        _check_length(response, max_bytes)
        partial = dest.with_name(f".{dest.name}.part")
        size = 0
        try:
            async with await anyio.open_file(partial, "wb") as handle:
                async for chunk in response.content.iter_chunked(256 * 1024):
                    size += len(chunk)
                    if size > max_bytes:
                        raise _too_large(max_bytes)
                    await handle.write(chunk)
            await anyio.Path(partial).replace(dest)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.Path(partial).unlink(missing_ok=True)
            raise
        return size, media_type

    return read


# -- the client -----------------------------------------------------------------


class ProviderClient:
    """One provider's session, limiter, breaker and policies, shared by all its nodes."""

    def __init__(
        self,
        spec: ProviderSpec,
        settings: ProviderSettings,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        wall_clock: Callable[[], float] = time.time,
        random: Callable[[], float],
    ) -> None:
        overrides = settings.for_provider(spec.name)
        self.spec = spec
        self.settings = settings
        self.base_url = (settings.base_url_override(spec.name) or spec.base_url).rstrip("/")
        self.timeouts: Timeouts = overrides.timeouts or settings.timeouts
        self.retry_policy: RetryPolicy = overrides.retry or settings.retry
        self.poll_policy: PollPolicy = (
            overrides.poll or settings.poll or spec.poll or PollPolicy()
        )
        breaker_policy: BreakerPolicy = overrides.breaker or settings.breaker
        self.concurrency = overrides.concurrency or settings.concurrency
        self.breaker = CircuitBreaker(spec.name, breaker_policy, clock)
        self._clock = clock
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._random = random
        self._session: aiohttp.ClientSession | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._closed = False

    @property
    def name(self) -> str:
        return self.spec.name

    # -- URLs ------------------------------------------------------------------

    def url_for(self, path_or_url: str) -> str:
        """Join a path to the base URL; an absolute URL is returned unchanged."""
        if urlsplit(path_or_url).scheme:
            return path_or_url
        return self.base_url + "/" + path_or_url.lstrip("/")

    def endpoint_for(self, url: str) -> str:
        """Return a URL's audit label: its path under the base URL, else the URL without query."""
        stripped = strip_query(url)
        if stripped.startswith(self.base_url + "/"):
            return stripped[len(self.base_url):]
        return stripped

    def may_send_key(self, url: str) -> bool:
        """Return whether ``url`` is on a host that may receive the provider key."""
        target = urlsplit(url)
        base = urlsplit(self.base_url)
        host = (target.hostname or "").lower()
        if (target.scheme, host, target.port) == (base.scheme, base.hostname, base.port):
            return True
        if target.scheme != "https":
            return False
        for pattern in self.spec.auth_hosts:
            pattern = pattern.lower()
            if host == pattern or (pattern.startswith(".") and host.endswith(pattern)):
                return True
        return False

    # -- session -----------------------------------------------------------------

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError(f"the {self.name} provider client is closed")
        if self._session is None:
            timeout = aiohttp.ClientTimeout(
                total=self.timeouts.total_s,
                sock_connect=self.timeouts.connect_s,
                sock_read=self.timeouts.read_s,
            )
            connector = aiohttp.TCPConnector(limit=self.settings.max_connections)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=timeout,
                headers={"User-Agent": self.settings.user_agent},
            )
        return self._session

    def _ensure_limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.concurrency)
        return self._limiter

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- sending -----------------------------------------------------------------

    async def send(
        self,
        request: HttpRequest,
        reader: Callable[[aiohttp.ClientResponse], Awaitable[T]],
    ) -> Sent[T]:
        """Run ``request`` with retries; raise ProviderError when it finally fails."""
        policy = self.retry_policy
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                status, headers, value = await self._attempt(request, reader)
            except AttemptFailure as failure:
                delay = self._retry_delay(request, failure, attempt, policy)
                if delay is None:
                    raise self._error(request, failure, attempt) from None
                log.warning(
                    "provider request failed; retrying",
                    provider=self.name,
                    method=request.method,
                    endpoint=request.endpoint,
                    attempt=attempt,
                    max_attempts=policy.max_attempts,
                    delay_s=round(delay, 3),
                    reason=redact_text(failure.detail),
                )
                await self._sleep(delay)
                continue
            return Sent(value, status, headers, attempt, self._clock() - started)

    def _retry_delay(
        self, request: HttpRequest, failure: AttemptFailure, attempt: int, policy: RetryPolicy
    ) -> float | None:
        """Return how long to wait before the next attempt, or None to stop."""
        if not failure.transient or attempt >= policy.max_attempts:
            return None
        if request.retry == "unsafe" and not failure.rejected_before_accept:
            return None
        if failure.retry_after is not None:
            if failure.retry_after > policy.max_retry_after_s:
                failure.detail += (
                    f"; the provider requested a retry after {failure.retry_after:.0f} s, "
                    f"more than the {policy.max_retry_after_s:.0f} s this engine waits"
                )
                return None
            return failure.retry_after
        return backoff_delay(attempt, policy, self._random)

    async def _attempt(
        self,
        request: HttpRequest,
        reader: Callable[[aiohttp.ClientResponse], Awaitable[T]],
    ) -> tuple[int, Mapping[str, str], T]:
        self.breaker.before_call()
        try:
            async with self._ensure_limiter():
                result = await self._exchange(request, reader)
        except AttemptFailure as failure:
            if failure.unhealthy:
                self.breaker.record_failure(
                    f"{failure.detail} on {request.method} {request.endpoint}"
                )
            else:
                self.breaker.record_success()
            raise
        except BaseException:
            self.breaker.release()
            raise
        self.breaker.record_success()
        return result

    async def _exchange(
        self,
        request: HttpRequest,
        reader: Callable[[aiohttp.ClientResponse], Awaitable[T]],
    ) -> tuple[int, Mapping[str, str], T]:
        session = self._ensure_session()
        data = _build_form(request.form) if request.form is not None else None
        options: dict[str, Any] = {}
        if request.total_timeout_s is not None:
            options["timeout"] = aiohttp.ClientTimeout(
                total=request.total_timeout_s,
                sock_connect=self.timeouts.connect_s,
                sock_read=self.timeouts.read_s,
            )
        try:
            async with session.request(
                request.method,
                request.url,
                headers=request.headers,
                json=request.json if request.form is None else None,
                data=data,
                params=request.params,
                allow_redirects=request.allow_redirects,
                **options,
            ) as response:
                if response.status >= 300:
                    raise _status_failure(
                        response.status, response.headers,
                        await self._error_message(response), self._wall_clock(),
                    )
                value = await reader(response)
                return response.status, response.headers.copy(), value
        except AttemptFailure:
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _exception_failure(exc) from None

    async def _error_message(self, response: aiohttp.ClientResponse) -> str | None:
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in response.content.iter_chunked(16 * 1024):
                chunks.append(chunk)
                size += len(chunk)
                if size >= _ERROR_BODY_LIMIT:
                    break
        except (aiohttp.ClientError, TimeoutError):
            if not chunks:
                return None
        text = b"".join(chunks)[:_ERROR_BODY_LIMIT].decode("utf-8", errors="replace")
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = text
        try:
            message = self.spec.error_message(body)
        except (AttributeError, KeyError, TypeError, ValueError):
            message = None
        if not message:
            return None
        message = " ".join(message.split())
        return redact_text(message)[:_MESSAGE_LIMIT]

    def _error(self, request: HttpRequest, failure: AttemptFailure, attempts: int) -> ProviderError:
        may_have_charged = request.accepted or (
            request.submission and not failure.rejected_before_accept
        )
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        message = (
            f"{self.spec.display_name} {request.method} {request.endpoint} failed after "
            f"{tries}: {failure.detail}. {self._advice(request, failure)}"
        )
        if may_have_charged:
            message += " The provider may already have charged for this request."
        return ProviderError(
            redact_text(message),
            provider=self.name,
            retryable=failure.transient,
            may_have_charged=may_have_charged,
            http_status=failure.status,
            details={
                "attempts": attempts,
                "endpoint": request.endpoint,
                "method": request.method,
                "failure": failure.kind.value,
            },
        )

    def _advice(self, request: HttpRequest, failure: AttemptFailure) -> str:
        status = failure.status
        secret = f"secret {request.secret_name!r}" if request.secret_name else "the secret"
        console = f" ({self.spec.console_url})" if self.spec.console_url else ""
        if failure.kind is FailureKind.HTTP_STATUS and status is not None:
            if status == 401:
                return f"Check the API key stored under {secret}{console}."
            if status == 402:
                return f"Check the account's credits or billing{console}."
            if status == 403:
                return ("The key may lack access to this model or endpoint, or the provider "
                        "rejected the content; check the key's permissions and the inputs.")
            if status == 404:
                return "The resource was not found; check the model name and job id."
            if status == 429:
                return "The provider is rate limiting; retry later or lower the concurrency."
            if status >= 500:
                return "The provider had a server error; retry later."
            return "Check the node's inputs against the provider's limits."
        advice = {
            FailureKind.CONNECT: "Check the network and the provider's base URL "
                                 f"({self.base_url}).",
            FailureKind.CONNECT_TIMEOUT: "Check the network and the provider's base URL "
                                         f"({self.base_url}).",
            FailureKind.TLS: "Check the system's CA certificates and the base URL.",
            FailureKind.READ_TIMEOUT: "The provider did not respond in time; retry later "
                                      "or raise the read timeout.",
            FailureKind.TOO_LARGE: "If this size is expected, raise max_response_bytes, "
                                   "max_image_bytes or max_download_bytes in the provider "
                                   "settings.",
            FailureKind.BAD_CONTENT_TYPE: "The provider returned something other than the "
                                          "result, such as an error page; retry later.",
            FailureKind.REDIRECT: "Check the provider's base URL.",
            FailureKind.INVALID_URL: "Check the provider's base URL.",
        }
        return advice.get(failure.kind, "Retry later.")


def _build_form(fields: Sequence[FormField]) -> aiohttp.FormData:
    """Build a fresh FormData per attempt: aiohttp consumes one when it is sent."""
    form = aiohttp.FormData(default_to_multipart=True)
    for item in fields:
        if item.filename is None and item.content_type is None:
            form.add_field(item.name, item.value)
        else:
            form.add_field(
                item.name, item.value, filename=item.filename, content_type=item.content_type
            )
    return form
