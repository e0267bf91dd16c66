"""Batching: run one computation over a stack of tangents or cotangents at once.

``jacfwd`` needs ``J e_k`` for every basis vector ``e_k`` and ``jacrev`` needs ``e_k^T J``.
Doing one Python-level pass per basis vector costs the interpreter overhead ``n`` times; a
*batch level* instead carries all of them in one array with a leading batch axis, and each
primitive is applied once to the stack (what JAX's ``vmap`` does). Values of the batch level
are ``BatchTracer``s: ``shape`` is the per-example shape, the wrapped ``value`` has the batch
axis first.

Each primitive family has a batching rule: elementwise ops align ranks and broadcast,
reductions and softmax shift their ``dim`` by one, shape ops prepend the batch axis to their
shape argument, matmul aligns its operands' batch dims. A primitive without a rule falls back
to a loop over the batch (correct, just slower), so new primitives work unchanged.

Only tangents and cotangents are ever batched here (the primal computation runs once), so the
comparisons in rules, which read primals, never see a batch tracer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from chainrule._backend import xp
from chainrule.func.levels import Level, Tracer
from chainrule.ops import elementwise as E
from chainrule.ops import linalg as L
from chainrule.ops import nn as N
from chainrule.ops import reduce as R
from chainrule.ops import shape as S
from chainrule.ops._primitive import Primitive, bind


class BatchTracer(Tracer):
    """A stack of values at one batch level: ``value`` has shape ``(size, *shape)``."""

    def __init__(self, level: BatchLevel, value: Any) -> None:
        self._level = level
        self.primal = value  # the stacked value; lowering a dead batch tracer yields it

    @property
    def shape(self) -> tuple[int, ...]:  # type: ignore[override]
        return self.primal.shape[1:]

    @property
    def ndim(self) -> int:  # type: ignore[override]
        return self.primal.ndim - 1


class BatchLevel(Level):
    """One batched evaluation over ``size`` examples."""

    def __init__(self, size: int) -> None:
        super().__init__("batch")
        self.size = size

    def process(self, prim: Primitive, args: tuple, params: dict) -> Any:
        values = [a.primal if a._level is self else a for a in args]
        batched = [a._level is self for a in args]
        rule = RULES.get(prim, _loop_rule)
        return BatchTracer(self, rule(self, prim, values, batched, params))

    def wrap(self, value: Any) -> BatchTracer:
        return BatchTracer(self, value)


# --- helpers on stacked values (bind on the values: older levels see these ops) ------------


def _rank(v: Any, b: bool) -> int:
    return v.ndim - 1 if b else v.ndim


def _align(values: list[Any], batched: list[bool], rank: int) -> list[Any]:
    """Give every stacked value ``rank`` per-example dims (size-1 dims inserted after the
    batch axis), so that NumPy broadcasting lines up per-example dims; unbatched values
    broadcast against the batch axis on their own."""
    out = []
    for v, b in zip(values, batched):
        if b and v.ndim - 1 < rank:
            v = S.reshape(v, (v.shape[0],) + (1,) * (rank - v.ndim + 1) + tuple(v.shape[1:]))
        out.append(v)
    return out


def _broadcast_rule(level: BatchLevel, prim: Primitive, values: list, batched: list, params: dict):
    rank = max(_rank(v, b) for v, b in zip(values, batched))
    return bind(prim, tuple(_align(values, batched, rank)), params)


def _mask_rule(level: BatchLevel, prim: Primitive, values: list, batched: list, params: dict):
    # the mask (a parameter) broadcasts like an operand: align g's dims with it too
    rank = max(_rank(values[0], batched[0]), params["mask"].ndim)
    return bind(prim, tuple(_align(values, batched, rank)), params)


def _shift_dims(dims: Any) -> Any:
    if dims is None:
        return None
    if isinstance(dims, int):
        return dims + 1
    return tuple(d + 1 for d in dims)


def _reduce_rule(level: BatchLevel, prim: Primitive, values: list, batched: list, params: dict):
    (v,) = values
    dim = params["dim"]
    if dim is None:
        dim = tuple(range(v.ndim - 1))  # every per-example dim, never the batch axis
    return bind(prim, (v,), {**params, "dim": _shift_dims(dim)})


def _softmax_rule(level: BatchLevel, prim: Primitive, values: list, batched: list, params: dict):
    return bind(prim, tuple(values), {**params, "dim": params["dim"] + 1})


def _with_batch(shape: tuple[int, ...], size: int) -> tuple[int, ...]:
    return (size, *shape)


def _reshape_rule(level: BatchLevel, prim: Primitive, values: list, batched: list, params: dict):
    (v,) = values
    return bind(prim, (v,), {"shape": _with_batch(params["shape"], v.shape[0])})


def _permute_rule(level: BatchLevel, prim: Primitive, values: list, batched: list, params: dict):
    return bind(prim, tuple(values), {"dims": (0, *(d + 1 for d in params["dims"]))})


def _expand_rule(level: BatchLevel, prim: Primitive, values: list, batched: list, params: dict):
    shape = params["shape"]
    (v,) = _align(values, batched, len(shape))
    return bind(prim, (v,), {"shape": _with_batch(shape, v.shape[0])})


def _sum_to_shape_rule(
    level: BatchLevel, prim: Primitive, values: list, batched: list, params: dict
):
    (v,) = values
    shape = params["shape"]
    lead = v.ndim - 1 - len(shape)
    if lead:  # per-example leading dims are summed away first, so the batch axis stays put
        v = bind(R.sum_p, (v,), {"dim": tuple(range(1, lead + 1)), "keepdim": False})
    return bind(prim, (v,), {"shape": _with_batch(shape, v.shape[0])})


def _batched_index(index: Any) -> Any | None:
    """The index with a leading full slice for the batch axis, or None where NumPy would move
    the advanced-index dims (non-adjacent advanced indices) and the loop must be used."""
    items = index if isinstance(index, tuple) else (index,)
    arrays = any(not isinstance(it, (slice, int, type(None), type(...))) for it in items)
    # with an array present, NumPy treats integers as advanced indices too
    basic = (slice, type(None), type(...)) if arrays else (slice, int, type(None), type(...))
    advanced = [k for k, it in enumerate(items) if not isinstance(it, basic)]
    if advanced and advanced != list(range(advanced[0], advanced[-1] + 1)):
        return None
    return (slice(None), *items)


def _getitem_rule(level: BatchLevel, prim: Primitive, values: list, batched: list, params: dict):
    index = _batched_index(params["index"])
    if index is None:
        return _loop_rule(level, prim, values, batched, params)
    return bind(prim, tuple(values), {"index": index})


def _index_add_rule(level: BatchLevel, prim: Primitive, values: list, batched: list, params: dict):
    index = _batched_index(params["index"])
    if index is None:
        return _loop_rule(level, prim, values, batched, params)
    (v,) = values
    return bind(prim, (v,), {"index": index, "shape": _with_batch(params["shape"], v.shape[0])})


def _stack_all(level: BatchLevel, values: list, batched: list) -> list[Any]:
    """Materialise the batch axis on unbatched values (ops like cat need it explicitly)."""
    out = []
    for v, b in zip(values, batched):
        if not b:
            v = bind(S.expand_p, (S.reshape(v, (1, *v.shape)),), {"shape": (level.size, *v.shape)})
        out.append(v)
    return out


def _index_put_rule(level: BatchLevel, prim: Primitive, values: list, batched: list, params: dict):
    index = _batched_index(params["index"])
    if index is None:
        return _loop_rule(level, prim, values, batched, params)
    x, v = values
    if not batched[0]:
        (x,) = _stack_all(level, [x], [False])
    if batched[1]:
        # v broadcasts into x[index]: line its per-example dims up with that region's
        region = xp.empty(x.shape[1:], dtype=bool)[params["index"]].ndim
        (v,) = _align([v], [True], region)
    return bind(prim, (x, v), {"index": index})


def _cat_rule(level: BatchLevel, prim: Primitive, values: list, batched: list, params: dict):
    return bind(prim, tuple(_stack_all(level, values, batched)), {"dim": params["dim"] + 1})


def _matmul_rule(level: BatchLevel, prim: Primitive, values: list, batched: list, params: dict):
    x, y = values
    bx, by = batched
    x_vec, y_vec = _rank(x, bx) == 1, _rank(y, by) == 1
    # matmul treats 1-D operands specially; make them matrices so batch dims can broadcast
    if x_vec:
        x = S.reshape(x, (*x.shape[:-1], 1, x.shape[-1]))
    if y_vec:
        y = S.reshape(y, (*y.shape, 1))
    if bx and not by and y.ndim == 2:
        # (B, ..., n, k) @ (k, m): one (B*...*n, k) @ (k, m) product instead of B small ones
        lead = tuple(x.shape[:-1])
        out = bind(prim, (S.reshape(x, (math.prod(lead), x.shape[-1])), y), params)
        out = S.reshape(out, (*lead, y.shape[-1]))
    elif by and not bx and x.ndim == 2:
        # (n, k) @ (B, ..., k, m): fold the stack into the columns, (n, k) @ (k, B*...*m)
        nd = y.ndim
        cols = S.permute(y, (nd - 2, *range(nd - 2), nd - 1))  # (k, B, ..., m)
        flat = S.reshape(cols, (cols.shape[0], math.prod(cols.shape[1:])))
        out = bind(prim, (x, flat), params)  # (n, B*...*m)
        out = S.reshape(out, (x.shape[0], *cols.shape[1:]))  # (n, B, ..., m)
        out = S.permute(out, (*range(1, nd - 1), 0, nd - 1))  # (B, ..., n, m)
    else:
        rank = max(_rank(x, bx), _rank(y, by))
        x, y = _align([x, y], [bx, by], rank)
        out = bind(prim, (x, y), params)
    if x_vec and y_vec:
        return S.reshape(out, out.shape[:-2])  # (..., 1, 1): a dot product per example
    if y_vec:
        return S.reshape(out, out.shape[:-1])
    if x_vec:
        return S.reshape(out, (*out.shape[:-2], out.shape[-1]))
    return out


def _loop_rule(level: BatchLevel, prim: Primitive, values: list, batched: list, params: dict):
    """Fallback: apply the primitive example by example and stack the results."""
    results = []
    for k in range(level.size):
        args = tuple(S.getitem(v, k) if b else v for v, b in zip(values, batched))
        r = bind(prim, args, params)
        results.append(S.reshape(r, (1, *r.shape)))
    return S.cat(results, 0)


RULES: dict[Primitive, Callable[..., Any]] = {}
for _p in (
    E.add_p, E.sub_p, E.mul_p, E.div_p, E.pow_p, E.pow_scalar_p, E.maximum_p, E.minimum_p,
    E.where_p, E.neg_p, E.cast_p, E.clone_p, E.exp_p, E.log_p, E.log1p_p, E.sqrt_p, E.sin_p,
    E.cos_p, E.tanh_p, E.abs_p, E.erf_p, E.sigmoid_p, E.softplus_p, E.relu_p, E.leaky_relu_p,
    E.clamp_p,
):  # fmt: skip
    RULES[_p] = _broadcast_rule
for _p in (R.sum_p, R.amax_p, R.amin_p, R.logsumexp_p):
    RULES[_p] = _reduce_rule
RULES.update(
    {
        E.mask_p: _mask_rule,
        N.softmax_p: _softmax_rule,
        N.log_softmax_p: _softmax_rule,
        S.reshape_p: _reshape_rule,
        S.permute_p: _permute_rule,
        S.expand_p: _expand_rule,
        S.sum_to_shape_p: _sum_to_shape_rule,
        S.getitem_p: _getitem_rule,
        S.index_add_p: _index_add_rule,
        S.index_put_p: _index_put_rule,
        S.cat_p: _cat_rule,
        L.matmul_p: _matmul_rule,
    }
)
