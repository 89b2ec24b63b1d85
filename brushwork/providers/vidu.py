"""Vidu: text-to-video and image-to-video (asynchronous tasks).

API facts:

- Base URL https://api.vidu.com/ent/v2 (https://api.vidu.cn/ent/v2 in China),
  ``Authorization: Token <key>`` (the word is "Token", not "Bearer").
- ``POST /text2video`` and ``POST /img2video`` take JSON and return
  ``{task_id, state, created_at, ...}``. ``images`` takes URLs or
  ``data:image/...;base64,`` URIs.
- ``GET /tasks/{id}/creations`` returns ``{id, state, err_code, credits,
  creations: [{id, url, cover_url, watermarked_url}]}``; ``state`` is
  created, queueing, processing, success or failed. Result URLs stay valid
  for 24 hours according to the docs.

Sources: ComfyUI ``comfy_api_nodes/nodes_vidu.py``, and copies of the
official Vidu API docs in ``ZeoXel/ZeoCanvas`` (``docs/vidu查询生成结果.md``)
and ``ZeoXel/SUNSTUDIO`` (``docs/vidu.md``).
"""

from __future__ import annotations

from typing import Any

from ..engine.node import Input, NodeOutput, Output
from .call import JobState, JobStatus
from .client import ProviderSpec
from .media import change_extension, data_uri, encode_image, extension_for, output_file
from .nodebase import ProviderNode, secret_input, seed_input
from .settings import PollPolicy


def token_auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Token {key}"}


SPEC = ProviderSpec(
    name="vidu",
    display_name="Vidu",
    base_url="https://api.vidu.com/ent/v2",
    auth=token_auth,
    poll=PollPolicy(initial_interval_s=5.0, max_interval_s=15.0, deadline_s=1800.0),
)

MODELS = ("viduq1", "viduq2", "vidu2.0", "vidu1.5", "viduq3-pro")
# 3:4 and 4:3 are accepted by some models only; the sources do not say which.
ASPECT_RATIOS = ("16:9", "9:16", "1:1", "3:4", "4:3")
MOVEMENT_AMPLITUDES = ("auto", "small", "medium", "large")
MAX_PROMPT_CHARS = 2000
# Durations in seconds per model, where the sources state them.
MODEL_DURATIONS = {"viduq1": (5,)}
# NOTE: the docs say only that seed 0 picks a random seed; 2**31 - 1 is this node's own cap.
MAX_SEED = 2**31 - 1

_FAILED = {"failed"}
_RUNNING = {"processing"}


def parse_creations(body: Any) -> JobStatus:
    """Map a ``/tasks/{id}/creations`` body to a JobStatus; ``result`` is its ``creations``."""
    state = str(body["state"])
    if state == "success":
        return JobStatus(JobState.SUCCEEDED, 1.0, state, result=list(body["creations"]))
    if state in _FAILED:
        code = body.get("err_code")
        return JobStatus(JobState.FAILED, None, state,
                         message=f"error code {code}" if code else "failed")
    return JobStatus(JobState.RUNNING if state in _RUNNING else JobState.QUEUED, None, state)


def _check_common(inputs: dict[str, Any]) -> str | None:
    prompt = str(inputs.get("prompt", ""))
    if len(prompt) > MAX_PROMPT_CHARS:
        return f"prompt is {len(prompt)} characters; Vidu accepts at most {MAX_PROMPT_CHARS}"
    model = inputs.get("model", "viduq1")
    duration = int(inputs.get("duration", 5))
    allowed = MODEL_DURATIONS.get(model)
    if allowed is not None and duration not in allowed:
        return f"{model} takes a duration of {', '.join(map(str, allowed))} s, not {duration}"
    return None


