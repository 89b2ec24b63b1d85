"""A fake of Kling's text2video API, including the HS256 token check.

The fake's ``api_key`` is the secret key; ``access_key`` is the issuer a token
must name. An ``api_key`` of the form "access_key:secret_key" sets both.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any

from aiohttp import web

from .server import (
    FakeProviderServer,
    RecordedRequest,
    RequestProblem,
    require,
    require_choice,
    require_fields,
    require_json_object,
)
from .support import SAMPLE_MP4

# The access key the fake expects when its api_key contains only the secret key.
TEST_ACCESS_KEY = "kling-test-access-key"
FIELDS = ("model_name", "prompt", "negative_prompt", "sound", "cfg_scale", "mode",
          "camera_control", "aspect_ratio", "duration", "callback_url", "external_task_id")
MODELS = ("kling-v1", "kling-v1-6", "kling-v2-master", "kling-v2-1-master", "kling-v2-5-turbo",
          "kling-v2-6")
# The service codes that go with each HTTP status in the error body.
ERROR_CODES = {400: 1201, 401: 1000, 403: 1103, 404: 1203, 422: 1201, 429: 1302, 500: 5000,
               503: 5001, 504: 5002}


# Kling's codes for token problems, by the start of the fake's 401 message.
AUTH_CODES = {
    "authorization failed": 1000,
    "authorization is empty": 1001,
    "authorization is invalid": 1002,
    "authorization is not yet valid": 1003,
    "authorization has expired": 1004,
}


def _auth_problem(message: str) -> RequestProblem:
    return RequestProblem(401, message)


class FakeKling(FakeProviderServer):
    provider = "kling"
    result_content_type = "video/mp4"

    def __init__(self, *, access_key: str = TEST_ACCESS_KEY, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.access_key = access_key
        # The decoded payload of each accepted token.
        self.token_payloads: list[dict[str, Any]] = []

    def setup_routes(self) -> None:
        self.route("POST", "/v1/videos/text2video", "submit", self.create)
        self.route("GET", "/v1/videos/text2video/{task_id}", "poll", self.get_task)
        self.raw_route("GET", "/files/{name}", "download", self.file)

    def _expected_keys(self) -> tuple[str, str]:
        access, separator, secret_key = self.api_key.partition(":")
        if separator:
            return access, secret_key
        return self.access_key, self.api_key

    def check_auth(self, request: RecordedRequest) -> None:
        authorization = request.headers.get("authorization", "")
        if not authorization.startswith("Bearer "):
            raise _auth_problem("authorization is empty")
        access, secret_key = self._expected_keys()
        payload = _verify_token(authorization[len("Bearer "):], secret_key)
        if payload.get("iss") != access:
            raise _auth_problem("authorization is invalid: unknown issuer")
        now = time.time()
        if float(payload.get("nbf", 0)) > now:
            raise _auth_problem("authorization is not yet valid")
        if float(payload.get("exp", 0)) <= now:
            raise _auth_problem("authorization has expired")
        self.token_payloads.append(payload)

    def error_body(self, status: int, message: str) -> Any:
        code = ERROR_CODES.get(status, 5000)
        if status == 401:
            code = next((value for start, value in AUTH_CODES.items()
                         if message.startswith(start)), code)
        return {"code": code, "message": message, "request_id": self.new_id()}

    async def create(self, request: RecordedRequest) -> web.StreamResponse:
        body = require_json_object(request)
        require_fields(body, required=("prompt",), allowed=FIELDS)
        require(isinstance(body["prompt"], str) and 0 < len(body["prompt"]) <= 2500,
                "prompt must be 1-2500 characters")
        require_choice(body, "model_name", MODELS)
        require_choice(body, "mode", ("std", "pro"))
        require_choice(body, "aspect_ratio", ("16:9", "9:16", "1:1"))
        require_choice(body, "duration", ("5", "10"))
        require_choice(body, "sound", ("on", "off"))
        if "cfg_scale" in body:
            require(not str(body.get("model_name", "kling-v1")).startswith("kling-v2"),
                    "cfg_scale is not supported by kling-v2.x models")
            require(0.0 <= float(body["cfg_scale"]) <= 1.0, "cfg_scale must be 0-1")
        job = self.create_job(body=body)
        return web.json_response(_envelope({
            "task_id": job["id"], "task_status": "submitted",
            "task_info": {}, "created_at": 1735689600000, "updated_at": 1735689600000,
        }))

    async def get_task(self, request: RecordedRequest) -> web.StreamResponse:
        job = self.jobs.get(request.match["task_id"])
        require(job is not None, "task not found", 404)
        assert job is not None
        phase = self.advance(job)
        data: dict[str, Any] = {"task_id": job["id"], "task_info": {},
                                "created_at": 1735689600000, "updated_at": 1735689660000}
        if phase == "queued":
            data["task_status"] = "submitted"
        elif phase == "running":
            data["task_status"] = "processing"
        elif phase in ("failed", "cancelled"):
            data.update(task_status="failed", task_status_msg=job["fail"] or "cancelled")
        else:
            data.update(task_status="succeed", task_status_msg="", task_result={"videos": [
                {"id": self.new_id(), "url": self.file_url(f"{job['id']}.mp4"),
                 "duration": job["body"].get("duration", "5")}]})
        return web.json_response(_envelope(data))

    async def file(self, request: RecordedRequest) -> web.StreamResponse:
        return web.Response(body=SAMPLE_MP4, content_type="video/mp4")


def _envelope(data: dict[str, Any]) -> dict[str, Any]:
    return {"code": 0, "message": "SUCCEED", "request_id": "req-" + data["task_id"],
            "data": data}


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _verify_token(token: str, secret_key: str) -> dict[str, Any]:
    """Check an HS256 token's header and signature; return its payload."""
    parts = token.split(".")
    if len(parts) != 3:
        raise _auth_problem("authorization is invalid: not a JWT")
    try:
        header = json.loads(_b64url_decode(parts[0]))
        payload = json.loads(_b64url_decode(parts[1]))
        signature = _b64url_decode(parts[2])
    except (binascii.Error, ValueError):
        raise _auth_problem("authorization is invalid: bad encoding") from None
    if header != {"alg": "HS256", "typ": "JWT"}:
        raise _auth_problem(f"authorization is invalid: header {header}")
    expected = hmac.new(secret_key.encode("utf-8"), f"{parts[0]}.{parts[1]}".encode("ascii"),
                        hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise _auth_problem("authorization failed: bad signature")
    return payload
