"""Fault, resume and leak-suite cases for Anthropic, Gemini, Veo, Ideogram, Recraft, Kling,
MiniMax and PixVerse, and the registration of their fake servers.

``tests/providers/support.py`` merges ``CASES``. The fakes are added to
``FAKE_SERVERS`` here, which the ``harness_factory`` fixture reads.
"""

from __future__ import annotations

from brushwork.providers.anthropic import AnthropicChat
from brushwork.providers.gemini import GeminiImageGenerate
from brushwork.providers.ideogram import IdeogramGenerate
from brushwork.providers.kling import KlingTextToVideo
from brushwork.providers.minimax import MiniMaxTextToVideo
from brushwork.providers.pixverse import PixVerseTextToVideo
from brushwork.providers.recraft import RecraftGenerate
from brushwork.providers.testing import FAKE_SERVERS, FakeProviderServer
from brushwork.providers.testing.anthropic import FakeAnthropic
from brushwork.providers.testing.gemini import FakeGemini
from brushwork.providers.testing.ideogram import FakeIdeogram
from brushwork.providers.testing.kling import TEST_ACCESS_KEY, FakeKling
from brushwork.providers.testing.minimax import FakeMiniMax
from brushwork.providers.testing.pixverse import FakePixVerse
from brushwork.providers.testing.recraft import FakeRecraft
from brushwork.providers.testing.veo import FakeVeo
from brushwork.providers.veo import VeoVideoGenerate
from tests.providers.support import ProviderCase

GROUP_A_FAKE_SERVERS: dict[str, type[FakeProviderServer]] = {
    "anthropic": FakeAnthropic,
    "gemini": FakeGemini,
    "veo": FakeVeo,
    "ideogram": FakeIdeogram,
    "recraft": FakeRecraft,
    "kling": FakeKling,
    "minimax": FakeMiniMax,
    "pixverse": FakePixVerse,
}
FAKE_SERVERS.update(GROUP_A_FAKE_SERVERS)

ASYNC_VIDEO_PHASES = ("submit", "poll", "download")

CASES = {
    "anthropic": ProviderCase(
        "anthropic", AnthropicChat, lambda: {"prompt": "Say hi"},
        ("submit",), "submit"),
    "gemini": ProviderCase(
        "gemini", GeminiImageGenerate, lambda: {"prompt": "a red fox"},
        ("submit",), "submit"),
    "veo": ProviderCase(
        "veo", VeoVideoGenerate, lambda: {"prompt": "a red fox running"},
        ASYNC_VIDEO_PHASES, "download"),
    "ideogram": ProviderCase(
        "ideogram", IdeogramGenerate, lambda: {"prompt": "a red fox"},
        ("submit", "download"), "download"),
    "recraft": ProviderCase(
        "recraft", RecraftGenerate, lambda: {"prompt": "a red fox"},
        ("submit",), "submit"),
    # The harness stores one opaque key, so the access key comes from the node input.
    "kling": ProviderCase(
        "kling", KlingTextToVideo,
        lambda: {"prompt": "a red fox running", "access_key": TEST_ACCESS_KEY},
        ASYNC_VIDEO_PHASES, "download"),
    # The file lookup between polling and download has its own fake phase, "retrieve".
    "minimax": ProviderCase(
        "minimax", MiniMaxTextToVideo, lambda: {"prompt": "a red fox running"},
        ASYNC_VIDEO_PHASES, "download"),
    "pixverse": ProviderCase(
        "pixverse", PixVerseTextToVideo, lambda: {"prompt": "a red fox running"},
        ASYNC_VIDEO_PHASES, "download"),
}
