"""Provider API keys, resolved at call time by a scoped name.

A scoped name is the provider's name ("openai"), optionally followed by
scopes ("openai/team-a"). Nodes take this name as a widget input, never the
key. Sources:

- ``EnvSecrets``: environment variables. The name is upper-cased, ``/``
  becomes ``__`` and ``-`` or ``.`` become ``_``, after the prefix
  ``BRUSHWORK_SECRET_``: "openai/team-a" is ``BRUSHWORK_SECRET_OPENAI__TEAM_A``.
- ``TomlFileSecrets``: a TOML file of ``"scoped/name" = "key"`` pairs that
  must not be readable by group or others (mode 0600 or stricter).
- ``ChainSecrets``: the first source that has the name wins.
- ``MappingSecrets``: a fixed mapping, for tests and embedding.

``SecretPolicy`` decides which principal may use which names. Every key that is
resolved is registered with ``redact`` so that log lines never show it.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
import threading
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from ..errors import BrushworkError, ValidationError
from .redact import register_secret

ENV_PREFIX = "BRUSHWORK_SECRET_"

_SECRET_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*(?:/[a-z0-9][a-z0-9_.-]*)*$")


class SecretError(BrushworkError):
    code = "secret_error"
    status = 500


class SecretNotFoundError(SecretError):
    code = "secret_not_found"
    status = 400


class SecretAccessDeniedError(SecretError):
    code = "secret_access_denied"
    status = 403


class InsecureSecretsFileError(SecretError):
    code = "insecure_secrets_file"


class InvalidSecretsFileError(SecretError):
    code = "invalid_secrets_file"


def validate_secret_name(name: str) -> str:
    """Return ``name`` if it is a valid scoped secret name, else raise ValidationError."""
    if not isinstance(name, str) or not _SECRET_NAME.match(name):
        raise ValidationError(
            f"invalid secret name {name!r}: use lower-case letters, digits, '-', '_' and '.', "
            "with '/' between scopes, such as 'openai' or 'openai/team-a'"
        )
    return name


def env_var_name(name: str, prefix: str = ENV_PREFIX) -> str:
    """Return the name of the environment variable that stores the secret ``name``."""
    scopes = [re.sub(r"[-.]", "_", part).upper() for part in name.split("/")]
    return prefix + "__".join(scopes)


@runtime_checkable
class SecretsSource(Protocol):
    """A source of keys by scoped name; ``get`` returns None when it has no such name."""

    def get(self, name: str) -> str | None: ...

    def hint(self, name: str) -> str:
        """Tell an operator how to add ``name`` to this source (used in error messages)."""
        ...


class EnvSecrets:
    """Keys from environment variables ``BRUSHWORK_SECRET_<NAME>``."""

    def __init__(self, environ: Mapping[str, str] | None = None, *, prefix: str = ENV_PREFIX):
        self._environ = environ
        self.prefix = prefix

    def get(self, name: str) -> str | None:
        environ = os.environ if self._environ is None else self._environ
        value = environ.get(env_var_name(name, self.prefix))
        return value or None

    def hint(self, name: str) -> str:
        return f"set the environment variable {env_var_name(name, self.prefix)}"


class TomlFileSecrets:
    """Keys from a TOML file of ``"scoped/name" = "key"`` pairs, reread when it changes.

    The file is rejected unless only its owner can read it. A missing file is
    an empty source, so a deployment without one still uses the environment.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._values: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self._load().get(name)

    def hint(self, name: str) -> str:
        return f'add "{name}" = "<key>" to {self.path}'

    def _load(self) -> dict[str, str]:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return {}
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            mode = stat.S_IMODE(info.st_mode)
            raise InsecureSecretsFileError(
                f"secrets file {self.path} has mode {mode:04o}, so other users can read it; "
                f"run 'chmod 600 {self.path}'"
            )
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._values = self._parse()
                self._stamp = stamp
            return self._values

    def _parse(self) -> dict[str, str]:
        try:
            data = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            # The parser's message quotes a line number, never the file's values.
            raise InvalidSecretsFileError(f"secrets file {self.path} is invalid: {exc}") from None
        values: dict[str, str] = {}
        for name, value in data.items():
            if not isinstance(value, str) or not _SECRET_NAME.match(name):
                raise InvalidSecretsFileError(
                    f"secrets file {self.path}: entry {name!r} must be a string under a "
                    "scoped name such as \"openai\" or \"openai/team-a\"; tables are not supported"
                )
            values[name] = value
        return values


class ChainSecrets:
    """The first of several sources that has a name."""

    def __init__(self, *sources: SecretsSource) -> None:
        self.sources = sources

    def get(self, name: str) -> str | None:
        for source in self.sources:
            value = source.get(name)
            if value:
                return value
        return None

    def hint(self, name: str) -> str:
        return " or ".join(source.hint(name) for source in self.sources) or "configure a source"


class MappingSecrets:
    """A fixed mapping of names to keys (tests, embedding)."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def get(self, name: str) -> str | None:
        return self._values.get(name)

    def hint(self, name: str) -> str:
        return f"add {name!r} to the secrets mapping"


def default_secrets(secrets_file: str | os.PathLike[str] | None = None) -> SecretsSource:
    """Return the usual chain: environment variables, then the secrets file if given."""
    if secrets_file is None:
        return EnvSecrets()
    return ChainSecrets(EnvSecrets(), TomlFileSecrets(secrets_file))


class SecretPolicy:
    """A mapping from principals to the secret names they may use.

    ``rules`` maps a principal to glob patterns of names ("openai",
    "openai/*", "*"); the principal "*" applies to every authenticated
    principal. ``anonymous`` lists the patterns allowed when auth is off
    (principal None); None allows every name then.
    """

    def __init__(
        self,
        rules: Mapping[str, Iterable[str]] | None = None,
        *,
        anonymous: Iterable[str] | None = None,
    ) -> None:
        self.rules = {principal: tuple(patterns) for principal, patterns in (rules or {}).items()}
        self.anonymous = None if anonymous is None else tuple(anonymous)

    def allows(self, principal: str | None, name: str) -> bool:
        if principal is None:
            patterns: tuple[str, ...] | None = self.anonymous
            if patterns is None:
                return True
        else:
            patterns = self.rules.get(principal, ()) + self.rules.get("*", ())
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)

    def check(self, principal: str | None, name: str) -> None:
        if not self.allows(principal, name):
            requester = "anonymous requests" if principal is None else f"principal {principal!r}"
            raise SecretAccessDeniedError(
                f"{requester} may not use secret {name!r}; ask an operator to add it to the "
                "secret policy, or choose a secret you are allowed to use",
                details={"secret": name, "principal": principal},
            )


def resolve_secret(
    source: SecretsSource,
    name: str,
    *,
    principal: str | None,
    policy: SecretPolicy | None = None,
) -> str:
    """Check the policy, then return the key stored under ``name`` (registered for redaction)."""
    validate_secret_name(name)
    if policy is not None:
        policy.check(principal, name)
    value = source.get(name)
    if not value:
        raise SecretNotFoundError(
            f"secret {name!r} is not configured: {source.hint(name)}",
            details={"secret": name},
        )
    register_secret(value)
    return value
