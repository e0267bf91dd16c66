"""The backward engine: one iterative sweep shared by ``Tensor.backward`` and ``autograd.grad``.

1. Topologically sort the nodes reachable from the roots with an explicit stack (no recursion,
   so a graph 100,000 ops deep is fine).
2. Visit them outputs-first. A node's cotangent is complete when it is visited, because every
   consumer comes earlier in the order; contributions from several consumers were summed
   (the lesson's ``+=``: a value used twice gets both gradients).
3. For each input that needs a gradient, run the primitive's VJP rule, undo broadcasting with
   ``sum_to_shape`` (once, here, for every broadcasting primitive), and pass the result along
   the edge: to the producing node, or to a leaf. (Rules return their input's dtype: a cast
   node's rule casts back, so the engine itself casts nothing.)
4. Leaves accumulate into ``.grad`` (or are returned, for ``autograd.grad``).

``run_backward`` is steps 1-2 and 4; ``_chain_rule`` is step 3 at one node. ``backward`` is
``Tensor.backward`` (attached by ``chainrule.ops.api``); ``root_gradient`` checks the cotangent
given for an output, for it and for ``autograd.grad``.

Rules run with grad mode off unless ``create_graph`` is set; then they are recorded like any
other ops, which is what makes gradients of gradients work.
"""

from __future__ import annotations

from typing import Any

from chainrule import _backend
from chainrule._backend import xp
from chainrule.autograd.grad_mode import STATE
from chainrule.autograd.node import Node
from chainrule.ops._primitive import public
from chainrule.ops.shape import sum_to_shape, to
from chainrule.tensor import Tensor, wrap


def toposort(roots: list[Node]) -> list[Node]:
    """Nodes reachable from ``roots``, every consumer before the nodes it consumes."""
    order: list[Node] = []
    visited: set[Node] = set()
    stack: list[tuple[Node, bool]] = [(r, False) for r in reversed(roots)]
    while stack:
        node, finished = stack.pop()
        if finished:
            order.append(node)  # post-order: after everything it depends on
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))
        for edge in node.edges:
            if type(edge) is Node and edge not in visited:
                stack.append((edge, False))
    order.reverse()
    return order


def _freed_error(node: Node) -> RuntimeError:
    return RuntimeError(
        f"Trying to backward through the graph a second time: {node.name()} already freed the "
        "tensors it saved for backward. Pass retain_graph=True to the first backward() (or "
        "autograd.grad) if you need to backward through the same graph again."
    )


def _version_error(node: Node, index: int, cell: Any, version: int) -> RuntimeError:
    what = "its output" if index < 0 else f"its input {index}"
    shape = node.out_data.shape if index < 0 else node.inputs[index].shape
    return RuntimeError(
        f"one of the variables needed for gradient computation has been modified by an "
        f"in-place operation: {node.name()} saved {what} (a tensor of shape "
        f"{tuple(shape)}) at version {version}, and it is now at version {cell.data}. "
        "Use the out-of-place op instead (x = x + 1 rather than x.add_(1)), or clone "
        "the tensor before changing it in place."
    )


def _anomaly_check(node: Node, index: int, gx: Any) -> None:
    if not xp.isfinite(gx.data).all():
        where = "".join(node.stack or ["(forward stack not recorded)\n"])
        bad = "nan" if xp.isnan(gx.data).any() else "inf"
        raise RuntimeError(
            f"Function '{node.name()}' returned {bad} values in its {index}th output during "
            f"backward. The forward call that created it:\n{where}"
        )