def _common_inputs() -> tuple[Input, ...]:
    return (
        Input("model", "COMBO", default="viduq1", choices=MODELS),
        Input("duration", "INT", default=5, min=1,
              tooltip="Seconds; viduq1 takes 5. Other models' durations are not checked."),
        Input("movement_amplitude", "COMBO", default="auto", choices=MOVEMENT_AMPLITUDES,
              optional=True),
        Input("bgm", "BOOLEAN", default=False, optional=True,
              tooltip="Add background music."),
        seed_input(MAX_SEED, tooltip="Seed sent to Vidu; 0 picks a random seed."),
    )


async def _run_task(node: ProviderNode, ctx: Any, secret: str | None, path: str,
                    body: dict[str, Any]) -> NodeOutput:
    api = node.connect(ctx, secret)
    job = await api.submit_job(
        path, json=body, model=body["model"],
        job_id=lambda created: created["task_id"],
        poll_url=lambda created, job_id: f"/tasks/{job_id}/creations",
    )
    status = await api.poll(job, parse_creations)
    url = api.parse_result(lambda: str(status.result[0]["url"]), "creations[0].url",
                           job.poll_url)
    file_path, entry = output_file(ctx, SPEC.name, "mp4")
    _, media_type = await api.download(
        url, content_types=("video/", "application/octet-stream"), dest=file_path,
    )
    file_path, entry = change_extension(file_path, entry, extension_for(media_type, "mp4"))
    return NodeOutput((str(file_path),), {"videos": [entry]})


class ViduTextToVideo(ProviderNode):
    class_type = "ViduTextToVideo"
    display_name = "Vidu Text to Video"
    category = "api node/video/Vidu"
    description = "Generate a video from a prompt with Vidu."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("aspect_ratio", "COMBO", default="16:9", choices=ASPECT_RATIOS,
              tooltip="3:4 and 4:3 are accepted by some models only."),
        *_common_inputs(),
        secret_input(SPEC.name),
    )
    outputs = (Output("VIDEO"),)
    output_node = True

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        if not str(inputs.get("prompt", "")).strip():
            return "prompt is empty"
        return _check_common(inputs) or True

    async def execute(
        self, ctx: Any, *, prompt: str, model: str = "viduq1", duration: int = 5,
        aspect_ratio: str = "16:9", movement_amplitude: str = "auto", bgm: bool = False,
        seed: int = 0, secret: str | None = None,
    ) -> NodeOutput:
        self.check_inputs(prompt=prompt, model=model, duration=duration, secret=secret)
        body: dict[str, Any] = {
            "model": model,
            "prompt": prompt,
            "duration": duration,
            "aspect_ratio": aspect_ratio,
            "movement_amplitude": movement_amplitude,
            "bgm": bgm,
            "seed": seed,
        }
        return await _run_task(self, ctx, secret, "/text2video", body)


class ViduImageToVideo(ProviderNode):
    class_type = "ViduImageToVideo"
    display_name = "Vidu Image to Video"
    category = "api node/video/Vidu"
    description = "Animate an image into a video with Vidu."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("image", "IMAGE", tooltip="First frame of the video (the first image of a batch)."),
        Input("prompt", "STRING", default="", multiline=True, optional=True),
        *_common_inputs(),
        secret_input(SPEC.name),
    )
    outputs = (Output("VIDEO"),)
    output_node = True

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        return _check_common(inputs) or True

    async def execute(
        self, ctx: Any, *, image: Any, prompt: str = "", model: str = "viduq1",
        duration: int = 5, movement_amplitude: str = "auto", bgm: bool = False, seed: int = 0,
        secret: str | None = None,
    ) -> NodeOutput:
        self.check_inputs(prompt=prompt, model=model, duration=duration, secret=secret)
        # NOTE: the sources state no size limit for image data URIs.
        png = await encode_image(image)
        body: dict[str, Any] = {
            "model": model,
            "images": [data_uri(png, "image/png")],
            "duration": duration,
            "movement_amplitude": movement_amplitude,
            "bgm": bgm,
            "seed": seed,
        }
        if prompt.strip():
            body["prompt"] = prompt
        return await _run_task(self, ctx, secret, "/img2video", body)


NODE_CLASSES = [ViduTextToVideo, ViduImageToVideo]
