"""Topaz Labs: image upscaling and enhancement (asynchronous).

API facts:

- Base URL https://api.topazlabs.com/image/v1, ``X-API-Key`` header.
- ``POST /enhance/async`` (standard models such as "Standard V2") and
  ``POST /enhance-gen/async`` (generative models such as "Reimagine") take a
  ``multipart/form-data`` body. The input is an ``image`` file part (JPEG,
  PNG or TIFF) or a ``source_url``. The other fields are ``model``,
  ``output_format`` (jpeg, png, tiff), ``output_width``, ``output_height``,
  ``crop_to_fill``, ``face_enhancement``, ``face_enhancement_strength`` and
  ``face_enhancement_creativity`` (0-1, required with face enhancement).
  ``/enhance-gen/async`` also takes ``prompt``, ``creativity`` (1-9),
  ``face_preservation`` and ``color_preservation``. Both return
  ``{process_id, eta}``. Output is limited to 512 megapixels.
- ``GET /status/{process_id}`` returns ``{process_id, status, progress
  (0-100), credits}``; ``status`` is Pending, Processing, Completed,
  Cancelled or Failed.
- ``GET /download/{process_id}`` returns ``{download_url, head_url,
  expiry}``, a presigned URL; before completion it returns 409.
- ``DELETE /cancel/{process_id}`` cancels a job that has not finished (204).
- Errors are ``{"code", "message"}``.

Sources: ComfyUI ``comfy_api_nodes/apis/topaz.py`` and ``nodes_topaz.py``
(the enhance-gen fields and ranges); developer.topazlabs.com: the image API
reference (``/enhance/async``, the image file part, the 512 MP limit), the
status, download and cancel reference pages (paths, the error body), the
webhook description on the denoise page (status values), and the Standard 2
model page (the model name "Standard V2", the face enhancement fields). The
other standard model names come from the scenario.com and oxen.ai Topaz pages.
"""

from __future__ import annotations

from typing import Any

from ..engine.node import Input, Output
from .call import JobState, JobStatus
from .client import FormField, ProviderSpec, header_auth
from .media import decode_images, encode_image
from .nodebase import ProviderNode, secret_input
from .settings import PollPolicy

SPEC = ProviderSpec(
    name="topaz",
    display_name="Topaz Labs",
    base_url="https://api.topazlabs.com/image/v1",
    auth=header_auth("X-API-Key"),
    poll=PollPolicy(initial_interval_s=3.0, max_interval_s=15.0, deadline_s=1800.0),
)

STANDARD_MODELS = ("Standard V2", "Low Resolution V2", "CGI", "High Fidelity V2",
                   "Text Refine")
GENERATIVE_MODELS = ("Reimagine",)
MAX_SIDE = 32000
MAX_OUTPUT_PIXELS = 512_000_000


def parse_status(body: Any) -> JobStatus:
    """Map a status body to a JobStatus; progress is reported in percent."""
    status = str(body["status"])
    progress = body.get("progress")
    fraction = float(progress) / 100.0 if isinstance(progress, int | float) else None
    if status == "Completed":
        return JobStatus(JobState.SUCCEEDED, 1.0, status)
    if status in ("Failed", "Cancelled"):
        return JobStatus(JobState.FAILED, None, status, message=f"status {status}")
    return JobStatus(JobState.QUEUED if status == "Pending" else JobState.RUNNING, fraction,
                     status)


def _flag(value: bool) -> str:
    return "true" if value else "false"


