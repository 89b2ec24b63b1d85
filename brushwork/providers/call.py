"""A provider client bound to one running node: auth, audit, jobs, polling, downloads.

Nodes get a ``ProviderCall`` from ``ProviderHub.connect(ctx, SPEC, secret)``.

Audit: every logical call records one ``ProviderCallRecorded`` event, with
``attempts`` counting its HTTP attempts (retries included). A logical call is
one submission, one whole polling of a job (``attempts`` is then the number of
status requests), one download, or one job cancellation. A call that is
interrupted is recorded with ``outcome="cancelled"``.

Jobs: ``submit_job`` records ``ProviderJobAccepted`` as soon as the provider
returns a job id, before the submission's audit event. When the node's
``prior_events`` already hold an accepted job (a re-run after a crash), it
returns that job instead of submitting again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import structlog

from ..errors import CancelledByUserError, ProviderError
from ..events.types import ProviderCallRecorded, ProviderJobAccepted
from .client import (
    AttemptFailure,
    FailureKind,
    FormField,
    HttpRequest,
    ProviderClient,
    Sent,
    bytes_reader,
    file_reader,
    json_reader,
    strip_query,
)
from .media import next_index
from .redact import redact_text, redact_value

if TYPE_CHECKING:
    from ..engine.context import NodeContext
    from .hub import ProviderHub

log = structlog.get_logger("brushwork.providers")

# Audit parameters keep strings up to this length; longer ones become a size note.
_AUDIT_STRING_LIMIT = 2000
# Maximum time, in seconds, that an audit record or a job cancellation may delay an
# interrupted node.
_SHIELD_TIMEOUT_S = 10.0


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass
class JobStatus:
    """One poll's result, mapped from the provider's status body by the node's parser."""

    state: JobState
    # Fraction done, 0..1, when the provider reports it.
    progress: float | None = None
    # The provider's own status word ("Pending", "dreaming", ...), for messages.
    raw_status: str | None = None
    # Result data the node needs (output URLs); provider-specific.
    result: Any = None
    # Why the job failed, as the provider puts it.
    message: str | None = None
    # A failed job may succeed when submitted again (not for moderation refusals).
    retryable: bool = False


@dataclass(frozen=True)
class JobRef:
    job_id: str
    poll_url: str
    # True when the job came from prior_events instead of a new submission.
    resumed: bool = False


def audit_parameters(
    body: Mapping[str, Any] | None = None, form: Sequence[FormField] | None = None
) -> dict[str, Any]:
    """Return request parameters fit for an event: no bytes, no long blobs, no keys."""
    parameters: dict[str, Any] = {}
    if body:
        parameters.update(body)
    for item in form or ():
        if isinstance(item.value, bytes) or item.filename is not None:
            parameters[item.name] = f"<file, {len(item.value)} bytes>"
        else:
            parameters[item.name] = item.value
    return redact_value(_shorten(parameters))


