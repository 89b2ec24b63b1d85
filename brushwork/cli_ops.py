"""Operations commands: replay, audit, projections rebuild, resume."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

HANDLERS: dict[str, Callable[..., int]] = {}


def add_operation_commands(commands: Any, common: Callable[..., None],
                           engine_options: Callable[..., None]) -> None:
    return None
