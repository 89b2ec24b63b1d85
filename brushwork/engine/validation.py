"""Validation of API-format prompts, answering in ComfyUI's error shape.

The result is either a ``ValidatedPrompt`` (the prompt with coerced values,
the output nodes to execute, and the errors of outputs that were dropped)
or a ``PromptValidationError`` whose body is ComfyUI's
``{"error": {...}, "node_errors": {...}}``.

Error type strings follow ComfyUI 0.3.64, with ``dependency_cycle`` from
later ComfyUI versions. Differences from ComfyUI, on purpose: a missing
widget input that has a default takes the default; a literal given to a
data input (IMAGE, LATENT, ...) is rejected here instead of failing at run
time; BOOLEAN accepts only booleans, 0/1 and "true"/"false"; a cycle is
reported as ``dependency_cycle`` instead of a recursion error.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import PromptValidationError
from .node import Input, Node
from .registry import NodeRegistry

WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
MAX_COMBO_IN_ERRORS = 20


@dataclass
class ValidatedPrompt:
    prompt: dict[str, Any]
    outputs: list[str]
    node_errors: dict[str, Any] = field(default_factory=dict)


def is_link(value: Any) -> bool:
    """ComfyUI's link test: a 2-list of (str, int|float)."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int | float)
        and not isinstance(value[1], bool)
    )


def _error(kind: str, message: str, details: str = "", **extra: Any) -> dict[str, Any]:
    return {"type": kind, "message": message, "details": details, "extra_info": extra}


def _top_error(kind: str, message: str, details: str = "", **extra: Any) -> PromptValidationError:
    body = {"error": _error(kind, message, details, **extra), "node_errors": {}}
    return PromptValidationError(body)


def types_compatible(received: str, expected: str) -> bool:
    if received == "*" or expected == "*" or received == expected:
        return True
    received_set = {t.strip() for t in received.split(",")}
    expected_set = {t.strip() for t in expected.split(",")}
    return bool(received_set & expected_set)


