"""``vmap``: run a function written for one example on a whole batch at once.

``vmap(f, in_dims, out_dims)(*args)`` moves each batched argument's ``in_dims`` axis to the
front and makes it a ``BatchTracer`` of a new batch level (``chainrule.func.batching``), whose
``shape`` is the per-example shape. Every primitive ``f`` applies then runs once on the stack
through its batching rule (``prim.batch``, next to its derivatives in the op's family file),
and the outputs' batch axes are moved to ``out_dims``. It nests (``vmap(vmap(f))``) and
composes with every other transform in both orders: ``vmap(grad(loss))`` gives per-example
gradients; ``jacrev(vmap(f))`` differentiates a batched computation.

``randomness``: random functions (``cr.rand``, ``cr.randn``, dropout) called inside raise
("error", the default, as torch.func), draw one value shared by the whole batch ("same"), or
one independent value per example ("different").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.autograd.grad_mode import STATE
from chainrule.func.batching import BatchLevel, BatchTracer
from chainrule.func.levels import lower
from chainrule.func.pytree import flatten, unflatten
from chainrule.ops import shape as S
from chainrule.tensor import Tensor


def _per_leaf(dims: Any, tree: Any, what: str) -> list[Any]:
    """``dims`` (an int/None for the whole tree, or a matching structure) per leaf of
    ``tree``: JAX's prefix rule, with a tuple per positional argument."""
    if dims is None or isinstance(dims, int):
        leaves, _ = flatten(tree)
        return [dims] * len(leaves)
    if isinstance(dims, (tuple, list)) and isinstance(tree, (tuple, list)):
        if len(dims) != len(tree):
            raise ValueError(
                f"vmap: {what} has {len(dims)} entries but there are {len(tree)} arguments "
                "(outputs); give one per argument, or a single int for all"
            )
        out: list[Any] = []
        for d, t in zip(dims, tree):
            out.extend(_per_leaf(d, t, what))
        return out
    if isinstance(dims, dict) and isinstance(tree, dict):
        out = []
        for k in tree:
            out.extend(_per_leaf(dims.get(k), tree[k], what))
        return out
    raise ValueError(
        f"vmap: {what}={dims!r} does not match the structure of the arguments; use an int, "
        "None, or a tuple with one entry per argument"
    )


def _move_to_front(x: Tensor, dim: int) -> Tensor:
    if dim == 0:
        return x
    order = (dim, *[i for i in range(x.ndim) if i != dim])
    return S.permute(x, order)


def _move_from_front(x: Tensor, dim: int) -> Tensor:
    if dim == 0:
        return x
    rest = list(range(1, x.ndim))
    rest.insert(dim, 0)
    return S.permute(x, tuple(rest))


def vmap(
    func: Callable[..., Any],
    in_dims: Any = 0,
    out_dims: Any = 0,
    randomness: str = "error",
    *,
    chunk_size: int | None = None,
) -> Callable[..., Any]:
    """Vectorise ``func`` over a batch axis of its arguments (torch.func/JAX semantics).

    Args:
        func: a function of Tensors (pytrees of them) written for one example.
        in_dims: per positional argument, the batched axis (an int) or ``None`` for an
            argument shared by every example; one int applies to all.
        out_dims: where the batch axis goes in each output (an int or a tuple per output).
        randomness: "error" (random functions inside raise), "same" (one draw shared by
            the whole batch) or "different" (one draw per example).
        chunk_size: accepted for torch.func compatibility; the batch runs in one chunk.

    >>> import chainrule as cr
    >>> x = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> cr.func.vmap(lambda r: (r * r).sum())(x)
    tensor([ 5., 25.])
    >>> cr.func.vmap(cr.func.grad(lambda r: (r * r).sum()))(x)  # per-example gradients
    tensor([[2., 4.],
            [6., 8.]])
    """
    if randomness not in ("error", "same", "different"):
        raise ValueError(
            f"vmap: randomness must be 'error', 'same' or 'different', got {randomness!r}"
        )
    del chunk_size

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        leaves, spec = flatten(args)
        dims = _per_leaf(in_dims, args, "in_dims")
        size = None
        for x, d in zip(leaves, dims):
            if d is None:
                continue
            if not isinstance(x, Tensor):
                raise TypeError(
                    f"vmap: a batched argument must be a Tensor, got {type(x).__name__} (use "
                    "in_dims=None for it)"
                )
            if not -x.ndim <= d < x.ndim:
                raise ValueError(
                    f"vmap: in_dims {d} is out of range for an argument of shape {tuple(x.shape)}"
                )
            n = x.shape[d]
            if size is not None and n != size:
                raise ValueError(
                    f"vmap: batched arguments have different sizes along their in_dims "
                    f"({size} and {n}); they must all be equal"
                )
            size = n
        if size is None:
            raise ValueError("vmap: at least one argument must be batched (in_dims not None)")
        level = BatchLevel(size)
        guard = randomness == "error"
        STATE.no_random += guard
        outer = STATE.random_levels
        if randomness == "different":
            STATE.random_levels = (*outer, level)
        try:
            with level:
                return _run(level, func, (leaves, dims, spec, kwargs), out_dims, size)
        finally:
            STATE.no_random -= guard
            STATE.random_levels = outer

    return wrapped


def _run(
    level: BatchLevel,
    func: Callable[..., Any],
    call: tuple[list[Any], list[Any], Any, dict],
    out_dims: Any,
    size: int,
) -> Any:
    """Call ``func`` on the level's tracers; return its outputs with their batch axes out."""
    leaves, dims, spec, kwargs = call
    inputs = [
        x if d is None else BatchTracer(level, _move_to_front(x, d % x.ndim))
        for x, d in zip(leaves, dims)
    ]
    out = func(*unflatten(spec, inputs), **kwargs)
    o_leaves, o_spec = flatten(out)
    o_dims = _per_leaf(out_dims, out, "out_dims")
    return unflatten(o_spec, [_unbatch(level, o, d, size) for o, d in zip(o_leaves, o_dims)])


def _unbatch(level: BatchLevel, o: Any, dim: int | None, size: int) -> Any:
    """One output leaving the level: its stacked value with the batch axis at ``dim``."""
    if not isinstance(o, Tensor):
        raise TypeError(f"vmap: the function must return Tensors, got {type(o).__name__}")
    o = lower(o)  # a tracer of an exited inner transform (saved inside grad, say) is a value
    if o._level is level:
        stacked = o.primal
    else:  # the same for every example
        if dim is None:
            return o
        stacked = S.expand(S.unsqueeze(o, 0), (size, *o.shape))
    if dim is None:
        raise ValueError(
            "vmap: out_dims=None needs an output that is the same for every example, but "
            "this one depends on the batched inputs"
        )
    return _move_from_front(stacked, dim % stacked.ndim)