class TopazImageUpscale(ProviderNode):
    class_type = "TopazImageUpscale"
    display_name = "Topaz Labs Image Upscale"
    category = "api node/image/Topaz Labs"
    description = ("Upscale and enhance an image with Topaz Labs' standard models, or "
                   "reimagine its details with a generative model.")
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("image", "IMAGE", tooltip="The image to enhance; only its first frame is sent."),
        Input("model", "COMBO", default="Standard V2",
              choices=STANDARD_MODELS + GENERATIVE_MODELS),
        Input("output_width", "INT", default=0, min=0, max=MAX_SIDE, optional=True,
              tooltip="Output width in pixels; 0 derives it from the height or the input."),
        Input("output_height", "INT", default=0, min=0, max=MAX_SIDE, optional=True,
              tooltip="Output height in pixels; 0 derives it from the width or the input."),
        Input("crop_to_fill", "BOOLEAN", default=False, optional=True,
              tooltip="Crop instead of letterboxing when the aspect ratio changes."),
        Input("face_enhancement", "BOOLEAN", default=False, optional=True),
        Input("face_enhancement_strength", "FLOAT", default=0.8, min=0.0, max=1.0, step=0.01,
              optional=True, tooltip="Sharpness of enhanced faces; used with face_enhancement."),
        Input("face_enhancement_creativity", "FLOAT", default=0.0, min=0.0, max=1.0,
              step=0.01, optional=True, tooltip="0 is realistic, 1 creative face recovery."),
        Input("prompt", "STRING", default="", multiline=True, optional=True,
              tooltip="Guidance for generative models; ignored by standard models."),
        Input("creativity", "INT", default=3, min=1, max=9, optional=True,
              tooltip="1-9, for generative models only."),
        secret_input(SPEC.name),
    )
    outputs = (Output("IMAGE"),)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        width = int(inputs.get("output_width", 0))
        height = int(inputs.get("output_height", 0))
        if width * height > MAX_OUTPUT_PIXELS:
            return (f"output {width}x{height} is {width * height} pixels; Topaz Labs "
                    f"produces at most {MAX_OUTPUT_PIXELS}")
        creativity = int(inputs.get("creativity", 3))
        if not 1 <= creativity <= 9:
            return f"creativity is {creativity}; Topaz Labs takes 1 to 9"
        return True

    async def execute(
        self, ctx: Any, *, image: Any, model: str = "Standard V2", output_width: int = 0,
        output_height: int = 0, crop_to_fill: bool = False, face_enhancement: bool = False,
        face_enhancement_strength: float = 0.8, face_enhancement_creativity: float = 0.0,
        prompt: str = "", creativity: int = 3, secret: str | None = None,
    ) -> tuple[Any]:
        self.check_inputs(output_width=output_width, output_height=output_height,
                          creativity=creativity, secret=secret)
        api = self.connect(ctx, secret)
        png = await encode_image(image)
        form = [
            FormField("image", png, filename="image.png", content_type="image/png"),
            FormField("model", model),
            FormField("output_format", "png"),
            FormField("crop_to_fill", _flag(crop_to_fill)),
            FormField("face_enhancement", _flag(face_enhancement)),
        ]
        if face_enhancement:
            form.append(FormField("face_enhancement_strength", f"{face_enhancement_strength:g}"))
            form.append(FormField("face_enhancement_creativity",
                                  f"{face_enhancement_creativity:g}"))
        if output_width > 0:
            form.append(FormField("output_width", str(output_width)))
        if output_height > 0:
            form.append(FormField("output_height", str(output_height)))
        path = "/enhance/async"
        if model in GENERATIVE_MODELS:
            path = "/enhance-gen/async"
            form.append(FormField("creativity", str(creativity)))
            if prompt.strip():
                form.append(FormField("prompt", prompt))

        job = await api.submit_job(
            path, form=form, model=model,
            job_id=lambda created: created["process_id"],
            poll_url=lambda created, job_id: f"/status/{job_id}",
        )
        await api.poll(job, parse_status, cancel=("DELETE", f"/cancel/{job.job_id}"))
        # The finished job's image is behind a presigned URL that this request returns.
        result_path = f"/download/{job.job_id}"
        links = await api.request_json("GET", result_path, model=model, submission=False,
                                       accepted=True)
        url = api.parse_result(lambda: str(links["download_url"]), "download_url", result_path)
        data, _ = await api.download(url, content_types=("image/",),
                                     max_bytes=api.hub.settings.max_image_bytes)
        return (await decode_images([data], provider=SPEC.display_name),)


NODE_CLASSES = [TopazImageUpscale]
