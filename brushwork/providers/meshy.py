"""Meshy: text-to-3D preview and refine (asynchronous tasks).

API facts:

- Base URL https://api.meshy.ai, ``Authorization: Bearer``.
- ``POST /openapi/v2/text-to-3d`` with ``mode: "preview"`` creates an
  untextured model; with ``mode: "refine"`` and ``preview_task_id`` it
  textures a finished preview. Both return ``{"result": <task id>}``.
- ``GET /openapi/v2/text-to-3d/{id}`` returns ``status`` (PENDING,
  IN_PROGRESS, SUCCEEDED, FAILED, CANCELED), ``progress`` (0-100),
  ``model_urls{glb, fbx, obj, usdz}`` and ``task_error{message}``.
- Errors are ``{"message"}`` (v1) or ``{type, code, message, doc_url}`` (v2);
  429 carries Retry-After.

Sources: ComfyUI ``comfy_api_nodes/apis/meshy.py`` and ``nodes_meshy.py`` at
13206e77; docs.meshy.ai (``/api/v2/tasks``, ``/api/task-lifecycle``,
``/api/errors``, ``/en/api/v2/errors``, ``/api/v2/rate-limits``).
"""

from __future__ import annotations

from typing import Any

from ..engine.node import Input, NodeOutput, Output
from .call import JobRef, JobState, JobStatus, ProviderCall
from .client import ProviderSpec, bearer_auth, default_error_message
from .media import output_file
from .nodebase import ProviderNode, secret_input, seed_input
from .settings import PollPolicy

# The engine type of a 3D model file: the output is the file's path, and the
# UI entry goes under "3d". Tripo, Rodin and Meshy nodes use the same name.
FILE_3D = "FILE_3D"
MODEL_CONTENT_TYPES = ("model/", "application/octet-stream", "binary/octet-stream")


def meshy_error_message(body: Any) -> str | None:
    """Return ``code: message`` from a Meshy v2 error body, or the v1 message."""
    if isinstance(body, dict) and body.get("message"):
        code = body.get("code")
        return f"{code}: {body['message']}" if code else str(body["message"])
    return default_error_message(body)


SPEC = ProviderSpec(
    name="meshy",
    display_name="Meshy",
    base_url="https://api.meshy.ai",
    auth=bearer_auth,
    error_message=meshy_error_message,
    poll=PollPolicy(initial_interval_s=3.0, max_interval_s=15.0, deadline_s=1800.0),
)

ART_STYLES = ("realistic", "sculpture")
TOPOLOGIES = ("triangle", "quad")
SYMMETRY_MODES = ("auto", "on", "off")
POSE_MODES = ("none", "a-pose", "t-pose")
MODEL_FORMATS = ("glb", "fbx", "obj", "usdz")
MAX_PROMPT_CHARS = 600
# NOTE: the sources give no seed range; 2**31 - 1 is this node's own cap.
MAX_SEED = 2**31 - 1
TASKS_PATH = "/openapi/v2/text-to-3d"

_FAILED = {"FAILED", "CANCELED"}


def parse_task(body: Any) -> JobStatus:
    """Map a text-to-3D task to a JobStatus; ``result`` is its ``model_urls``."""
    status = str(body["status"])
    progress = body.get("progress")
    fraction = float(progress) / 100.0 if isinstance(progress, int | float) else None
    if status == "SUCCEEDED":
        return JobStatus(JobState.SUCCEEDED, 1.0, status, result=body["model_urls"])
    if status in _FAILED:
        error = body.get("task_error") or {}
        message = error.get("message") if isinstance(error, dict) else None
        return JobStatus(JobState.FAILED, fraction, status, message=message or status)
    return JobStatus(JobState.QUEUED if status == "PENDING" else JobState.RUNNING, fraction,
                     status)


async def _run_task(api: ProviderCall, body: dict[str, Any]) -> tuple[JobRef, JobStatus]:
    job = await api.submit_job(
        TASKS_PATH, json=body, model=body.get("ai_model"),
        job_id=lambda created: created["result"],
        poll_url=lambda created, job_id: f"{TASKS_PATH}/{job_id}",
    )
    return job, await api.poll(job, parse_task)


