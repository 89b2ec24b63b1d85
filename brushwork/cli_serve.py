"""``brushwork serve`` options for security, limits and tracing, and what they build."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .settings import Settings


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}; give a positive integer")
    return value


def _upload_types(text: str) -> frozenset[str]:
    from .http.options import UPLOAD_TYPES

    types = {item.strip().lower() for item in text.split(",") if item.strip()}
    unknown = types - set(UPLOAD_TYPES)
    if unknown or not types:
        raise argparse.ArgumentTypeError(
            f"invalid upload types {text!r}; use a comma-separated list of "
            f"{', '.join(UPLOAD_TYPES)}"
        )
    return frozenset(types)


def add_serve_options(parser: argparse.ArgumentParser) -> None:
    from .http.options import MIB, UPLOAD_TYPES

    security = parser.add_argument_group("security")
    security.add_argument(
        "--auth",
        choices=("required", "off", "auto"),
        default="auto",
        help="bearer tokens: required, off (loopback addresses only) or auto (required "
        "unless --host is a loopback address; the default)",
    )
    security.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow browser requests from ORIGIN, e.g. https://app.example.com, or * for "
        "any (repeatable; default: none, and the loopback origin check applies)",
    )
    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--max-body-bytes",
        type=_positive_int,
        default=32 * MIB,
        help="largest JSON request body in bytes (default 32 MiB)",
    )
    limits.add_argument(
        "--max-upload-bytes",
        type=_positive_int,
        default=100 * MIB,
        help="largest image upload in bytes (default 100 MiB)",
    )
    limits.add_argument(
        "--upload-types",
        type=_upload_types,
        default=frozenset(UPLOAD_TYPES),
        metavar="TYPES",
        help=f"accepted upload image types, comma-separated (default {','.join(UPLOAD_TYPES)})",
    )
    limits.add_argument(
        "--max-prompt-nodes",
        type=_positive_int,
        default=10_000,
        help="maximum nodes in one prompt (default 10000)",
    )
    limits.add_argument(
        "--max-prompt-links",
        type=_positive_int,
        default=100_000,
        help="maximum links between nodes in one prompt (default 100000)",
    )
    limits.add_argument(
        "--max-string-length",
        type=_positive_int,
        default=1_000_000,
        help="longest STRING input value in characters (default 1000000)",
    )
    tracing = parser.add_argument_group("tracing")
    tracing.add_argument(
        "--trace-exporter",
        choices=("none", "otlp", "file"),
        default="none",
        help="export OpenTelemetry spans of runs, nodes and provider calls: otlp (endpoint "
        "from OTEL_EXPORTER_OTLP_ENDPOINT) or file (JSON lines, see --trace-file); "
        "both need the otel extra",
    )
    tracing.add_argument(
        "--trace-file", type=Path, default=None, help="span file for --trace-exporter file"
    )


def apply_limits(args: argparse.Namespace, settings: Settings) -> None:
    """Copy the prompt limits that the engine's validator enforces into ``settings``."""
    settings.max_prompt_nodes = args.max_prompt_nodes
    settings.max_prompt_string_length = args.max_string_length


def http_options(args: argparse.Namespace, settings: Settings) -> Any:
    """Build the HttpOptions of ``serve``; raise ValueError for an unsafe combination."""
    from .auth.tokens import TokenStore
    from .http.options import HttpOptions, resolve_auth

    required = resolve_auth(args.auth, args.host)
    return HttpOptions(
        auth_required=required,
        tokens=TokenStore.in_data_dir(settings.paths.root) if required else None,
        cors_origins=tuple(args.cors_origin),
        max_body_bytes=args.max_body_bytes,
        max_upload_bytes=args.max_upload_bytes,
        upload_types=args.upload_types,
        max_prompt_links=args.max_prompt_links,
    )
