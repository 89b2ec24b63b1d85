"""Commands from clients: submit, interrupt, delete, clear and resume.

Each command is validated, then appended as events; nothing is
acknowledged before its events are committed.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from ..errors import (
    ConcurrencyError,
    ConflictError,
    LimitExceededError,
    NotFoundError,
    PromptValidationError,
)
from ..events.types import (
    HISTORY_STREAM,
    REJECTIONS_STREAM_PREFIX,
    HistoryCleared,
    InterruptRequested,
    PromptDeleted,
    PromptQueued,
    PromptRejected,
    ResumeRequested,
)
from ..events.writer import EventWriter
from .validation import PromptValidator, _top_error

log = structlog.get_logger(__name__)

_CANONICAL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class PromptLookup(Protocol):
    """A stored prompt as the command side reads it back (the prompts projection implements it)."""

    prompt_id: str
    number: float
    status: str
    node_errors: dict[str, Any]


@dataclass
class CommandSettings:
    max_queue_size: int = 10_000
    queue_full_retry_after_s: float = 1.0


class PromptCommands:
    def __init__(
        self,
        *,
        validator: PromptValidator,
        writer: EventWriter,
        find_prompt: Callable[[str], Awaitable[PromptLookup | None]],
        queue_size: Callable[[], Awaitable[int]],
        settings: CommandSettings,
        next_number: float = 0,
    ) -> None:
        self.validator = validator
        self.writer = writer
        self.find_prompt = find_prompt
        self.queue_size = queue_size
        self.settings = settings
        self._counter = next_number

    async def submit(self, body: Any, *, principal: str | None = None) -> dict[str, Any]:
        """Validate and queue a POST /prompt body; return ComfyUI's 200 answer."""
        if not isinstance(body, dict):
            raise _top_error("invalid_prompt", "Request body must be a JSON object",
                             f"got {type(body).__name__}")
        if "prompt" not in body:
            raise _top_error("no_prompt", "No prompt provided",
                             "send a JSON body with a 'prompt' object")
        prompt_id = self._prompt_id(body.get("prompt_id"))
        # A resubmitted prompt_id gets the response of its first submission.
        # The append below detects it (the stream exists), so the lookups here
        # only run where a response is returned before that append.
        client_chose_id = body.get("prompt_id") is not None
        queued = await self.queue_size()
        if queued >= self.settings.max_queue_size:
            if client_chose_id and (existing := await self.find_prompt(prompt_id)):
                return _accepted(existing.prompt_id, existing.number, existing.node_errors)
            raise LimitExceededError(
                f"the queue is full ({queued} prompts, the maximum); retry later or raise "
                "--max-queue-size",
                retry_after=self.settings.queue_full_retry_after_s,
                details={"queue_remaining": queued, "max_queue_size": self.settings.max_queue_size},
            )
        client_id = body.get("client_id")
        client_id = str(client_id) if client_id is not None else None
        extra_data = body.get("extra_data") or {}
        if not isinstance(extra_data, dict):
            raise _top_error("invalid_prompt", "extra_data must be a JSON object",
                             f"got {type(extra_data).__name__}")
        targets = body.get("partial_execution_targets")
        if targets is not None and not isinstance(targets, list):
            raise _top_error("invalid_prompt",
                             "partial_execution_targets must be a list of node ids",
                             f"got {targets!r}")
        try:
            validated = self.validator.validate(body["prompt"], targets)
        except PromptValidationError as error:
            if client_chose_id and (existing := await self.find_prompt(prompt_id)):
                return _accepted(existing.prompt_id, existing.number, existing.node_errors)
            await self._reject(prompt_id, error, client_id, principal)
            raise
        number = self._number(body)
        extra_data = _without_credentials(extra_data)
        if client_id is not None:
            extra_data = {**extra_data, "client_id": client_id}
        event = PromptQueued(
            prompt_id=prompt_id, number=number, prompt=validated.prompt,
            extra_data=extra_data, outputs_to_execute=validated.outputs,
            client_id=client_id, principal=principal, node_errors=validated.node_errors,
        )
        try:
            await self.writer.append(prompt_id, [event], expected_version=0)
        except ConcurrencyError:
            existing = await self.find_prompt(prompt_id)
            if existing is None:
                raise
            return _accepted(existing.prompt_id, existing.number, existing.node_errors)
        log.info("prompt_queued", prompt_id=prompt_id, number=number,
                 nodes=len(validated.prompt), client_id=client_id)
        return _accepted(prompt_id, number, validated.node_errors)

    def _prompt_id(self, value: Any) -> str:
        if value is None:
            return str(uuid.uuid4())
        if not isinstance(value, str) or not _CANONICAL_UUID.match(value):
            raise _top_error(
                "invalid_prompt_id", "Invalid prompt_id",
                f"prompt_id {value!r} is not a canonical lowercase UUID such as "
                f"'{uuid.uuid4()}'; omit it to let the server choose one",
            )
        return value

    def _number(self, body: dict[str, Any]) -> float:
        number = body.get("number")
        if number is not None:
            try:
                value = float(number)
            except (TypeError, ValueError):
                raise _top_error("invalid_prompt", "number must be a number",
                                 f"got {number!r}") from None
            if not math.isfinite(value):
                raise _top_error("invalid_prompt", "number must be finite", f"got {number!r}")
            return value
        value = self._counter
        self._counter += 1
        return -value if body.get("front") else value

    async def _reject(self, prompt_id: str, error: PromptValidationError,
                      client_id: str | None, principal: str | None) -> None:
        body = error.body
        await self.writer.append(REJECTIONS_STREAM_PREFIX + uuid.uuid4().hex, [PromptRejected(
            prompt_id=prompt_id, error=body.get("error", {}),
            node_errors=body.get("node_errors", {}), client_id=client_id, principal=principal,
        )])
        log.info("prompt_rejected", prompt_id=prompt_id,
                 error_type=body.get("error", {}).get("type"))

    async def interrupt(self, prompt_ids: list[str]) -> None:
        for prompt_id in prompt_ids:
            await self.writer.append(prompt_id, [InterruptRequested(prompt_id=prompt_id)])

    async def delete(self, prompt_ids: list[str]) -> None:
        for prompt_id in prompt_ids:
            if await self.find_prompt(prompt_id) is None:
                continue
            await self.writer.append(prompt_id, [PromptDeleted(prompt_id=prompt_id)])

    async def clear_history(self) -> None:
        await self.writer.append(HISTORY_STREAM, [HistoryCleared()])

    async def resume(self, prompt_id: str) -> None:
        existing = await self.find_prompt(prompt_id)
        if existing is None:
            raise NotFoundError(f"prompt {prompt_id} does not exist")
        if existing.status in ("queued", "running"):
            raise ConflictError(
                f"prompt {prompt_id} is {existing.status}; only a finished run can be resumed")
        await self.writer.append(prompt_id, [ResumeRequested(prompt_id=prompt_id)])


# ComfyUI's frontend puts its own API credentials into extra_data; brushwork's
# provider nodes read scoped secrets instead, so these never enter the log.
CREDENTIAL_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")


def _without_credentials(extra_data: dict[str, Any]) -> dict[str, Any]:
    from ..logs import register_secret

    for key in CREDENTIAL_KEYS:
        value = extra_data.get(key)
        if isinstance(value, str):
            register_secret(value)
    return {k: v for k, v in extra_data.items() if k not in CREDENTIAL_KEYS}


def _accepted(prompt_id: str, number: float, node_errors: dict[str, Any]) -> dict[str, Any]:
    shown: float | int = int(number) if float(number).is_integer() else number
    return {"prompt_id": prompt_id, "number": shown, "node_errors": node_errors}
