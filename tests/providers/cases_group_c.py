"""Fault, resume and leak-suite cases for Together AI, Mistral, xAI, DeepSeek, Hugging
Face, Leonardo.Ai, Krea and Topaz Labs, and the registration of their fakes.

``tests/providers/support.py`` merges ``CASES``; ``FAKE_SERVERS`` gains the
fakes here, so that the ``harness_factory`` fixture can start them by name.
"""

from __future__ import annotations

from brushwork.providers.deepseek import DeepSeekChat
from brushwork.providers.huggingface import HuggingFaceTextToImage
from brushwork.providers.krea import KreaImageGenerate
from brushwork.providers.leonardo import LeonardoImageGenerate
from brushwork.providers.mistral import MistralChat
from brushwork.providers.testing import FAKE_SERVERS
from brushwork.providers.testing.deepseek import FakeDeepSeek
from brushwork.providers.testing.huggingface import FakeHuggingFace
from brushwork.providers.testing.krea import FakeKrea
from brushwork.providers.testing.leonardo import FakeLeonardo
from brushwork.providers.testing.mistral import FakeMistral
from brushwork.providers.testing.together import FakeTogether
from brushwork.providers.testing.topaz import FakeTopaz
from brushwork.providers.testing.xai import FakeXAI
from brushwork.providers.together import TogetherImageGenerate
from brushwork.providers.topaz import TopazImageUpscale
from brushwork.providers.xai import XAIImageGenerate
from tests.providers.support import ProviderCase, image_tensor

FAKE_SERVERS.update({
    "together": FakeTogether,
    "mistral": FakeMistral,
    "xai": FakeXAI,
    "deepseek": FakeDeepSeek,
    "huggingface": FakeHuggingFace,
    "leonardo": FakeLeonardo,
    "krea": FakeKrea,
    "topaz": FakeTopaz,
})

ASYNC_PHASES = ("submit", "poll", "download")

CASES: dict[str, ProviderCase] = {
    "together": ProviderCase(
        "together", TogetherImageGenerate, lambda: {"prompt": "a red fox"},
        ("submit",), "submit"),
    "mistral": ProviderCase(
        "mistral", MistralChat, lambda: {"prompt": "Say hi"},
        ("submit",), "submit"),
    "xai": ProviderCase(
        "xai", XAIImageGenerate, lambda: {"prompt": "a red fox"},
        ("submit",), "submit"),
    "deepseek": ProviderCase(
        "deepseek", DeepSeekChat, lambda: {"prompt": "Say hi"},
        ("submit",), "submit"),
    "huggingface": ProviderCase(
        "huggingface", HuggingFaceTextToImage,
        lambda: {"prompt": "a red fox", "model": "black-forest-labs/FLUX.1-schnell"},
        ("submit",), "submit"),
    "leonardo": ProviderCase(
        "leonardo", LeonardoImageGenerate, lambda: {"prompt": "a red fox"},
        ASYNC_PHASES, "download"),
    "krea": ProviderCase(
        "krea", KreaImageGenerate, lambda: {"prompt": "a red fox"},
        ASYNC_PHASES, "download"),
    "topaz": ProviderCase(
        "topaz", TopazImageUpscale, lambda: {"image": image_tensor()},
        ASYNC_PHASES, "download"),
}
