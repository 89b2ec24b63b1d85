"""Built-in local nodes. Importing this package does not import torch."""

from __future__ import annotations

from ..engine.node import Node


def builtin_node_classes() -> list[type[Node]]:
    from ..providers import provider_node_classes
    from . import image, io_nodes, mask, primitives, sd

    classes: list[type[Node]] = []
    for module in (primitives, image, mask, io_nodes, sd):
        classes.extend(module.NODE_CLASSES)
    classes.extend(provider_node_classes())
    return classes
