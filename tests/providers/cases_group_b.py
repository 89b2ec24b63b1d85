"""Fault, resume and leak-suite cases for Vidu, ByteDance, Wan, Tripo, Rodin, Meshy, Replicate, fal.

Importing this module also registers the group's fake servers in
``FAKE_SERVERS``, which the ``harness_factory`` fixture looks providers up in.
"""

from __future__ import annotations

from brushwork.providers.bytedance import ByteDanceSeedanceVideo
from brushwork.providers.fal import FalRunImage
from brushwork.providers.meshy import MeshyTextTo3D
from brushwork.providers.replicate import ReplicateRunImage
from brushwork.providers.rodin import RodinGenerate3D
from brushwork.providers.testing import FAKE_SERVERS
from brushwork.providers.testing.bytedance import FakeByteDance
from brushwork.providers.testing.fal import FakeFal
from brushwork.providers.testing.meshy import FakeMeshy
from brushwork.providers.testing.replicate import FakeReplicate
from brushwork.providers.testing.rodin import FakeRodin
from brushwork.providers.testing.tripo import FakeTripo
from brushwork.providers.testing.vidu import FakeVidu
from brushwork.providers.testing.wan import FakeWan
from brushwork.providers.tripo import TripoTextTo3D
from brushwork.providers.vidu import ViduTextToVideo
from brushwork.providers.wan import WanTextToVideo
from tests.providers.support import ProviderCase

FAKES = {
    "vidu": FakeVidu,
    "bytedance": FakeByteDance,
    "wan": FakeWan,
    "tripo": FakeTripo,
    "rodin": FakeRodin,
    "meshy": FakeMeshy,
    "replicate": FakeReplicate,
    "fal": FakeFal,
}
for _name, _fake in FAKES.items():
    FAKE_SERVERS.setdefault(_name, _fake)

ASYNC_PHASES = ("submit", "poll", "download")

CASES: dict[str, ProviderCase] = {
    "vidu": ProviderCase(
        "vidu", ViduTextToVideo, lambda: {"prompt": "a red fox running"},
        ASYNC_PHASES, "download"),
    "bytedance": ProviderCase(
        "bytedance", ByteDanceSeedanceVideo, lambda: {"prompt": "a red fox running"},
        ASYNC_PHASES, "download"),
    "wan": ProviderCase(
        "wan", WanTextToVideo, lambda: {"prompt": "a red fox running"},
        ASYNC_PHASES, "download"),
    "tripo": ProviderCase(
        "tripo", TripoTextTo3D, lambda: {"prompt": "a red fox figurine"},
        ASYNC_PHASES, "download"),
    "rodin": ProviderCase(
        "rodin", RodinGenerate3D, lambda: {"prompt": "a red fox figurine"},
        ASYNC_PHASES, "download"),
    "meshy": ProviderCase(
        "meshy", MeshyTextTo3D, lambda: {"prompt": "a red fox figurine"},
        ASYNC_PHASES, "download"),
    "replicate": ProviderCase(
        "replicate", ReplicateRunImage,
        lambda: {"model": "black-forest-labs/flux-schnell",
                 "input_json": '{"prompt": "a red fox"}'},
        ASYNC_PHASES, "download"),
    "fal": ProviderCase(
        "fal", FalRunImage,
        lambda: {"model": "fal-ai/flux/dev", "arguments": '{"prompt": "a red fox"}'},
        ASYNC_PHASES, "download"),
}