class MeshyTextTo3D(ProviderNode):
    class_type = "MeshyTextTo3D"
    display_name = "Meshy Text to 3D"
    category = "api node/3d/Meshy"
    description = (
        "Generate a 3D model from a prompt with Meshy: a preview mesh, then optionally a "
        "textured refine pass."
    )
    spec = SPEC
    provider = SPEC.name
    inputs = (
        Input("prompt", "STRING", default="", multiline=True,
              tooltip="At most 600 characters."),
        Input("art_style", "COMBO", default="realistic", choices=ART_STYLES),
        Input("ai_model", "STRING", default="latest",
              tooltip="'latest' or a Meshy model version."),
        # NOTE: the sources state no API defaults; these defaults are the node's own.
        Input("topology", "COMBO", default="triangle", choices=TOPOLOGIES, optional=True),
        Input("target_polycount", "INT", default=30000, min=100, max=300000, optional=True),
        Input("should_remesh", "BOOLEAN", default=True, optional=True),
        Input("symmetry_mode", "COMBO", default="auto", choices=SYMMETRY_MODES, optional=True),
        Input("pose_mode", "COMBO", default="none", choices=POSE_MODES, optional=True,
              tooltip="Pose of a character model; 'none' sends no pose."),
        seed_input(MAX_SEED),
        Input("refine", "BOOLEAN", default=False, optional=True,
              tooltip="Texture the preview in a second, separately billed task."),
        Input("enable_pbr", "BOOLEAN", default=False, optional=True,
              tooltip="Add PBR maps in the refine task."),
        Input("texture_prompt", "STRING", default="", multiline=True, optional=True,
              tooltip="Describes the texture in the refine task."),
        Input("model_format", "COMBO", default="glb", choices=MODEL_FORMATS, optional=True,
              tooltip="Which of the returned model files to save."),
        secret_input(SPEC.name),
    )
    outputs = (Output(FILE_3D, "model_file"),)
    output_node = True

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        prompt = str(inputs.get("prompt", ""))
        if not prompt.strip():
            return "prompt is empty"
        if len(prompt) > MAX_PROMPT_CHARS:
            return f"prompt is {len(prompt)} characters; Meshy accepts at most 600"
        if not str(inputs.get("ai_model", "latest")).strip():
            return "ai_model is empty; use 'latest' or a Meshy model version"
        return True

    async def execute(
        self, ctx: Any, *, prompt: str, art_style: str = "realistic", ai_model: str = "latest",
        topology: str = "triangle", target_polycount: int = 30000, should_remesh: bool = True,
        symmetry_mode: str = "auto", pose_mode: str = "none", seed: int = 0,
        refine: bool = False, enable_pbr: bool = False, texture_prompt: str = "",
        model_format: str = "glb", secret: str | None = None,
    ) -> NodeOutput:
        self.check_inputs(prompt=prompt, ai_model=ai_model, secret=secret)
        api = self.connect(ctx, secret)
        preview: dict[str, Any] = {
            "mode": "preview",
            "prompt": prompt,
            "art_style": art_style,
            "ai_model": ai_model.strip(),
            "topology": topology,
            "target_polycount": target_polycount,
            "should_remesh": should_remesh,
            "symmetry_mode": symmetry_mode,
            "pose_mode": "" if pose_mode == "none" else pose_mode,
        }
        if seed > 0:
            preview["seed"] = seed
        job, status = await _run_task(api, preview)

        if refine:
            refine_body: dict[str, Any] = {
                "mode": "refine",
                "preview_task_id": job.job_id,
                "enable_pbr": enable_pbr,
            }
            if texture_prompt.strip():
                refine_body["texture_prompt"] = texture_prompt
            job, status = await _run_task(api, refine_body)

        url = api.parse_result(lambda: str(status.result[model_format]),
                               f"model_urls.{model_format}", job.poll_url)
        path, entry = output_file(ctx, SPEC.name, model_format)
        await api.download(url, content_types=MODEL_CONTENT_TYPES, dest=path)
        return NodeOutput((str(path),), {"3d": [entry]})


NODE_CLASSES = [MeshyTextTo3D]
