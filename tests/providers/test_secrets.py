"""Secrets: sources, the principal policy, redaction, and keys never leaking."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from brushwork.errors import ProviderError, ValidationError
from brushwork.events.types import ProviderCallRecorded
from brushwork.providers.openai import OpenAIImageGenerate
from brushwork.providers.redact import REDACTED, redact_secrets, redact_text, register_secret
from brushwork.providers.secrets import (
    ChainSecrets,
    EnvSecrets,
    InsecureSecretsFileError,
    InvalidSecretsFileError,
    SecretAccessDeniedError,
    SecretNotFoundError,
    SecretPolicy,
    TomlFileSecrets,
    default_secrets,
    env_var_name,
    resolve_secret,
    validate_secret_name,
)
from brushwork.providers.testing import Fault, FaultKind, secret_key
from tests.providers.support import CASES


def write_secrets(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_env_var_names():
    assert env_var_name("openai") == "BRUSHWORK_SECRET_OPENAI"
    assert env_var_name("openai/team-a") == "BRUSHWORK_SECRET_OPENAI__TEAM_A"
    assert env_var_name("bfl/eu.prod") == "BRUSHWORK_SECRET_BFL__EU_PROD"


def test_env_source_reads_scoped_names():
    source = EnvSecrets({"BRUSHWORK_SECRET_OPENAI__TEAM_A": "sk-team-a-123456"})
    assert source.get("openai/team-a") == "sk-team-a-123456"
    assert source.get("openai") is None


def test_secret_names_validated():
    assert validate_secret_name("runway/team-a") == "runway/team-a"
    for bad in ("", "OpenAI", "openai/", "../etc", "a b", "/openai"):
        with pytest.raises(ValidationError):
            validate_secret_name(bad)


def test_toml_file_read_and_reloaded(tmp_path):
    path = write_secrets(tmp_path / "secrets.toml",
                         'openai = "sk-file-1234567890"\n"openai/team-a" = "sk-a-1234567890"\n')
    source = TomlFileSecrets(path)
    assert source.get("openai") == "sk-file-1234567890"
    assert source.get("openai/team-a") == "sk-a-1234567890"

    write_secrets(path, 'openai = "sk-file-rotated-000000"\n')
    assert source.get("openai") == "sk-file-rotated-000000"
    assert source.get("openai/team-a") is None


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_toml_file_readable_by_others_rejected(tmp_path, mode):
    path = write_secrets(tmp_path / "secrets.toml", 'openai = "sk-file-1234567890"\n', mode)

    with pytest.raises(InsecureSecretsFileError) as caught:
        TomlFileSecrets(path).get("openai")

    assert str(path) in caught.value.message
    assert f"chmod 600 {path}" in caught.value.message
    assert "sk-file" not in caught.value.message


def test_toml_file_errors_never_quote_values(tmp_path):
    path = write_secrets(tmp_path / "secrets.toml", 'openai = "sk-broken\n')
    with pytest.raises(InvalidSecretsFileError) as caught:
        TomlFileSecrets(path).get("openai")
    assert "sk-broken" not in caught.value.message

    write_secrets(path, '[openai]\nkey = "sk-nested-1234567"\n')
    with pytest.raises(InvalidSecretsFileError, match="tables are not supported"):
        TomlFileSecrets(path).get("openai")


def test_missing_file_is_empty(tmp_path):
    assert TomlFileSecrets(tmp_path / "absent.toml").get("openai") is None


def test_chain_prefers_first_source(tmp_path):
    path = write_secrets(tmp_path / "secrets.toml",
                         'openai = "sk-file-1234567890"\nluma = "luma-file-1234567"\n')
    chain = ChainSecrets(EnvSecrets({"BRUSHWORK_SECRET_OPENAI": "sk-env-1234567890"}),
                         TomlFileSecrets(path))
    assert chain.get("openai") == "sk-env-1234567890"
    assert chain.get("luma") == "luma-file-1234567"
    assert isinstance(default_secrets(path), ChainSecrets)


def test_not_found_names_both_fixes(tmp_path):
    chain = ChainSecrets(EnvSecrets({}), TomlFileSecrets(tmp_path / "secrets.toml"))

    with pytest.raises(SecretNotFoundError) as caught:
        resolve_secret(chain, "openai/team-a", principal=None)

    message = caught.value.message
    assert "BRUSHWORK_SECRET_OPENAI__TEAM_A" in message
    assert str(tmp_path / "secrets.toml") in message


def test_policy_rules():
    policy = SecretPolicy({"alice": ["openai", "runway/*"], "*": ["luma"]}, anonymous=["bfl"])
    assert policy.allows("alice", "openai")
    assert policy.allows("alice", "runway/team-a")
    assert not policy.allows("alice", "openai/team-b")
    assert policy.allows("bob", "luma")
    assert not policy.allows("bob", "openai")
    assert policy.allows(None, "bfl")
    assert not policy.allows(None, "openai")


def test_policy_without_anonymous_rule_allows_anonymous():
    policy = SecretPolicy({"alice": ["openai"]})
    assert policy.allows(None, "runway/team-a")


@pytest.mark.asyncio
async def test_node_denied_secret_sends_nothing(harness_factory):
    policy = SecretPolicy({"alice": ["openai"]})
    harness = await harness_factory("openai", settings={"secret_policy": policy})

    with pytest.raises(SecretAccessDeniedError) as caught:
        await OpenAIImageGenerate().execute(harness.context(principal="alice"), prompt="x",
                                            secret="openai/team-a")

    assert "'alice'" in caught.value.message
    assert "openai/team-a" in caught.value.message
    assert harness.fake.requests == []

    await OpenAIImageGenerate().execute(harness.context(principal="alice"), prompt="x")
    assert harness.fake.rejections == []


def test_redaction_processor_and_text():
    register_secret("sk-redact-me-0123456789")
    register_secret("short")
    event = {"event": "failed with sk-redact-me-0123456789", "nested": {
        "headers": ["Bearer sk-redact-me-0123456789"]}, "count": 3, "word": "short"}

    result = redact_secrets(None, "info", event)

    assert result["event"] == f"failed with {REDACTED}"
    assert result["nested"]["headers"] == [f"Bearer {REDACTED}"]
    assert result["count"] == 3
    assert result["word"] == "short"
    assert redact_text("x sk-redact-me-0123456789 y") == f"x {REDACTED} y"


def test_redaction_processor_in_structlog_chain():
    register_secret("sk-chain-secret-987654321")
    with capture_logs(processors=[redact_secrets]) as logs:
        structlog.get_logger("test").warning("oops", detail="key sk-chain-secret-987654321")
    assert logs[0]["detail"] == f"key {REDACTED}"


def _assert_key_absent(key: str, events: list, logs: list, error: BaseException | None) -> None:
    for event in events:
        assert key not in repr(event)
    for line in logs:
        assert key not in repr(line)
    if error is not None:
        assert key not in str(error)
        assert key not in repr(getattr(error, "details", ""))


@pytest.mark.asyncio
@pytest.mark.parametrize("provider", list(CASES))
async def test_key_never_in_events_or_logs(harness_factory, provider):
    case = CASES[provider]
    harness = await harness_factory(provider)
    key = secret_key(provider)
    # One retried fault and one failing run, so retry and error paths log too.
    harness.fake.inject(Fault(FaultKind.RATE_LIMIT, phase="submit"))

    with capture_logs() as logs:
        await case.node().execute(harness.context(), **case.inputs())
        harness.fake.api_key = "wrong-key-for-this-test-000"
        error = None
        try:
            await case.node().execute(harness.context(), **case.inputs())
        except ProviderError as exc:
            error = exc

    assert error is not None
    assert logs
    assert harness.events_of(ProviderCallRecorded)
    _assert_key_absent(key, harness.events, logs, error)


@pytest.mark.asyncio
async def test_key_echoed_by_provider_is_redacted(harness_factory):
    harness = await harness_factory("openai")
    key = secret_key("openai")
    original = harness.fake.error_body
    harness.fake.error_body = lambda status, message: original(
        status, f"Incorrect API key provided: {key}")
    harness.fake.inject(Fault(FaultKind.SERVER_ERROR, phase="submit"))

    with capture_logs() as logs, pytest.raises(ProviderError) as caught:
        await OpenAIImageGenerate().execute(harness.context(), prompt="x")

    assert REDACTED in caught.value.message
    _assert_key_absent(key, harness.events, logs, caught.value)
