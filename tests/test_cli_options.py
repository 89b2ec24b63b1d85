"""Throughput options of the command line: accepted values and clear errors."""

from __future__ import annotations

import pytest

from brushwork.cli import build_parser


@pytest.mark.parametrize("flag", ["--commit-linger-ms", "--inline-node-ms"])
@pytest.mark.parametrize("text", ["0", "5", "2.5", "1000"])
def test_milliseconds_accepted(flag, text):
    args = build_parser().parse_args(["serve", f"{flag}={text}"])
    assert getattr(args, flag.lstrip("-").replace("-", "_")) == float(text)


@pytest.mark.parametrize("flag", ["--commit-linger-ms", "--inline-node-ms"])
@pytest.mark.parametrize("text", ["-1", "1001", "abc", "nan", "inf", "1e3", "1_0", " 5", "\uff15"])
def test_milliseconds_rejected(flag, text, capsys):
    with pytest.raises(SystemExit) as raised:
        build_parser().parse_args(["serve", f"{flag}={text}"])
    assert raised.value.code == 2
    error = capsys.readouterr().err
    assert f"invalid milliseconds {text!r}" in error
    assert "from 0 to 1000" in error