def run_backward(
    roots: list[Any],
    root_grads: list[Any],
    *,
    retain_graph: bool,
    create_graph: bool,
    inputs: list[Any] | None = None,
) -> list[Any] | None:
    """Backpropagate ``root_grads`` from ``roots``.

    ``roots`` and ``inputs`` are *edges*: a ``Node`` (the producer of a non-leaf value) or a
    leaf tensor. Without ``inputs``, accumulate into the ``.grad`` of every leaf reached
    (``backward``). With ``inputs``, return their gradients (``None`` where unreachable) and
    touch no ``.grad`` (``autograd.grad`` and the reverse-mode transforms).
    """
    grads: dict[Node, Any] = {}
    leaf_grads: dict[int, list[Any]] = {}  # id(leaf) -> [leaf, summed cotangent]
    # Arrays a leaf must not adopt without a copy: the caller's own gradient arrays (the caller
    # may change them later) and any array already handed to another leaf or retained grad.
    handed_out: set[int] = set()

    root_nodes = []
    for root, g in zip(roots, root_grads):
        handed_out.add(id(g.data))
        if type(root) is Node:
            prev = grads.get(root)
            grads[root] = g if prev is None else prev + g
            root_nodes.append(root)
        else:  # a leaf root (backward() on a leaf) just seeds its own .grad
            _send_leaf(leaf_grads, root, g)

    # keyed by node, not by input position: the same input may be asked for twice
    capture: set[Node] = set()
    captured: dict[Node, Any] = {}
    if inputs is not None:
        for edge in inputs:
            if type(edge) is Node:
                capture.add(edge)

    prev_mode = STATE.grad_enabled
    STATE.grad_enabled = create_graph  # rules are recorded only when building a graph
    anomaly = STATE.anomaly
    try:
        for node in toposort(root_nodes):
            g = grads.pop(node, None)
            if g is None:
                continue  # nothing flowed here (a symbolic zero)
            if node.freed:
                raise _freed_error(node)  # before any hook or retained grad sees anything
            if node.hooks or node.retained is not None:
                g = _observe(node, g, handed_out, create_graph)
            if capture and node in capture:
                captured[node] = g
            if node.saved:
                for index, cell, version in node.saved:
                    if cell.data != version:
                        raise _version_error(node, index, cell, version)
            _chain_rule(node, g, grads, leaf_grads, create_graph, anomaly)
            if not retain_graph:
                node.release()
    finally:
        STATE.grad_enabled = prev_mode

    if inputs is not None:
        results = []
        for edge in inputs:
            if type(edge) is Node:
                results.append(captured.get(edge))
            else:
                entry = leaf_grads.get(id(edge))
                results.append(None if entry is None else _leaf_hooks(edge, entry[1]))
        return results

    for leaf, g in leaf_grads.values():
        _accumulate(leaf, g, handed_out, create_graph)
    return None


def _observe(node: Node, g: Any, handed_out: set[int], create_graph: bool) -> Any:
    """Run the hooks on a node's output cotangent (a returned tensor replaces it) and fill
    the ``.grad`` of its output if that called ``retain_grad``."""
    if node.hooks:
        for hook in node.hooks:
            replaced = hook(g)
            if replaced is not None:
                g = _checked_hook_result(hook, replaced, g)
                handed_out.add(id(g.data))  # the hook's caller may keep it
    if node.retained is not None:
        t = node.retained()
        if t is not None:
            # a copy: g may be passed on unchanged and end up in another .grad
            t.grad = _own_copy(g, create_graph) if t.grad is None else t.grad + g
    return g


def _chain_rule(
    node: Node,
    g: Any,
    grads: dict[Node, Any],
    leaf_grads: dict[int, list[Any]],
    create_graph: bool,
    anomaly: bool,
) -> None:
    """The chain rule at one node: each input's cotangent from ``g``, the output's, by the
    primitive's VJP rules, passed along the input's edge (to its producer or its leaf)."""
    prim = node.prim
    args = node.inputs
    params = node.params
    out = node.out_tensor  # set by transforms: the output is a traced value
    if out is None and node.out_data is not None:
        out = wrap(node.out_data)
        if create_graph:
            out.grad_fn = node  # the output, as a graph value, for double backward
            out.requires_grad = True
    vjps = prim.vjps
    broadcasts = prim.broadcasts
    i = -1
    for edge in node.edges:
        i += 1
        if edge is None:
            continue
        gx = vjps[i](g, out, *args, **params)
        if gx is None:
            continue
        if broadcasts:  # undo broadcasting here, once, for every such primitive
            shape = args[i].shape
            if gx.shape != shape:
                gx = sum_to_shape(gx, shape)
        if anomaly:
            _anomaly_check(node, i, gx)
        # the lesson's +=: a value used twice gets the sum of both contributions
        if type(edge) is Node:
            prev = grads.get(edge)
            grads[edge] = gx if prev is None else prev + gx
        else:
            _send_leaf(leaf_grads, edge, gx)


def _checked_hook_result(hook: Any, new: Any, g: Any) -> Any:
    """A hook's replacement gradient must be a tensor of the gradient's shape and dtype (as
    PyTorch checks): a wrong one would end up in ``.grad`` or in a rule."""
    name = getattr(hook, "__qualname__", None) or repr(hook)
    if not isinstance(new, Tensor):
        raise TypeError(
            f"hook {name} returned a {type(new).__name__}; a gradient hook must return None "
            f"or a Tensor of shape {tuple(g.shape)} and dtype {g.dtype}"
        )
    if new.shape != g.shape:
        raise RuntimeError(
            f"hook {name} changed the size of value: it returned shape {tuple(new.shape)} "
            f"for a gradient of shape {tuple(g.shape)}"
        )
    if new.dtype != g.dtype:
        raise RuntimeError(
            f"hook {name} changed the type of value: it returned dtype {new.dtype} for a "
            f"gradient of dtype {g.dtype}"
        )
    return new


