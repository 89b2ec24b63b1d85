"""Settings of the HTTP layer: authentication, CORS and request limits."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from ..auth.tokens import TokenStore

MIB = 1024 * 1024
UPLOAD_TYPES = ("png", "jpeg", "webp", "gif", "bmp", "tiff")
AUTH_MODES = ("required", "off", "auto")


@dataclass
class HttpOptions:
    """Settings that ``brushwork serve`` passes to ``create_app`` (defaults suit loopback)."""

    auth_required: bool = False
    tokens: TokenStore | None = None
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 32 * MIB
    max_upload_bytes: int = 100 * MIB
    upload_types: frozenset[str] = field(default_factory=lambda: frozenset(UPLOAD_TYPES))
    max_prompt_links: int = 100_000
    max_json_depth: int = 64


def is_loopback_host(host: str) -> bool:
    """Return whether ``host`` (a listen address or a Host header's name) is loopback."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def resolve_auth(mode: str, host: str) -> bool:
    """Return whether tokens are required; raise ValueError for ``off`` on a public address.

    ``auto`` requires tokens unless ``host`` is a loopback address.
    """
    if mode not in AUTH_MODES:
        raise ValueError(f"invalid --auth {mode!r}; use required, off or auto")
    loopback = is_loopback_host(host)
    if mode == "off" and not loopback:
        raise ValueError(
            f"--auth off is allowed only on a loopback address, not on {host!r}: anyone who "
            "can reach the port could run prompts. Create a token with `brushwork tokens "
            "create NAME` and use --auth required (or auto)"
        )
    return mode == "required" or (mode == "auto" and not loopback)
