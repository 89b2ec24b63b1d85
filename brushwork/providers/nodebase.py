"""The base class of provider nodes and the inputs they share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ..engine.node import Input, Node
from ..errors import ValidationError
from .client import ProviderSpec
from .secrets import validate_secret_name

if TYPE_CHECKING:
    from ..engine.context import NodeContext
    from .call import ProviderCall


def secret_input(provider: str) -> Input:
    """Return the optional widget that names the secret to use (never the key itself)."""
    return Input(
        "secret",
        "STRING",
        default=provider,
        optional=True,
        tooltip=(
            f"Scoped name of the API key to use, such as '{provider}' or '{provider}/team-a'. "
            "The key itself comes from the server's secrets, never from the workflow."
        ),
    )


def seed_input(maximum: int, *, tooltip: str | None = None) -> Input:
    return Input(
        "seed", "INT", default=0, min=0, max=maximum, optional=True,
        extra={"control_after_generate": True},
        tooltip=tooltip or "Seed sent to the provider; 0 lets the provider pick one.",
    )


class ProviderNode(Node):
    """A node that calls one external provider.

    Subclasses set ``spec``, ``provider`` (= ``spec.name``), ``class_type``,
    ``category``, ``inputs``, ``outputs`` and ``execute``. Results differ
    between runs, so ``deterministic`` is False; the engine still caches them
    by their inputs, so an unchanged node is not paid for twice.
    """

    spec: ClassVar[ProviderSpec]
    lane = "io"
    side_effects = True
    api_node = True
    deterministic = False

    @classmethod
    def validate_inputs(cls, **inputs: Any) -> bool | str:
        secret = inputs.get("secret")
        if secret not in (None, ""):
            try:
                validate_secret_name(secret)
            except ValidationError as exc:
                return exc.message
        return cls.validate_provider_inputs(**inputs)

    @classmethod
    def validate_provider_inputs(cls, **inputs: Any) -> bool | str:
        """Check inputs against the provider's documented limits; override per node."""
        return True

    @classmethod
    def check_inputs(cls, **inputs: Any) -> None:
        """Raise ValidationError unless ``validate_inputs`` accepts the inputs.

        ``execute`` calls this first, so no paid request is sent with inputs
        the provider would reject, even when the engine skipped validation.
        """
        result = cls.validate_inputs(**inputs)
        if result is not True:
            raise ValidationError(f"{cls.class_type}: {result}")

    def connect(self, ctx: NodeContext, secret: str | None) -> ProviderCall:
        """Resolve the secret and return the provider client bound to this node run."""
        return ctx.service("providers").connect(ctx, self.spec, secret or None)
