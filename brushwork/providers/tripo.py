"""Tripo: text-to-3D and image-to-3D models (asynchronous tasks).

API facts:

- Base URL https://api.tripo3d.ai/v2/openapi, ``Authorization: Bearer``.
- ``POST /task`` takes JSON with ``type`` (text_to_model, image_to_model, ...)
  and returns ``{"code": 0, "data": {"task_id"}}``.
- ``POST /upload`` takes a multipart ``file`` and returns
  ``data.image_token``; ``image_to_model`` then takes ``file: {type,
  file_token}``.
- ``GET /task/{task_id}`` returns ``data.status`` (queued, running, success,
  failed, cancelled, unknown, banned, expired), ``data.progress`` (0-100) and
  ``data.output`` with ``model``, ``base_model``, ``pbr_model`` and
  ``rendered_image`` URLs.
- Errors are ``{code (non-zero), message, suggestion}``.

Sources: ``VAST-AI-Research/tripo-python-sdk`` at be675dfa
(``tripo3d/client.py``, ``models.py``, ``client_impl/aiohttp_client_impl.py``)
and ComfyUI ``comfy_api_nodes/apis/tripo_api.py``.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from ..engine.node import Input, NodeOutput, Output
from ..errors import ProviderError
from .call import JobState, JobStatus, ProviderCall
from .client import FormField, ProviderSpec, bearer_auth, default_error_message
from .media import change_extension, encode_image, output_file
from .nodebase import ProviderNode, secret_input, seed_input
from .settings import PollPolicy

# The engine type of a 3D model file: the output is the file's path, and the
# UI entry goes under "3d". Tripo, Rodin and Meshy nodes use the same name.
FILE_3D = "FILE_3D"
MODEL_CONTENT_TYPES = ("model/", "application/octet-stream", "binary/octet-stream")
MODEL_EXTENSIONS = ("glb", "gltf", "fbx", "obj", "stl", "usdz")
_MODEL_MEDIA_TYPES = {
    "model/gltf-binary": "glb",
    "model/gltf+json": "gltf",
    "model/obj": "obj",
    "model/stl": "stl",
    "model/vnd.usdz+zip": "usdz",
}


def tripo_error_message(body: Any) -> str | None:
    """Return ``message (suggestion), code N`` from a Tripo error body."""
    if isinstance(body, dict) and body.get("message"):
        text = str(body["message"])
        if body.get("suggestion"):
            text += f" ({body['suggestion']})"
        if body.get("code") is not None:
            text += f", code {body['code']}"
        return text
    return default_error_message(body)


SPEC = ProviderSpec(
    name="tripo",
    display_name="Tripo",
    base_url="https://api.tripo3d.ai/v2/openapi",
    auth=bearer_auth,
    error_message=tripo_error_message,
    poll=PollPolicy(initial_interval_s=3.0, max_interval_s=15.0, deadline_s=1800.0),
)

MODEL_VERSIONS = ("v2.5-20250123", "v3.0-20250812", "v3.1-20260211", "P1-20260311",
                  "Turbo-v1.0-20250506")
QUALITIES = ("standard", "detailed")
# NOTE: the sources give no seed range; 2**31 - 1 is this node's own cap.
MAX_SEED = 2**31 - 1

_QUEUED = {"queued"}
_FAILED = {"failed", "cancelled", "unknown", "banned", "expired"}
# Output fields that hold the model file, in order of preference.
_MODEL_FIELDS = ("pbr_model", "model", "base_model")


def parse_task(body: Any) -> JobStatus:
    """Map a ``GET /task/{id}`` body to a JobStatus; ``result`` is ``data.output``."""
    data = body["data"]
    status = str(data["status"])
    progress = data.get("progress")
    fraction = float(progress) / 100.0 if isinstance(progress, int | float) else None
    if status == "success":
        return JobStatus(JobState.SUCCEEDED, 1.0, status, result=data["output"])
    if status in _FAILED:
        return JobStatus(JobState.FAILED, fraction, status, message=status)
    return JobStatus(JobState.QUEUED if status in _QUEUED else JobState.RUNNING, fraction,
                     status)


def read_data(body: Any, path: str) -> dict[str, Any]:
    """Return ``data`` of a Tripo response body, or raise its error when ``code`` is not 0."""
    if isinstance(body, dict) and body.get("code", 0) != 0:
        # An upload starts no paid work. For a task, an error code inside a 2xx response does
        # not prove that the provider rejected it.
        charged = path == "/task"
        raise ProviderError(
            f"Tripo POST {path} failed: {tripo_error_message(body) or body.get('code')}"
            + (". The provider may already have charged for this request." if charged else ""),
            provider=SPEC.name, may_have_charged=charged,
        )
    return body["data"]


def model_extension(url: str, media_type: str | None = None) -> str | None:
    """Return the file extension of a model from its URL path or media type, if known."""
    suffix = PurePosixPath(urlsplit(url).path).suffix.lstrip(".").lower()
    if suffix in MODEL_EXTENSIONS:
        return suffix
    if media_type:
        return _MODEL_MEDIA_TYPES.get(media_type.split(";", 1)[0].strip().lower())
    return None


def model_output_inputs() -> tuple[Input, ...]:
    return (
        Input("model_version", "COMBO", default="v2.5-20250123", choices=MODEL_VERSIONS),
        Input("texture", "BOOLEAN", default=True, optional=True),
        Input("pbr", "BOOLEAN", default=True, optional=True,
              tooltip="Add physically based rendering materials."),
        Input("texture_quality", "COMBO", default="standard", choices=QUALITIES,
              optional=True),
        Input("geometry_quality", "COMBO", default="standard", choices=QUALITIES,
              optional=True),
        Input("face_limit", "INT", default=0, min=0, optional=True,
              tooltip="Maximum number of faces; 0 leaves it to Tripo."),
        Input("quad", "BOOLEAN", default=False, optional=True,
              tooltip="Build a quad mesh instead of triangles."),
        Input("auto_size", "BOOLEAN", default=False, optional=True,
              tooltip="Scale the model to real-world size."),
        seed_input(MAX_SEED, tooltip="Geometry seed (model_seed); 0 lets Tripo pick one."),
        Input("texture_seed", "INT", default=0, min=0, max=MAX_SEED, optional=True,
              tooltip="Texture seed; 0 lets Tripo pick one."),
    )


def model_options(*, model_version: str, texture: bool, pbr: bool, texture_quality: str,
                  geometry_quality: str, face_limit: int, quad: bool, auto_size: bool,
                  seed: int, texture_seed: int) -> dict[str, Any]:
    """Return the task fields shared by text-to-model and image-to-model."""
    options: dict[str, Any] = {
        "model_version": model_version,
        "texture": texture,
        "pbr": pbr,
        "texture_quality": texture_quality,
        "geometry_quality": geometry_quality,
        "quad": quad,
        "auto_size": auto_size,
    }
    if face_limit > 0:
        options["face_limit"] = face_limit
    if seed > 0:
        options["model_seed"] = seed
    if texture_seed > 0:
        options["texture_seed"] = texture_seed
    return options


async def run_model_task(ctx: Any, api: ProviderCall, body: dict[str, Any]) -> NodeOutput:
    """Submit a model task, wait for it, and save its model file under the output folder."""
    job = await api.submit_job(
        "/task", json=body, model=body.get("model_version"),
        job_id=lambda created: read_data(created, "/task")["task_id"],
        poll_url=lambda created, job_id: f"/task/{job_id}",
    )
    status = await api.poll(job, parse_task)
    output = status.result or {}
    url = api.parse_result(
        lambda: str(next(output[name] for name in _MODEL_FIELDS if output.get(name))),
        "output.pbr_model, output.model or output.base_model", job.poll_url,
    )
    # NOTE: the sources do not state the model file format; an unknown one is saved as .bin.
    path, entry = output_file(ctx, SPEC.name, model_extension(url) or "bin")
    _, media_type = await api.download(url, content_types=MODEL_CONTENT_TYPES, dest=path)
    if path.suffix == ".bin":
        path, entry = change_extension(path, entry, model_extension(url, media_type) or "bin")
    return NodeOutput((str(path),), {"3d": [entry]})


class TripoTextTo3D(ProviderNode):
    class_type = "TripoTextTo3D"
    display_name = "Tripo Text to 3D"
    category = "api node/3d/Tripo"
    description = "Generate a textured 3D model from a prompt with Tripo."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True),
        Input("negative_prompt", "STRING", default="", multiline=True, optional=True),
        *model_output_inputs(),
        secret_input(SPEC.name),
    )
    outputs = (Output(FILE_3D, "model_file"),)
    output_node = True

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        if not str(inputs.get("prompt", "")).strip():
            return "prompt is empty"
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, negative_prompt: str = "",
        model_version: str = "v2.5-20250123", texture: bool = True, pbr: bool = True,
        texture_quality: str = "standard", geometry_quality: str = "standard",
        face_limit: int = 0, quad: bool = False, auto_size: bool = False, seed: int = 0,
        texture_seed: int = 0, secret: str | None = None,
    ) -> NodeOutput:
        self.check_inputs(prompt=prompt, secret=secret)
        api = self.connect(ctx, secret)
        body: dict[str, Any] = {"type": "text_to_model", "prompt": prompt}
        if negative_prompt.strip():
            body["negative_prompt"] = negative_prompt
        body.update(model_options(
            model_version=model_version, texture=texture, pbr=pbr,
            texture_quality=texture_quality, geometry_quality=geometry_quality,
            face_limit=face_limit, quad=quad, auto_size=auto_size, seed=seed,
            texture_seed=texture_seed,
        ))
        return await run_model_task(ctx, api, body)


class TripoImageTo3D(ProviderNode):
    class_type = "TripoImageTo3D"
    display_name = "Tripo Image to 3D"
    category = "api node/3d/Tripo"
    description = "Generate a textured 3D model from one image with Tripo."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("image", "IMAGE", tooltip="The object to model (the first image of a batch)."),
        *model_output_inputs(),
        Input("orientation", "COMBO", default="default", choices=("default", "align_image"),
              optional=True),
        Input("texture_alignment", "COMBO", default="original_image",
              choices=("original_image", "geometry"), optional=True),
        secret_input(SPEC.name),
    )
    outputs = (Output(FILE_3D, "model_file"),)
    output_node = True

    async def execute(
        self, ctx: Any, *, image: Any, model_version: str = "v2.5-20250123",
        texture: bool = True, pbr: bool = True, texture_quality: str = "standard",
        geometry_quality: str = "standard", face_limit: int = 0, quad: bool = False,
        auto_size: bool = False, seed: int = 0, texture_seed: int = 0,
        orientation: str = "default", texture_alignment: str = "original_image",
        secret: str | None = None,
    ) -> NodeOutput:
        self.check_inputs(secret=secret)
        api = self.connect(ctx, secret)
        # Uploads are not billed; a re-run after a crash uploads again, then resumes its task.
        png = await encode_image(image)
        uploaded = await api.request_json(
            "POST", "/upload", submission=False,
            form=[FormField("file", png, filename="image.png", content_type="image/png")],
        )
        token = api.parse_result(lambda: str(read_data(uploaded, "/upload")["image_token"]),
                                 "data.image_token", "/upload")
        body: dict[str, Any] = {"type": "image_to_model", "file": {"type": "png",
                                                                   "file_token": token}}
        body.update(model_options(
            model_version=model_version, texture=texture, pbr=pbr,
            texture_quality=texture_quality, geometry_quality=geometry_quality,
            face_limit=face_limit, quad=quad, auto_size=auto_size, seed=seed,
            texture_seed=texture_seed,
        ))
        body["orientation"] = orientation
        body["texture_alignment"] = texture_alignment
        return await run_model_task(ctx, api, body)


NODE_CLASSES = [TripoTextTo3D, TripoImageTo3D]