def _shorten(value: Any) -> Any:
    if isinstance(value, str):
        if value.startswith("data:") and ";base64," in value[:100]:
            return f"<data URI, {len(value)} chars>"
        if len(value) > _AUDIT_STRING_LIMIT:
            return f"<{len(value)} chars>"
        return value
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return {key: _shorten(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_shorten(item) for item in value]
    return value


class ProviderCall:
    """One node's use of one provider, with its key resolved."""

    def __init__(
        self,
        hub: ProviderHub,
        ctx: NodeContext,
        client: ProviderClient,
        secret_name: str,
        key: str,
    ) -> None:
        self.hub = hub
        self.ctx = ctx
        self.client = client
        self.spec = client.spec
        self.secret_name = secret_name
        self._key = key

    @property
    def provider(self) -> str:
        return self.spec.name

    def url(self, path: str) -> str:
        return self.client.url_for(path)

    # -- plain requests ----------------------------------------------------------

    def _request(
        self,
        method: str,
        path_or_url: str,
        *,
        json: Any = None,
        form: Sequence[FormField] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        submission: bool = False,
        accepted: bool = False,
        idempotency_header: str | None = None,
        send_key: bool = True,
    ) -> HttpRequest:
        url = self.client.url_for(path_or_url)
        all_headers: dict[str, str] = {}
        if send_key:
            if not self.client.may_send_key(url):
                raise ProviderError(
                    f"{self.spec.display_name}: will not send the API key to "
                    f"{url.split('?')[0]}, a host outside {self.client.base_url}. The provider "
                    "returned an unexpected URL, or the base URL setting is wrong.",
                    provider=self.provider,
                    may_have_charged=accepted,
                )
            all_headers.update(self.spec.default_headers)
            all_headers.update(self.spec.auth(self._key))
        # A request about work the provider already accepted (a status read, a cancel) starts
        # no new paid work, so it is retried like a GET whatever its method.
        retry = "idempotent" if method in ("GET", "HEAD", "DELETE") or accepted else "unsafe"
        idempotency_key = None
        if idempotency_header is not None:
            idempotency_key = self.ctx.idempotency_key
            all_headers[idempotency_header] = idempotency_key
            retry = "idempotent"
        if headers:
            all_headers.update(headers)
        return HttpRequest(
            method=method,
            url=url,
            # API paths are labelled relative to the base URL; result URLs keep their host.
            endpoint=self.client.endpoint_for(url) if send_key else strip_query(url),
            headers=all_headers,
            json=json,
            form=form,
            params=params,
            retry=retry,
            submission=submission,
            accepted=accepted,
            allow_redirects=not send_key,
            secret_name=self.secret_name,
            idempotency_key=idempotency_key,
        )

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        form: Sequence[FormField] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        model: str | None = None,
        submission: bool = True,
        accepted: bool = False,
        idempotency_header: str | None = None,
        cost: Callable[[Any], float | None] | None = None,
        cost_unit: str | None = None,
    ) -> Any:
        """Send a request whose response is JSON and return the decoded body.

        ``submission`` marks a paid call: without ``idempotency_header`` (a
        header the provider documents for idempotency keys) it is retried only
        when the provider certainly did not accept it. ``accepted`` marks a
        request about work the provider already accepted (such as fetching a
        finished job's result URL), so its errors report that the provider may
        have charged.
        """
        request = self._request(
            method, path, json=json, form=form, params=params, headers=headers,
            submission=submission, accepted=accepted, idempotency_header=idempotency_header,
        )
        reader = json_reader(self.hub.settings.max_response_bytes)
        sent = await self._send_recorded(
            request, reader, model=model, parameters=audit_parameters(json, form),
            cost=cost, cost_unit=cost_unit,
        )
        return sent.value

    async def request_bytes(
        self,
        method: str,
        path: str,
        *,
        content_types: Sequence[str],
        json: Any = None,
        form: Sequence[FormField] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        model: str | None = None,
        submission: bool = True,
        max_bytes: int | None = None,
        validate: Callable[[bytes, str], None] | None = None,
    ) -> tuple[bytes, str]:
        """Send a request whose response is binary (audio, an image); return (body, media type).

        ``validate(body, media_type)`` checks the body within the attempt. A
        ValueError from it fails the attempt the way an invalid JSON body does:
        the call is recorded as an error and retried only if the request is
        idempotent.
        """
        request = self._request(
            method, path, json=json, form=form, params=params, headers=headers,
            submission=submission,
        )
        limit = max_bytes or self.hub.settings.max_download_bytes
        reader = bytes_reader(limit, content_types)
        if validate is not None:
            reader = _validated_reader(reader, validate)
        sent = await self._send_recorded(
            request, reader, model=model, parameters=audit_parameters(json, form),
        )
        return sent.value

    # -- jobs ------------------------------------------------------------------

    def resumed_job(self, ordinal: int = 0) -> JobRef | None:
        """Return the ``ordinal``-th job this node submitted before a crash, if any.

        A node called once per list item submits one job per call, in order,
        so the n-th submission of a re-run resumes the n-th accepted job.
        """
        accepted = [
            event for event in self.ctx.prior_events
            if isinstance(event, ProviderJobAccepted)
            and event.provider == self.provider
            and event.node_id == self.ctx.node_id
        ]
        if ordinal >= len(accepted):
            return None
        event = accepted[ordinal]
        return JobRef(event.job_id, event.poll_url or "", resumed=True)

    async def submit_job(
        self,
        path: str,
        *,
        job_id: Callable[[Any], str],
        poll_url: Callable[[Any, str], str],
        json: Any = None,
        form: Sequence[FormField] | None = None,
        headers: Mapping[str, str] | None = None,
        model: str | None = None,
        idempotency_header: str | None = None,
        cost: Callable[[Any], float | None] | None = None,
        cost_unit: str | None = None,
    ) -> JobRef:
        """Submit an asynchronous job, or return the job a crashed run already submitted.

        ``job_id(body)`` and ``poll_url(body, job_id)`` read the creation
        response. ``poll_url`` may return a path under the base URL.
        """
        resumed = self.resumed_job(next_index(self.ctx, f"job:{self.provider}"))
        if resumed is not None:
            log.info(
                "provider job resumed from events; not submitting again",
                provider=self.provider, prompt_id=self.ctx.prompt_id,
                node_id=self.ctx.node_id, job_id=resumed.job_id,
            )
            return resumed

        request = self._request(
            "POST", path, json=json, form=form, headers=headers, submission=True,
            idempotency_header=idempotency_header,
        )
        parameters = audit_parameters(json, form)
        started = self.hub.clock()
        sent: Sent[Any] | None = None
        try:
            reader = json_reader(self.hub.settings.max_response_bytes)
            sent = await self.client.send(request, reader)
            body = sent.value
            new_id = self._parse(lambda: str(job_id(body)), request, "the job id")
            if not new_id:
                raise self._unexpected(request, "the job id is empty")
            url = self.client.url_for(self._parse(lambda: poll_url(body, new_id), request,
                                                  "the polling URL"))
            job = JobRef(new_id, url)
            await self.ctx.record(ProviderJobAccepted(
                prompt_id=self.ctx.prompt_id, node_id=self.ctx.node_id, provider=self.provider,
                job_id=new_id, poll_url=url, attempt=self.ctx.attempt,
            ))
            log.info("provider job accepted", provider=self.provider,
                     prompt_id=self.ctx.prompt_id, node_id=self.ctx.node_id, job_id=new_id)
        except BaseException as exc:
            await self._record_failure(request, exc, started, model=model, parameters=parameters,
                                       sent=sent)
            raise
        await self._record(
            request, sent, model=model, parameters=parameters,
            cost=_safe_cost(cost, sent.value), cost_unit=cost_unit,
        )
        return job

    async def poll(
        self,
        job: JobRef,
        parse: Callable[[Any], JobStatus],
        *,
        cancel: tuple[str, str] | None = None,
        method: str = "GET",
        json: Any = None,
    ) -> JobStatus:
        """Poll ``job`` until it succeeds; raise ProviderError when it fails or times out.

        ``parse`` maps one status body to a JobStatus. ``cancel`` is the
        (method, path) that cancels the job at the provider. It is sent only
        when the user interrupts the prompt, not when the engine shuts down,
        so that a restart can resume the job. ``method`` and ``json`` serve
        providers whose status request is a POST with a JSON body (Rodin).
        """
        policy = self.client.poll_policy
        clock = self.hub.clock
        started = clock()
        deadline = started + policy.deadline_s
        interval = policy.initial_interval_s
        request = self._request(method, job.poll_url, json=json, accepted=True)
        reader = json_reader(self.hub.settings.max_response_bytes)
        requests = 0
        last_http: int | None = None
        last_status: str | None = None
        outcome = "error"
        error: str | None = None
        try:
            while True:
                self.ctx.check_interrupted()
                try:
                    sent = await self.client.send(request, reader)
                except ProviderError as exc:
                    requests += int(exc.details.get("attempts", 1))
                    last_http = exc.http_status
                    raise
                requests += sent.attempts
                last_http = sent.status
                status = self._parse(lambda body=sent.value: parse(body), request, "the job status")
                last_status = status.raw_status or status.state.value
                if status.progress is not None:
                    self.ctx.progress(min(1.0, max(0.0, float(status.progress))) * 100.0, 100.0)
                if status.state is JobState.SUCCEEDED:
                    outcome = "ok"
                    return status
                if status.state is JobState.FAILED:
                    reason = status.message or last_status
                    raise ProviderError(
                        f"{self.spec.display_name} job {job.job_id} failed: {reason}. "
                        "The provider may already have charged for it.",
                        provider=self.provider, retryable=status.retryable,
                        may_have_charged=True, http_status=sent.status,
                        details={"job_id": job.job_id, "status": last_status},
                    )
                remaining = deadline - clock()
                if remaining <= 0:
                    raise ProviderError(
                        f"{self.spec.display_name} job {job.job_id} did not finish within "
                        f"{policy.deadline_s:.0f} s (last status: {last_status}). It may still "
                        "be running and may have been charged; raise the poll deadline for "
                        f"{self.provider} if its jobs take longer.",
                        provider=self.provider, retryable=False, may_have_charged=True,
                        details={"job_id": job.job_id, "status": last_status},
                    )
                await self._sleep_checking_interrupt(min(interval, remaining))
                interval = min(policy.max_interval_s, interval * policy.multiplier)
        except BaseException as exc:
            error = _error_text(exc)
            if _is_cancellation(exc):
                outcome = "cancelled"
                if cancel is not None and self.ctx.interrupt.is_set():
                    await self._cancel_job(job, cancel)
            raise
        finally:
            await self._shielded_record(ProviderCallRecorded(
                prompt_id=self.ctx.prompt_id, node_id=self.ctx.node_id, provider=self.provider,
                method=request.method, endpoint=request.endpoint,
                parameters={"job_id": job.job_id, "last_status": last_status,
                            "resumed": job.resumed},
                status=last_http, outcome=outcome, latency_s=clock() - started,
                attempts=requests, error=error,
            ))

    async def _sleep_checking_interrupt(self, seconds: float) -> None:
        """Sleep in slices of at most 1 s, so an interrupt flag stops polling promptly."""
        remaining = seconds
        while remaining > 0:
            step = min(1.0, remaining)
            await self.hub.sleep(step)
            remaining -= step
            self.ctx.check_interrupted()

    async def _cancel_job(self, job: JobRef, cancel: tuple[str, str]) -> None:
        method, path = cancel
        request = self._request(method, path, accepted=True)
        started = self.hub.clock()
        with anyio.move_on_after(_SHIELD_TIMEOUT_S, shield=True):
            try:
                sent = await self.client.send(request, bytes_reader(64 * 1024, ()))
            except ProviderError as exc:
                log.warning("cancelling the provider job failed", provider=self.provider,
                            job_id=job.job_id, error=exc.message)
                await self._record_failure(request, exc, started, model=None,
                                           parameters={"job_id": job.job_id}, sent=None)
                return
            log.info("provider job cancelled after an interrupt", provider=self.provider,
                     job_id=job.job_id)
            await self._record(request, sent, model=None, parameters={"job_id": job.job_id})

    # -- downloads ---------------------------------------------------------------

    async def download(
        self,
        url: str,
        *,
        content_types: Sequence[str],
        max_bytes: int | None = None,
        dest: Path | None = None,
        send_key: bool = False,
    ) -> tuple[bytes | None, str]:
        """Download a result into memory, or into ``dest`` when given.

        Returns (body or None when written to ``dest``, media type). The body
        is streamed and the download aborted once it passes ``max_bytes``; a
        media type outside ``content_types`` (prefixes such as "image/") is an
        error. Result URLs are presigned, so the key is sent only on request.
        """
        # NOTE: only the scheme is checked; a result URL on a private address is fetched too.
        if not url.lower().startswith(("https://", "http://")):
            raise ProviderError(
                f"{self.spec.display_name} returned a result URL that is not HTTP(S): "
                f"{url.split('?')[0][:200]}",
                provider=self.provider, may_have_charged=True,
            )
        request = self._request("GET", url, accepted=True, send_key=send_key)
        request.total_timeout_s = self.client.timeouts.download_total_s
        limit = max_bytes or self.hub.settings.max_download_bytes
        if dest is None:
            sent = await self._send_recorded(
                request, bytes_reader(limit, content_types), model=None,
                parameters={}, size=lambda value: len(value[0]),
            )
            return sent.value
        sent_file = await self._send_recorded(
            request, file_reader(dest, limit, content_types), model=None,
            parameters={}, size=lambda value: value[0],
        )
        return None, sent_file.value[1]

    # -- audit -------------------------------------------------------------------

    async def _send_recorded(
        self,
        request: HttpRequest,
        reader: Callable[..., Any],
        *,
        model: str | None,
        parameters: dict[str, Any],
        cost: Callable[[Any], float | None] | None = None,
        cost_unit: str | None = None,
        size: Callable[[Any], int] | None = None,
    ) -> Sent[Any]:
        started = self.hub.clock()
        try:
            sent = await self.client.send(request, reader)
        except BaseException as exc:
            await self._record_failure(request, exc, started, model=model,
                                       parameters=parameters, sent=None)
            raise
        if size is not None:
            parameters = {**parameters, "bytes": size(sent.value)}
        await self._record(request, sent, model=model, parameters=parameters,
                           cost=_safe_cost(cost, sent.value), cost_unit=cost_unit)
        return sent

    async def _record(
        self,
        request: HttpRequest,
        sent: Sent[Any],
        *,
        model: str | None,
        parameters: dict[str, Any],
        cost: float | None = None,
        cost_unit: str | None = None,
    ) -> None:
        await self._shielded_record(ProviderCallRecorded(
            prompt_id=self.ctx.prompt_id, node_id=self.ctx.node_id, provider=self.provider,
            method=request.method, endpoint=request.endpoint, model=model,
            parameters=parameters, status=sent.status, outcome="ok",
            latency_s=sent.latency_s, attempts=sent.attempts, cost=cost, cost_unit=cost_unit,
            idempotency_key=request.idempotency_key,
        ))

    async def _record_failure(
        self,
        request: HttpRequest,
        exc: BaseException,
        started: float,
        *,
        model: str | None,
        parameters: dict[str, Any],
        sent: Sent[Any] | None,
    ) -> None:
        details = getattr(exc, "details", None) or {}
        if isinstance(exc, ProviderError):
            status = exc.http_status if exc.http_status is not None else (
                sent.status if sent else None)
        else:
            status = sent.status if sent else None
        attempts = details.get("attempts") or (sent.attempts if sent else 1)
        await self._shielded_record(ProviderCallRecorded(
            prompt_id=self.ctx.prompt_id, node_id=self.ctx.node_id, provider=self.provider,
            method=request.method, endpoint=request.endpoint, model=model,
            parameters=parameters, status=status,
            outcome="cancelled" if _is_cancellation(exc) else "error",
            latency_s=self.hub.clock() - started, attempts=int(attempts),
            idempotency_key=request.idempotency_key,
            error=_error_text(exc),
        ))

    async def _shielded_record(self, event: ProviderCallRecorded) -> None:
        """Record even while the node is being cancelled, for at most a few seconds."""
        with anyio.move_on_after(_SHIELD_TIMEOUT_S, shield=True):
            await self.ctx.record(event)

    # -- parsing -----------------------------------------------------------------

    def _parse(self, read: Callable[[], Any], request: HttpRequest, what: str) -> Any:
        try:
            return read()
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise self._unexpected(request, f"{what} is missing ({type(exc).__name__}: {exc})") \
                from None

    def _unexpected(self, request: HttpRequest, problem: str) -> ProviderError:
        charged = request.submission or request.accepted
        return ProviderError(
            f"{self.spec.display_name} {request.method} {request.endpoint} returned an "
            f"unexpected response: {problem}. The API may have changed; please report it."
            + (" The provider may already have charged for this request." if charged else ""),
            provider=self.provider, retryable=False, may_have_charged=charged,
        )

    def parse_result(self, read: Callable[[], Any], what: str, endpoint: str) -> Any:
        """Run ``read`` on a finished job's data; a missing field becomes a clear ProviderError."""
        request = HttpRequest("GET", endpoint, endpoint, accepted=True)
        return self._parse(read, request, what)


def _validated_reader(
    reader: Callable[[Any], Awaitable[tuple[bytes, str]]],
    validate: Callable[[bytes, str], None],
) -> Callable[[Any], Awaitable[tuple[bytes, str]]]:
    async def read(response: Any) -> tuple[bytes, str]:
        body, media_type = await reader(response)
        try:
            validate(body, media_type)
        except ValueError as exc:
            raise AttemptFailure(
                FailureKind.BAD_BODY, f"the response body is not usable ({exc})"
            ) from None
        return body, media_type

    return read


def _safe_cost(cost: Callable[[Any], float | None] | None, body: Any) -> float | None:
    if cost is None:
        return None
    try:
        value = cost(body)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return None
    return float(value) if value is not None else None


def _is_cancellation(exc: BaseException) -> bool:
    return isinstance(exc, CancelledByUserError | anyio.get_cancelled_exc_class())


def _error_text(exc: BaseException) -> str:
    if _is_cancellation(exc):
        return "cancelled"
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return redact_text(str(message))[:1000]
