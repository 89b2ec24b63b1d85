"""The registry of node classes by class_type."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..errors import NotFoundError
from .node import Node


class NodeRegistry:
    def __init__(self, classes: Iterable[type[Node]] = ()) -> None:
        self._classes: dict[str, type[Node]] = {}
        for cls in classes:
            self.register(cls)

    def register(self, cls: type[Node]) -> type[Node]:
        name = cls.class_type
        existing = self._classes.get(name)
        if existing is not None and existing is not cls:
            raise ValueError(
                f"node class_type {name!r} is registered twice "
                f"({existing.__module__} and {cls.__module__})"
            )
        self._classes[name] = cls
        return cls

    def get(self, class_type: str) -> type[Node] | None:
        return self._classes.get(class_type)

    def require(self, class_type: str) -> type[Node]:
        cls = self._classes.get(class_type)
        if cls is None:
            raise NotFoundError(f"node class {class_type!r} does not exist")
        return cls

    def __contains__(self, class_type: object) -> bool:
        return class_type in self._classes

    def __iter__(self) -> Iterator[type[Node]]:
        return iter(self._classes.values())

    def __len__(self) -> int:
        return len(self._classes)

    def object_info(self) -> dict[str, dict]:
        return {name: cls.object_info() for name, cls in self._classes.items()}


def default_registry() -> NodeRegistry:
    """Return a registry with every built-in node (torch is not imported here)."""
    from ..nodes import builtin_node_classes

    return NodeRegistry(builtin_node_classes())
