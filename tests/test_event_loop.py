"""The event loop choice of long-running commands."""

from __future__ import annotations

import importlib.util

import pytest

from brushwork.cli_impl import _loop_options


def test_uvloop_by_default_where_installed(monkeypatch):
    monkeypatch.delenv("BRUSHWORK_EVENT_LOOP", raising=False)
    expected = ({"backend_options": {"use_uvloop": True}}
                if importlib.util.find_spec("uvloop") else {})
    assert _loop_options() == expected


def test_asyncio_on_request(monkeypatch):
    monkeypatch.setenv("BRUSHWORK_EVENT_LOOP", "asyncio")
    assert _loop_options() == {}


@pytest.mark.skipif(importlib.util.find_spec("uvloop") is None, reason="uvloop not installed")
def test_uvloop_runs_anyio():
    import anyio

    async def loop_module() -> str:
        import asyncio

        return type(asyncio.get_running_loop()).__module__

    assert anyio.run(loop_module, **_loop_options()).startswith("uvloop")


def test_unknown_loop_is_rejected(monkeypatch):
    from brushwork.errors import ValidationError

    monkeypatch.setenv("BRUSHWORK_EVENT_LOOP", "uvlooop")
    with pytest.raises(ValidationError, match="invalid BRUSHWORK_EVENT_LOOP 'uvlooop'"):
        _loop_options()


@pytest.mark.parametrize(("value", "same_as"), [
    ("", "auto"), ("  ", "auto"), ("AUTO", "auto"), ("Asyncio", "asyncio"),
])
def test_loop_choice_ignores_case_and_blanks(monkeypatch, value, same_as):
    monkeypatch.setenv("BRUSHWORK_EVENT_LOOP", same_as)
    expected = _loop_options()
    monkeypatch.setenv("BRUSHWORK_EVENT_LOOP", value)
    assert _loop_options() == expected
