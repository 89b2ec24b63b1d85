"""The node API: how a node declares its inputs and outputs, and how it runs.

A node is a class with declarative specs and one ``execute`` method::

    class ImageInvert(Node):
        class_type = "ImageInvert"
        category = "image"
        inputs = (Input("image", "IMAGE"),)
        outputs = (Output("IMAGE"),)

        def execute(self, ctx, image):
            return (1.0 - image,)

``execute`` may be a plain function (it runs in a worker thread, on the lane
that ``lane`` names) or a coroutine (it runs on the event loop: use this for
network calls). It returns a tuple with one value per output, or a
``NodeOutput`` that adds a UI dict (what ``executed`` messages and history
show). GET /object_info is generated from these specs in ComfyUI's schema.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from .context import NodeContext

# Where a node's execute() runs:
#   "inline": on the event loop, for trivial constant-time nodes;
#   "cpu": in the bounded thread pool (numpy and small torch work);
#   "device": on the device lane, one node at a time per device by default.
# A "cpu" or "device" node measured fast for its input shapes and settings
# runs on the event loop instead (engine/placement.py).
#   "io": a coroutine on the event loop (provider calls), under per-provider limits.
Lane = Literal["inline", "cpu", "device", "io"]

HIDDEN_KINDS = frozenset({
    "PROMPT", "DYNPROMPT", "EXTRA_PNGINFO", "UNIQUE_ID",
    "AUTH_TOKEN_COMFY_ORG", "API_KEY_COMFY_ORG",
})

_MISSING: Any = object()


@dataclass(frozen=True)
class Input:
    """One input: its name, type and widget options.

    ``type`` is an IO type name ("IMAGE", "INT", ...) or "COMBO" with
    ``choices`` (a list, or a function called at request time, so that lists
    of files stay current).
    """

    name: str
    type: str
    default: Any = _MISSING
    min: float | None = None
    max: float | None = None
    step: float | None = None
    round: float | bool | None = None
    choices: Sequence[str] | Callable[[], Sequence[str]] | None = None
    optional: bool = False
    lazy: bool = False
    multiline: bool = False
    force_input: bool = False
    tooltip: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING

    def current_choices(self) -> list[str]:
        if self.choices is None:
            return []
        if callable(self.choices):
            return list(self.choices())
        return list(self.choices)

    def object_info_spec(self) -> list[Any]:
        options: dict[str, Any] = {}
        if self.has_default:
            options["default"] = self.default
        for key in ("min", "max", "step", "round"):
            value = getattr(self, key)
            if value is not None:
                options[key] = value
        if self.multiline:
            options["multiline"] = True
        if self.lazy:
            options["lazy"] = True
        if self.force_input:
            options["forceInput"] = True
        if self.tooltip:
            options["tooltip"] = self.tooltip
        options.update(self.extra)
        if self.type == "COMBO":
            return [self.current_choices(), options]
        return [self.type, options] if options else [self.type]


@dataclass(frozen=True)
class Output:
    type: str
    name: str | None = None
    is_list: bool = False
    tooltip: str | None = None


@dataclass
class NodeOutput:
    """The result ``execute`` may return instead of a bare tuple: values plus a UI dict."""

    values: tuple[Any, ...] = ()
    ui: dict[str, list[Any]] | None = None


class Node:
    """Base class of every node. Subclasses set the class attributes below."""

    class_type: ClassVar[str]
    display_name: ClassVar[str | None] = None
    category: ClassVar[str] = "sd"
    description: ClassVar[str] = ""
    python_module: ClassVar[str] = "nodes"
    inputs: ClassVar[tuple[Input, ...]] = ()
    hidden: ClassVar[dict[str, str]] = {}
    outputs: ClassVar[tuple[Output, ...]] = ()
    output_node: ClassVar[bool] = False
    input_is_list: ClassVar[bool] = False
    lane: ClassVar[Lane] = "cpu"
    # Inputs whose value does not change how long a run takes (a colour, a
    # seed). The placement leaves them out of its key, so that a fast node
    # still runs inline when only these differ (engine/placement.py).
    cost_neutral_inputs: ClassVar[frozenset[str]] = frozenset()
    # False keeps every run in the lane's thread, even when measured fast: for
    # a node that starts its own event loop or needs to be off the loop thread.
    inline_when_fast: ClassVar[bool] = True
    # A node that is not cacheable runs in every prompt (for example a source of
    # randomness). Output nodes such as SaveImage are cacheable, as in ComfyUI:
    # an identical resubmission re-sends their recorded UI instead of saving again.
    cacheable: ClassVar[bool] = True
    # A deterministic node gives the same bytes for the same inputs on one device;
    # replay --re-execute compares such nodes bit for bit.
    deterministic: ClassVar[bool] = True
    # A node with side effects outside brushwork (a paid provider call) waits
    # for its NodeStarted event to commit before it starts.
    side_effects: ClassVar[bool] = False
    # The provider whose concurrency limit applies to an "io" node.
    provider: ClassVar[str | None] = None
    deprecated: ClassVar[bool] = False
    experimental: ClassVar[bool] = False
    api_node: ClassVar[bool] = False

    def execute(self, ctx: NodeContext, **inputs: Any) -> tuple[Any, ...] | NodeOutput:
        raise NotImplementedError

    @classmethod
    def fingerprint(cls, ctx: NodeContext | None, **constant_inputs: Any) -> Any:
        """Return a value that changes when state outside the graph changes (IS_CHANGED).

        The default (None) means the outputs depend on the inputs alone.
        """
        return None

    @classmethod
    def validate_inputs(cls, **constant_inputs: Any) -> bool | str:
        """Check constant inputs beyond their specs; return True or an error message."""
        return True

    def check_lazy_status(self, **inputs: Any) -> list[str]:
        """Name the lazy inputs still needed; unevaluated lazy inputs arrive as None."""
        return []

    # -- derived views ---------------------------------------------------

    @classmethod
    def input_map(cls) -> dict[str, Input]:
        cached = cls.__dict__.get("_input_map")
        if cached is None:
            cached = {spec.name: spec for spec in cls.inputs}
            cls._input_map = cached  # type: ignore[attr-defined]
        return cached

    @classmethod
    def object_info(cls) -> dict[str, Any]:
        required = {i.name: i.object_info_spec() for i in cls.inputs if not i.optional}
        optional = {i.name: i.object_info_spec() for i in cls.inputs if i.optional}
        input_section: dict[str, Any] = {"required": required}
        input_order: dict[str, list[str]] = {"required": list(required)}
        if optional:
            input_section["optional"] = optional
            input_order["optional"] = list(optional)
        if cls.hidden:
            input_section["hidden"] = dict(cls.hidden)
            input_order["hidden"] = list(cls.hidden)
        info: dict[str, Any] = {
            "input": input_section,
            "input_order": input_order,
            "output": [o.type for o in cls.outputs],
            "output_is_list": [o.is_list for o in cls.outputs],
            "output_name": [o.name or o.type for o in cls.outputs],
            "name": cls.class_type,
            "display_name": cls.display_name or cls.class_type,
            "description": cls.description,
            "python_module": cls.python_module,
            "category": cls.category,
            "output_node": cls.output_node,
        }
        tooltips = [o.tooltip for o in cls.outputs]
        if any(tooltips):
            info["output_tooltips"] = tooltips
        if cls.deprecated:
            info["deprecated"] = True
        if cls.experimental:
            info["experimental"] = True
        if cls.api_node:
            info["api_node"] = True
        return info
