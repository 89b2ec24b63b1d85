"""The provider package: import cost and the node classes' declarations."""

from __future__ import annotations

import json
import subprocess
import sys

from brushwork.providers import provider_node_classes
from brushwork.providers.nodebase import ProviderNode

IMPORT_PROBE = """
import gc, json, sys
import brushwork.providers
brushwork.providers.provider_node_classes()
import brushwork.providers.testing
sessions = [item for item in gc.get_objects() if type(item).__name__ == "ClientSession"]
print(json.dumps({"torch": "torch" in sys.modules, "sessions": len(sessions)}))
"""


def test_import_loads_no_torch_and_no_session():
    result = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True,
                            text=True, check=True, timeout=60)
    probe = json.loads(result.stdout)
    assert probe["torch"] is False
    assert probe["sessions"] == 0


def test_node_classes_declare_provider_contract():
    classes = provider_node_classes()
    # Pika is reached through fal and does not count as a provider of its own.
    assert len({cls.provider for cls in classes}) >= 30
    names = [cls.class_type for cls in classes]
    assert len(set(names)) == len(names)
    for cls in classes:
        assert issubclass(cls, ProviderNode)
        assert cls.lane == "io"
        assert cls.side_effects is True
        assert cls.api_node is True
        assert cls.provider == cls.spec.name
        assert cls.category.startswith("api node/")
        assert cls.category.split("/")[1] in {"image", "video", "text", "audio", "3d"}
        info = cls.object_info()
        json.dumps(info)
        assert info["api_node"] is True
        assert info["input"]["optional"]["secret"][1]["default"] == cls.provider


def test_secret_widget_validated():
    from brushwork.providers.openai import OpenAIImageGenerate

    assert OpenAIImageGenerate.validate_inputs(prompt="x", secret="openai/team-a") is True
    result = OpenAIImageGenerate.validate_inputs(prompt="x", secret="sk-PASTED KEY")
    assert "invalid secret name" in result


def test_example_workflows_validate(tmp_path):
    import shutil
    from pathlib import Path

    from brushwork.engine import runtime
    from brushwork.engine.paths import DataPaths
    from brushwork.engine.registry import default_registry
    from brushwork.engine.validation import PromptValidator

    examples = Path(__file__).resolve().parents[2] / "examples"
    paths = DataPaths(tmp_path)
    paths.create()
    shutil.copy(examples / "images" / "chelsea.png", paths.input / "chelsea.png")
    previous = runtime.data_paths_or_none()
    runtime.set_data_paths(paths)
    try:
        validator = PromptValidator(default_registry())
        workflows = sorted(examples.glob("provider-*.json"))
        assert workflows
        for workflow in workflows:
            validated = validator.validate(json.loads(workflow.read_text()))
            assert validated.node_errors == {}, workflow.name
            assert validated.outputs, workflow.name
    finally:
        if previous is not None:
            runtime.set_data_paths(previous)
