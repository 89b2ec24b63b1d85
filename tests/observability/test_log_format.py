"""The auto log format: console lines on a terminal, JSON lines elsewhere."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from brushwork.logs import configure

SCRIPT = """
import structlog
from brushwork.logs import configure
configure("auto")
structlog.get_logger().info("format_probe", answer=42)
"""


def test_auto_writes_json_to_pipe():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    )
    line = json.loads(result.stderr.strip())
    assert line["event"] == "format_probe"
    assert line["answer"] == 42


def test_auto_writes_console_to_terminal():
    controller, terminal = os.openpty()
    try:
        subprocess.run([sys.executable, "-c", SCRIPT], stderr=terminal, check=True)
        colored = os.read(controller, 4096).decode()
    finally:
        os.close(controller)
        os.close(terminal)
    output = re.sub(r"\x1b\[[0-9;]*m", "", colored)
    assert "format_probe" in output
    assert "answer=42" in output
    assert not output.lstrip().startswith("{")


def test_unknown_format_rejected():
    with pytest.raises(ValueError, match="'xml'; use auto, console or json"):
        configure("xml")
