"""Rodin (Hyper3D): 3D models from a prompt or images (asynchronous tasks).

API facts:

- Base URL https://api.hyper3d.com/api/v2 (older clients use
  https://hyperhuman.deemos.com/api/v2), ``Authorization: Bearer``.
- ``POST /rodin`` takes ``multipart/form-data``: ``prompt`` or up to five
  ``images`` file parts, and ``seed``, ``tier``, ``material``, ``quality``,
  ``mesh_mode``, ``geometry_file_format``. It returns ``{message, prompt,
  submit_time, uuid, jobs: {uuids, subscription_key}}``, or a body with
  ``error``.
- ``POST /status`` with JSON ``{subscription_key}`` returns
  ``{jobs: [{uuid, status}]}``; ``status`` is Waiting, Generating, Done or
  Failed, and the task is done when every job is Done.
- ``POST /download`` with JSON ``{task_uuid}`` returns ``{list: [{url, name}]}``.

Sources: ComfyUI ``comfy_api_nodes/apis/rodin_api.py`` at 257de1c2 and
``nodes_rodin.py``; Comfy-Org/workflow_templates
``site/knowledge/models/rodin.md``; independent clients that name the
api.hyper3d.com host after developer.hyper3d.ai.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from ..engine.node import Input, NodeOutput, Output
from ..errors import ProviderError
from .call import JobRef, JobState, JobStatus
from .client import FormField, ProviderSpec, bearer_auth
from .media import encode_image, output_file
from .nodebase import ProviderNode, secret_input, seed_input
from .settings import PollPolicy

# The engine type of a 3D model file: the output is the file's path, and the
# UI entry goes under "3d". Tripo, Rodin and Meshy nodes use the same name.
FILE_3D = "FILE_3D"
MODEL_CONTENT_TYPES = ("model/", "application/octet-stream", "binary/octet-stream")

SPEC = ProviderSpec(
    name="rodin",
    display_name="Rodin",
    base_url="https://api.hyper3d.com/api/v2",
    auth=bearer_auth,
    poll=PollPolicy(initial_interval_s=5.0, max_interval_s=15.0, deadline_s=1800.0),
)

TIERS = ("Regular", "Gen-2", "Detail", "Smooth", "Sketch")
MATERIALS = ("PBR", "Shaded", "All")
QUALITIES = ("medium", "high", "low", "extra-low")
MESH_MODES = ("Raw", "Quad")
FILE_FORMATS = ("glb", "fbx", "obj", "stl", "usdz")
CONDITION_MODES = ("concat", "fuse")
MAX_IMAGES = 5
MAX_SEED = 65535
STATUS_PATH = "/status"


def parse_status(body: Any) -> JobStatus:
    """Map a ``/status`` body to a JobStatus: done when every job is Done, failed if one failed."""
    statuses = [str(job["status"]) for job in body["jobs"]]
    if not statuses:
        raise ValueError("the status lists no jobs")
    summary = ", ".join(statuses)
    if "Failed" in statuses:
        return JobStatus(JobState.FAILED, None, summary, message=f"job statuses: {summary}")
    done = statuses.count("Done")
    if done == len(statuses):
        return JobStatus(JobState.SUCCEEDED, 1.0, summary)
    if "Generating" in statuses or done:
        return JobStatus(JobState.RUNNING, done / len(statuses), summary)
    return JobStatus(JobState.QUEUED, None, summary)


def task_uuid(created: Any) -> str:
    """Return the task uuid of a ``/rodin`` response, or raise its ``error`` as a ProviderError."""
    if isinstance(created, dict) and created.get("error"):
        raise ProviderError(
            f"Rodin POST /rodin returned an error instead of a task: {created['error']}. "
            "The provider may already have charged for this request.",
            provider=SPEC.name, may_have_charged=True,
        )
    return str(created["uuid"])


def status_ref(job: JobRef) -> tuple[JobRef, str]:
    """Split a recorded job into the status request's JobRef and its subscription key.

    ``/status`` needs the task's subscription key, so the recorded polling URL
    carries it as its fragment (``…/status#<key>``). The fragment is never
    sent, and a resumed run reads the key back from there.
    """
    url, _, key = job.poll_url.partition("#")
    if not key:
        raise ProviderError(
            f"Rodin job {job.job_id} has no subscription key in its polling URL, so its status "
            "cannot be read.",
            provider=SPEC.name, may_have_charged=True,
        )
    return JobRef(job.job_id, url, job.resumed), key


def pick_model_file(files: list[dict[str, Any]], file_format: str) -> dict[str, Any]:
    """Return the downloaded list's entry whose name has the requested extension."""
    for item in files:
        name = str(item.get("name") or PurePosixPath(urlsplit(str(item["url"])).path).name)
        if name.lower().endswith("." + file_format):
            return item
    names = ", ".join(str(item.get("name")) for item in files) or "none"
    raise ValueError(f"no .{file_format} file among the results ({names})")


class RodinGenerate3D(ProviderNode):
    class_type = "RodinGenerate3D"
    display_name = "Rodin 3D Generation"
    category = "api node/3d/Rodin"
    description = "Generate a 3D model from a prompt, or from up to five images, with Rodin."
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True,
              tooltip="Text to model; optional when images are given."),
        Input("tier", "COMBO", default="Regular", choices=TIERS),
        Input("material", "COMBO", default="PBR", choices=MATERIALS),
        Input("quality", "COMBO", default="medium", choices=QUALITIES),
        Input("mesh_mode", "COMBO", default="Raw", choices=MESH_MODES, optional=True),
        Input("geometry_file_format", "COMBO", default="glb", choices=FILE_FORMATS,
              optional=True),
        seed_input(MAX_SEED),
        Input("images", "IMAGE", optional=True,
              tooltip="Up to five views of the object (the frames of a batch)."),
        Input("condition_mode", "COMBO", default="concat", choices=CONDITION_MODES,
              optional=True, tooltip="How several images are combined; sent only with two or "
                                     "more images."),
        secret_input(SPEC.name),
    )
    outputs = (Output(FILE_3D, "model_file"),)
    output_node = True

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        images = inputs.get("images")
        if images is None and not str(inputs.get("prompt", "")).strip():
            return "prompt is empty and no images are given; Rodin needs one of them"
        if images is not None and _frame_count(images) > MAX_IMAGES:
            return f"images holds {_frame_count(images)} frames; Rodin accepts at most 5"
        return True

    async def execute(
        self, ctx: Any, *, prompt: str = "", tier: str = "Regular", material: str = "PBR",
        quality: str = "medium", mesh_mode: str = "Raw", geometry_file_format: str = "glb",
        seed: int = 0, images: Any = None, condition_mode: str = "concat",
        secret: str | None = None,
    ) -> NodeOutput:
        self.check_inputs(prompt=prompt, images=images, secret=secret)
        api = self.connect(ctx, secret)
        form = [
            FormField("tier", tier),
            FormField("material", material),
            FormField("quality", quality),
            FormField("mesh_mode", mesh_mode),
            FormField("geometry_file_format", geometry_file_format),
        ]
        if prompt.strip():
            form.append(FormField("prompt", prompt))
        if seed > 0:
            form.append(FormField("seed", str(seed)))
        count = _frame_count(images) if images is not None else 0
        for index in range(count):
            png = await encode_image(images, index=index)
            form.append(FormField("images", png, filename=f"image-{index}.png",
                                  content_type="image/png"))
        if count > 1:
            form.append(FormField("condition_mode", condition_mode))

        job = await api.submit_job(
            "/rodin", form=form, model=tier,
            job_id=task_uuid,
            poll_url=lambda created, job_id:
                f"{STATUS_PATH}#{created['jobs']['subscription_key']}",
        )
        status_job, subscription_key = status_ref(job)
        await api.poll(status_job, parse_status, method="POST",
                       json={"subscription_key": subscription_key})

        listing = await api.request_json("POST", "/download", json={"task_uuid": job.job_id},
                                         submission=False, accepted=True)
        item = api.parse_result(
            lambda: pick_model_file(list(listing["list"]), geometry_file_format),
            f"list[].url of the .{geometry_file_format} file", "/download",
        )
        path, entry = output_file(ctx, SPEC.name, geometry_file_format)
        await api.download(str(item["url"]), content_types=MODEL_CONTENT_TYPES, dest=path)
        return NodeOutput((str(path),), {"3d": [entry]})


def _frame_count(images: Any) -> int:
    shape = getattr(images, "shape", None)
    if shape is None:
        return 1
    return int(shape[0]) if len(shape) == 4 else 1


NODE_CLASSES = [RodinGenerate3D]