class PromptValidator:
    def __init__(self, registry: NodeRegistry, *, max_nodes: int = 10_000,
                 max_string_length: int = 1_000_000) -> None:
        self.registry = registry
        self.max_nodes = max_nodes
        self.max_string_length = max_string_length

    def validate(
        self, prompt: Any, partial_targets: list[str] | None = None
    ) -> ValidatedPrompt:
        if not isinstance(prompt, dict):
            raise _top_error(
                "invalid_prompt", "Prompt must be a JSON object of node id to node",
                f"got {type(prompt).__name__}",
            )
        if len(prompt) > self.max_nodes:
            raise _top_error(
                "invalid_prompt", f"Prompt has {len(prompt)} nodes, more than the limit of "
                f"{self.max_nodes}", "split the workflow or raise --max-prompt-nodes",
            )
        prompt = _copy_json(prompt)
        self._check_classes(prompt)
        outputs = self._output_nodes(prompt, partial_targets)
        cycle = self._find_cycle(prompt)
        if cycle:
            path = " -> ".join(cycle)
            raise _top_error(
                "dependency_cycle", "Dependency cycle detected",
                f"nodes form a cycle: {path}", node_ids=cycle,
            )
        return self._validate_outputs(prompt, outputs)

    def _check_classes(self, prompt: dict[str, Any]) -> None:
        for node_id, node in prompt.items():
            if not isinstance(node, dict) or "class_type" not in node:
                raise _top_error(
                    "invalid_prompt",
                    "Cannot execute because a node is missing the class_type property.",
                    f"Node ID '#{node_id}'", node_id=node_id,
                )
            class_type = node["class_type"]
            if not isinstance(class_type, str):
                raise _top_error(
                    "invalid_prompt", f"Node {node_id} has a class_type that is not a string",
                    f"Node ID '#{node_id}': got {_shorten(class_type)}; "
                    "write the node class name, e.g. \"SaveImage\"",
                    node_id=node_id,
                )
            if class_type not in self.registry:
                raise _top_error(
                    "invalid_prompt",
                    f"Cannot execute because node {class_type} does not exist.",
                    f"Node ID '#{node_id}'", node_id=node_id, class_type=class_type,
                )
            inputs = node.setdefault("inputs", {})
            if not isinstance(inputs, dict):
                raise _top_error(
                    "invalid_prompt", f"Node {node_id} has inputs that are not a JSON object",
                    f"Node ID '#{node_id}'", node_id=node_id,
                )

    def _output_nodes(self, prompt: dict[str, Any], targets: list[str] | None) -> list[str]:
        outputs = [
            node_id for node_id, node in prompt.items()
            if self.registry.require(node["class_type"]).output_node
        ]
        if targets is not None:
            wanted = {str(t) for t in targets}
            outputs = [node_id for node_id in outputs if node_id in wanted]
        if not outputs:
            raise _top_error(
                "prompt_no_outputs", "Prompt has no outputs",
                "add an output node such as SaveImage or PreviewImage",
            )
        return outputs

    def _find_cycle(self, prompt: dict[str, Any]) -> list[str] | None:
        white, grey, black = 0, 1, 2
        color = dict.fromkeys(prompt, white)
        for start in prompt:
            if color[start] != white:
                continue
            stack: list[tuple[str, list[str]]] = [(start, self._sources(prompt, start))]
            color[start] = grey
            path = [start]
            while stack:
                node_id, pending = stack[-1]
                if not pending:
                    color[node_id] = black
                    stack.pop()
                    path.pop()
                    continue
                source = pending.pop()
                if color.get(source) == grey:
                    return [*path[path.index(source):], source]
                if color.get(source) == white:
                    color[source] = grey
                    path.append(source)
                    stack.append((source, self._sources(prompt, source)))
        return None

    @staticmethod
    def _sources(prompt: dict[str, Any], node_id: str) -> list[str]:
        return [
            value[0] for value in prompt[node_id]["inputs"].values()
            if is_link(value) and value[0] in prompt
        ]

    def _validate_outputs(self, prompt: dict[str, Any], outputs: list[str]) -> ValidatedPrompt:
        memo: dict[str, bool] = {}
        node_errors: dict[str, dict[str, Any]] = {}
        valid_outputs: list[str] = []
        failure_messages: list[str] = []
        for output_id in outputs:
            reached: list[str] = []
            ok = self._validate_node(prompt, output_id, memo, node_errors, reached)
            for node_id in reached:
                if node_id in node_errors:
                    node_errors[node_id]["dependent_outputs"].append(output_id)
            if ok:
                valid_outputs.append(output_id)
            else:
                for node_id in reached:
                    for error in node_errors.get(node_id, {}).get("errors", []):
                        failure_messages.append(f"{error['message']}: {error['details']}")
        if not valid_outputs:
            raise PromptValidationError({
                "error": _error(
                    "prompt_outputs_failed_validation", "Prompt outputs failed validation",
                    "\n".join(dict.fromkeys(failure_messages)),
                ),
                "node_errors": node_errors,
            })
        return ValidatedPrompt(prompt, valid_outputs, node_errors)

    def _validate_node(
        self, prompt: dict[str, Any], node_id: str, memo: dict[str, bool],
        node_errors: dict[str, dict[str, Any]], reached: list[str],
    ) -> bool:
        if node_id in memo:
            if node_id not in reached:
                reached.append(node_id)
            return memo[node_id]
        memo[node_id] = True  # provisional; cycles were rejected earlier
        reached.append(node_id)
        node = prompt[node_id]
        cls = self.registry.require(node["class_type"])
        inputs = node["inputs"]
        errors: list[dict[str, Any]] = []
        upstream_ok = True
        constants: dict[str, Any] = {}
        for spec in cls.inputs:
            if spec.name not in inputs:
                if spec.has_default and spec.type in WIDGET_TYPES and not spec.force_input:
                    inputs[spec.name] = spec.default
                    constants[spec.name] = spec.default
                elif not spec.optional:
                    errors.append(_error(
                        "required_input_missing", "Required input is missing", spec.name,
                        input_name=spec.name,
                    ))
                continue
            value = inputs[spec.name]
            if isinstance(value, dict) and set(value) == {"__value__"}:
                value = value["__value__"]
                inputs[spec.name] = value
            elif is_link(value):
                error, source_ok = self._check_link(prompt, node_id, spec, value, memo,
                                                    node_errors, reached)
                if error:
                    errors.append(error)
                upstream_ok = upstream_ok and source_ok
                continue
            elif isinstance(value, list) and spec.type not in WIDGET_TYPES:
                errors.append(_error(
                    "bad_linked_input",
                    "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                    f"{spec.name}, {value!r}", input_name=spec.name, received_value=value,
                ))
                continue
            coerced, error = self._check_constant(
                spec, value, bounds=spec.name not in self._custom_checked(cls))
            if error:
                errors.append(error)
            else:
                inputs[spec.name] = coerced
                constants[spec.name] = coerced
        if not errors:
            result = cls.validate_inputs(**constants)
            if result is not True:
                errors.append(_error(
                    "custom_validation_failed", "Custom validation failed for node",
                    str(result), class_type=cls.class_type,
                ))
        if errors:
            node_errors[node_id] = {
                "errors": errors, "dependent_outputs": [], "class_type": cls.class_type,
            }
        ok = not errors and upstream_ok
        memo[node_id] = ok
        return ok

    def _check_link(
        self, prompt: dict[str, Any], node_id: str, spec: Input, link: list[Any],
        memo: dict[str, bool], node_errors: dict[str, dict[str, Any]], reached: list[str],
    ) -> tuple[dict[str, Any] | None, bool]:
        source_id, index = link[0], link[1]
        if source_id not in prompt:
            return _error(
                "bad_linked_input",
                f"Input '{spec.name}' links to node '{source_id}', which is not in the prompt",
                f"{spec.name}, link {link!r}: fix the node id or add node '{source_id}'",
                input_name=spec.name, linked_node=link,
            ), True
        source_cls = self.registry.require(prompt[source_id]["class_type"])
        if index != int(index) or not 0 <= int(index) < len(source_cls.outputs):
            return _error(
                "bad_linked_input",
                f"Input '{spec.name}' links to output {index} of node '{source_id}' "
                f"({source_cls.class_type}), which has {len(source_cls.outputs)} outputs",
                f"{spec.name}, link {link!r}", input_name=spec.name, linked_node=link,
            ), True
        link[1] = int(index)
        received = source_cls.outputs[int(index)].type
        expected = "COMBO" if spec.type == "COMBO" else spec.type
        if spec.type == "COMBO":
            compatible = received in ("COMBO", "*", "STRING")
        else:
            compatible = types_compatible(received, expected)
        if not compatible:
            return _error(
                "return_type_mismatch", "Return type mismatch between linked nodes",
                f"{spec.name}, received_type({received}) mismatch input_type({expected})",
                input_name=spec.name, received_type=received, linked_node=link,
            ), True
        return None, self._validate_node(prompt, source_id, memo, node_errors, reached)

    @staticmethod
    def _custom_checked(cls: type[Node]) -> frozenset[str]:
        """Inputs that the node's own validate_inputs checks (ComfyUI skips its range and
        list checks for those, so that e.g. LoadImage accepts "sub/x.png [output]")."""
        cached = cls.__dict__.get("_custom_checked_inputs")
        if cached is None:
            func = cls.validate_inputs
            if getattr(func, "__func__", None) is Node.validate_inputs.__func__:  # type: ignore[attr-defined]
                cached = frozenset()
            else:
                parameters = inspect.signature(func).parameters.values()
                cached = frozenset(p.name for p in parameters
                                   if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
            cls._custom_checked_inputs = cached  # type: ignore[attr-defined]
        return cached

    def _check_constant(self, spec: Input, value: Any, *, bounds: bool = True
                        ) -> tuple[Any, dict[str, Any] | None]:
        def invalid(reason: str) -> tuple[Any, dict[str, Any]]:
            shown = _shorten(value)
            return None, _error(
                "invalid_input_type",
                f"Failed to convert an input value to a {spec.type} value",
                f"{spec.name}, {shown}, {reason}", input_name=spec.name,
                received_value=value if shown == repr(value) else shown,
                received_type=type(value).__name__,
            )

        kind = spec.type
        if kind not in WIDGET_TYPES:
            return invalid(f"input of type {kind} needs a link [node_id, output_index]")
        if kind == "INT":
            coerced = _to_int(value)
            if coerced is None:
                return invalid("expected an integer")
        elif kind == "FLOAT":
            coerced = _to_float(value)
            if coerced is None:
                return invalid("expected a number")
        elif kind == "BOOLEAN":
            coerced = _to_bool(value)
            if coerced is None:
                return invalid("expected true or false")
        elif kind == "STRING":
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                return invalid("expected a string")
            coerced = str(value)
            if len(coerced) > self.max_string_length:
                return invalid(f"longer than the limit of {self.max_string_length} characters; "
                               "shorten it or raise --max-string-length")
        else:
            if not bounds:
                if isinstance(value, str | int | float) and not isinstance(value, bool):
                    return value, None
                return invalid("expected one of the listed choices")
            choices = spec.current_choices()
            if not isinstance(value, str | int | float) or value not in choices:
                shown = choices if len(choices) <= MAX_COMBO_IN_ERRORS else (
                    f"(list of length {len(choices)})"
                )
                return None, _error(
                    "value_not_in_list", "Value not in list",
                    f"{spec.name}: '{value}' not in {shown}", input_name=spec.name,
                    input_config=None if len(choices) > MAX_COMBO_IN_ERRORS else [choices],
                    received_value=value,
                )
            return value, None
        if kind in ("INT", "FLOAT") and bounds:
            if spec.min is not None and coerced < spec.min:
                return None, _error(
                    "value_smaller_than_min", f"Value {coerced} smaller than min of {spec.min}",
                    f"{spec.name}", input_name=spec.name, received_value=value,
                )
            if spec.max is not None and coerced > spec.max:
                return None, _error(
                    "value_bigger_than_max", f"Value {coerced} bigger than max of {spec.max}",
                    f"{spec.name}", input_name=spec.name, received_value=value,
                )
        return coerced, None


def _shorten(value: Any, limit: int = 200) -> str:
    """Return the repr of a value for an error message, cut so huge inputs are not echoed back."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def _to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return int(float(value)) if "." in value or "e" in value.lower() else int(value)
        except (ValueError, OverflowError):
            return None
    return None


def _to_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value)
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def _to_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _copy_json(value: Any) -> Any:
    """Copy a decoded JSON value (dicts, lists, scalars): deepcopy's memo costs more here."""
    if isinstance(value, dict):
        return {key: _copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_json(item) for item in value]
    return value
