"""Primitive nodes that hold one constant value, as in ComfyUI's comfy_extras/nodes_primitive.py.

API-format workflows exported from ComfyUI use them to feed one widget value
into several nodes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..engine.node import Input, Node, Output

if TYPE_CHECKING:
    from ..engine.context import NodeContext

# ComfyUI bounds these widgets by +-sys.maxsize, which is 2**63 - 1 on every
# 64-bit platform. The literal keeps /object_info the same on any host.
INT_LIMIT = 2**63 - 1


class _Primitive(Node):
    category = "utils/primitive"
    python_module = "comfy_extras.nodes_primitive"
    lane = "inline"

    def execute(self, ctx: NodeContext, value: Any) -> tuple[Any]:
        return (value,)


class PrimitiveInt(_Primitive):
    class_type = "PrimitiveInt"
    display_name = "Int"
    description = "Outputs one integer."
    inputs = (
        Input(
            "value", "INT", min=-INT_LIMIT, max=INT_LIMIT,
            extra={"control_after_generate": True},
        ),
    )
    outputs = (Output("INT"),)


class PrimitiveFloat(_Primitive):
    class_type = "PrimitiveFloat"
    display_name = "Float"
    description = "Outputs one floating-point number."
    inputs = (Input("value", "FLOAT", min=-INT_LIMIT, max=INT_LIMIT),)
    outputs = (Output("FLOAT"),)


class PrimitiveString(_Primitive):
    class_type = "PrimitiveString"
    display_name = "String"
    description = "Outputs one single-line string."
    inputs = (Input("value", "STRING"),)
    outputs = (Output("STRING"),)


class PrimitiveStringMultiline(_Primitive):
    class_type = "PrimitiveStringMultiline"
    display_name = "String (Multiline)"
    description = "Outputs one string edited in a multi-line text box."
    inputs = (Input("value", "STRING", multiline=True),)
    outputs = (Output("STRING"),)


class PrimitiveBoolean(_Primitive):
    class_type = "PrimitiveBoolean"
    display_name = "Boolean"
    description = "Outputs one boolean."
    inputs = (Input("value", "BOOLEAN"),)
    outputs = (Output("BOOLEAN"),)


NODE_CLASSES: list[type[Node]] = [
    PrimitiveInt,
    PrimitiveFloat,
    PrimitiveString,
    PrimitiveStringMultiline,
    PrimitiveBoolean,
]
