"""Flatten and rebuild nested tuples, lists and dicts of tensors (a minimal pytree)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Spec = Any  # a nested structure with None where each leaf was


def flatten(tree: Any) -> tuple[list[Any], Spec]:
    """Leaves in order, plus a spec to rebuild the structure (dict keys in insertion order)."""
    leaves: list[Any] = []

    def walk(node: Any) -> Spec:
        if isinstance(node, (tuple, list)):
            return type(node), [walk(n) for n in node]
        if isinstance(node, dict):
            return dict, {k: walk(v) for k, v in node.items()}
        leaves.append(node)
        return None

    return leaves, walk(tree)


def unflatten(spec: Spec, leaves: list[Any]) -> Any:
    """Rebuild the structure described by ``spec`` from ``leaves``."""
    it = iter(leaves)

    def build(s: Spec) -> Any:
        if s is None:
            return next(it)
        kind, children = s
        if kind is dict:
            return {k: build(v) for k, v in children.items()}
        if hasattr(kind, "_fields"):  # a namedtuple (max(dim=...)'s (values, indices))
            return kind(*(build(c) for c in children))
        return kind(build(c) for c in children)

    return build(spec)


def tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    leaves, spec = flatten(tree)
    return unflatten(spec, [fn(x) for x in leaves])