def _send_leaf(leaf_grads: dict[int, list[Any]], leaf: Any, gx: Any) -> None:
    entry = leaf_grads.get(id(leaf))
    if entry is None:
        leaf_grads[id(leaf)] = [leaf, gx]
    else:
        entry[1] = entry[1] + gx  # a leaf used twice gets both contributions


def _own_copy(g: Any, create_graph: bool) -> Any:
    """A copy of ``g`` for a ``.grad`` (kept in the graph only when building one)."""
    return g.clone() if create_graph else g.detach().clone()


def _leaf_hooks(leaf: Any, g: Any) -> Any:
    """Run a leaf's gradient hooks (for backward and autograd.grad alike, as PyTorch)."""
    if leaf._hooks:
        for hook in leaf._hooks:
            replaced = hook(g)
            if replaced is not None:
                g = _checked_hook_result(hook, replaced, g)
    return g


def _accumulate(leaf: Any, g: Any, handed_out: set[int], create_graph: bool) -> None:
    """``leaf.grad += g`` with PyTorch's semantics, running the leaf's hooks first."""
    if leaf._hooks:
        hooked = _leaf_hooks(leaf, g)
        if hooked is not g:
            handed_out.add(id(hooked.data))  # returned by a hook: its owner may keep it
        g = hooked
    if leaf.grad is None:
        data = g.data
        if id(data) in handed_out or data.base is not None or not data.flags.writeable:
            g = _own_copy(g, create_graph)  # never alias a buffer
        elif not create_graph and g.grad_fn is not None:
            g = g.detach()
        handed_out.add(id(g.data))
        leaf.grad = g
    elif create_graph or g._level is not None:
        # out of place: the old grad may be part of a graph, or g a traced value (a program
        # being traced by cr.compile must see the sum)
        leaf.grad = leaf.grad + g
    else:
        leaf.grad.data += g.data  # in place, as PyTorch accumulates


@public(toplevel=False)
def backward(
    self: Tensor,
    gradient: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
) -> None:
    """Accumulate d(self)/d(leaf) into the ``.grad`` of every leaf this depends on.

    ``gradient`` is the cotangent of ``self`` (needed unless ``self`` has one element).
    The graph's saved tensors are freed unless ``retain_graph`` (default: ``create_graph``).
    """
    root, g = root_gradient(self, gradient, "backward", None)
    if retain_graph is None:
        retain_graph = create_graph
    run_backward([root], [g], retain_graph=retain_graph, create_graph=create_graph)


def root_gradient(out: Tensor, gradient: Any, op: str, k: int | None) -> tuple[Any, Tensor]:
    """Check the cotangent given for an output (``backward``'s ``gradient``, ``autograd.grad``'s
    ``grad_outputs[k]``) and return ``(edge, cotangent)``: ones for a one-element output when
    none is given, cast to the output's dtype. Written once for both entry points."""
    what = "this tensor" if k is None else f"output {k}"
    given = "gradient" if k is None else f"grad_outputs[{k}]"
    if not out.requires_grad:
        raise RuntimeError(
            f"{op}: {what} does not require grad and has no grad_fn, so there is nothing to "
            "differentiate. Create the inputs with requires_grad=True and do not compute it "
            "under no_grad()."
        )
    if gradient is None:
        if out.data.size != 1:
            raise RuntimeError(
                f"{op}: grad can be implicitly created only for scalar outputs, but {what} has "
                f"shape {tuple(out.shape)}. Reduce it first (.sum(), .mean()) or pass "
                f"{'gradient=' if k is None else 'grad_outputs'} of the same shape."
            )
        g = wrap(_backend.full(out.shape, 1, out.data.dtype))
    else:
        g = gradient if isinstance(gradient, Tensor) else Tensor(gradient)
        if g.shape != out.shape:
            raise RuntimeError(
                f"{op}: {given} has shape {tuple(g.shape)} but {what} has shape "
                f"{tuple(out.shape)}; they must match"
            )
        g = to(g, out.data.dtype)
    return (out.grad_fn if out.grad_fn is not None else out), g
