"""Function transforms with JAX's and torch.func's names: grad, value_and_grad, vjp, jvp,
jacrev, jacfwd, hessian, hvp. They compose to any order (``jacfwd(jacrev(f))``).

Forward mode (``jvp``, ``jacfwd``) pushes tangents forward through one pass per direction:
cheap when there are few inputs. Reverse mode (``vjp``, ``grad``, ``jacrev``) records the
computation and sweeps it backward once per output direction: cheap when there are few
outputs — one sweep gives the whole gradient of a scalar loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from chainrule import _backend
from chainrule._backend import xp
from chainrule.autograd.engine import run_backward
from chainrule.autograd.grad_mode import STATE
from chainrule.func.batching import BatchLevel
from chainrule.func.forward import JVPLevel, JVPTracer
from chainrule.func.levels import lower, traced
from chainrule.func.pytree import flatten, unflatten
from chainrule.func.reverse import VJPLevel, VJPTracer
from chainrule.ops import shape as S
from chainrule.tensor import Tensor, _wrap


def _to_tensor(x: Any, where: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    try:
        return Tensor(x)
    except TypeError:
        raise TypeError(
            f"{where}: expected a Tensor, NumPy array or number, got {type(x).__name__}"
        ) from None


def _check_float(x: Tensor, transform: str, what: str) -> None:
    if not _backend.is_float(x.dtype):
        raise TypeError(
            f"{transform}: {what} has dtype {x.dtype}; only floating point inputs can be "
            f"differentiated (convert with .float() or .double())"
        )


def _argnums_tuple(argnums: int | Sequence[int], nargs: int, transform: str) -> tuple[int, ...]:
    """``argnums`` as a tuple of non-negative positions, after torch.func's checks: an int or
    a non-empty tuple/list of ints (``True``, ``"0"`` or ``1.0`` are not positions), each in
    range, none repeated (a repeated position would ask for one gradient twice; the sweep
    would hand it to only one of them and zeros to the other)."""
    allowed = "an int or a non-empty tuple of ints (e.g. argnums=0 or argnums=(0, 1))"
    if _is_position(argnums):
        nums: tuple[Any, ...] = (argnums,)
    elif isinstance(argnums, (tuple, list)) and argnums:
        nums = tuple(argnums)
        if not all(_is_position(n) for n in nums):
            bad = next(n for n in nums if not _is_position(n))
            raise TypeError(
                f"{transform}: argnums must be {allowed}; got {argnums!r}, which holds a "
                f"{type(bad).__name__}"
            )
    else:
        raise TypeError(f"{transform}: argnums must be {allowed}; got {argnums!r}")
    for n in nums:
        if not -nargs <= n < nargs:
            raise ValueError(
                f"{transform}: argnums {argnums} is out of range for a function called with "
                f"{nargs} positional arguments"
            )
    result = tuple(int(n) % nargs for n in nums)
    if len(set(result)) != len(result):
        raise ValueError(
            f"{transform}: argnums {argnums!r} names the same argument more than once; each "
            "argument can be differentiated once (argnums must be unique, as in torch.func)"
        )
    return result


def _is_position(n: Any) -> bool:
    """An int (or NumPy integer), but not a bool: ``True`` is an int to Python, not to us."""
    return isinstance(n, (int, xp.integer)) and not isinstance(n, (bool, xp.bool_))


def _strip(x: Any, level: Any) -> Any:
    """Lower the tracers of exited levels other than ``level`` (which just exited itself)."""
    x = traced(x, level)
    while isinstance(x, Tensor) and x._level is not None and x._level is not level:
        if x._level.alive:
            break
        x = x.primal
    return x


def _unwrap_out(level: Any, x: Any) -> Any:
    """A value leaving ``level``: its primal (a tracer of an older level, or a Tensor)."""
    x = _strip(x, level)
    if isinstance(x, Tensor) and x._level is level:
        return lower(x.primal)
    return x


# --- reverse mode ---------------------------------------------------------------------------


def _trace_reverse(
    f: Callable, args: tuple, argnums: tuple[int, ...], transform: str
) -> tuple[VJPLevel, Any, list[list[VJPTracer]], list[Any]]:
    """Run ``f`` with the chosen arguments traced at a new reverse level."""
    level = VJPLevel()
    args = list(args)
    inputs: list[list[VJPTracer]] = []
    specs = []
    with level:
        for n in argnums:
            leaves, spec = flatten(args[n])
            tracers = []
            for k, leaf in enumerate(leaves):
                t = _to_tensor(leaf, transform)
                _check_float(t, transform, f"argument {n}" + (f" leaf {k}" if k else ""))
                tracers.append(VJPTracer(level, t, None))
            inputs.append(tracers)
            specs.append(spec)
            args[n] = unflatten(spec, tracers)
        out = f(*args)
    return level, out, inputs, specs


def _regroup(flat: list[Any], inputs: list[list[Any]], specs: list[Any]) -> list[Any]:
    """Per-input values in flat order, rebuilt into one pytree per traced argument."""
    result, pos = [], 0
    for group, spec in zip(inputs, specs):
        result.append(unflatten(spec, flat[pos : pos + len(group)]))
        pos += len(group)
    return result


def _sweep(level: VJPLevel, outs: list[Any], cotangents: list[Any], inputs: list[Any]) -> list:
    """Backpropagate ``cotangents`` from ``outs`` to ``inputs`` through ``level``'s graph."""
    roots, grads = [], []
    for o, g in zip(outs, cotangents):
        o = _strip(o, level)
        if isinstance(o, Tensor) and o._level is level and o.edge is not None:
            roots.append(o.edge)
            grads.append(g)
    results = [None] * len(inputs)
    if roots:
        # The rules run with the caller's grad mode, so that tensors requiring grad used
        # inside f (parameters) stay on the ordinary tape: backward() through grad(f) works.
        results = run_backward(
            roots,
            grads,
            retain_graph=True,
            create_graph=STATE.grad_enabled,
            # the input tracers themselves (their leaf identity), not their current edges:
            # an input changed in place inside f now has a node, and the gradient is wanted
            # for the value f was given (see VJPTracer._leaf)
            inputs=list(inputs),
        )
    return [S.zeros_like(t.primal) if r is None else r for r, t in zip(results, inputs)]


def vjp(f: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """``(f(*primals), vjp_fn)``; ``vjp_fn(cotangent)`` returns ``cotangent^T J`` per primal.

    ``vjp_fn`` takes cotangents with the structure of ``f``'s output and returns a tuple with
    one entry per primal; it can be called several times.

    >>> import chainrule as cr
    >>> out, vjp_fn = cr.func.vjp(lambda x: x * x, cr.tensor([1.0, 2.0]))
    >>> vjp_fn(cr.tensor([1.0, 1.0]))
    (tensor([2., 4.]),)
    """
    level, out, inputs, specs = _trace_reverse(f, primals, tuple(range(len(primals))), "vjp")
    aux = None
    if has_aux:
        out, aux = _split_aux(out, "vjp")
        aux = _map_out(level, aux)
    out_leaves, out_spec = flatten(out)
    primal_out = unflatten(out_spec, [_unwrap_out(level, o) for o in out_leaves])

    def vjp_fn(cotangents: Any) -> tuple[Any, ...]:
        ct_leaves, _ = flatten(cotangents)
        if len(ct_leaves) != len(out_leaves):
            raise ValueError(
                f"vjp_fn: expected cotangents with the structure of the output "
                f"({len(out_leaves)} tensors), got {len(ct_leaves)}"
            )
        cts = []
        for k, (o, c) in enumerate(zip(out_leaves, ct_leaves)):
            c = _to_tensor(c, "vjp_fn")
            if tuple(c.shape) != tuple(o.shape):
                raise ValueError(
                    f"vjp_fn: cotangent {k} has shape {tuple(c.shape)} but output {k} has "
                    f"shape {tuple(o.shape)}; they must match"
                )
            cts.append(c.to(o.dtype))
        flat_inputs = [t for group in inputs for t in group]
        grads = _sweep(level, out_leaves, cts, flat_inputs)
        return tuple(_regroup(grads, inputs, specs))

    return (primal_out, vjp_fn, aux) if has_aux else (primal_out, vjp_fn)


def _split_aux(out: Any, transform: str) -> tuple[Any, Any]:
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError(
            f"{transform}(has_aux=True): f must return a pair (output, aux), got "
            f"{type(out).__name__}"
        )
    return out


def _map_out(level: Any, tree: Any) -> Any:
    leaves, spec = flatten(tree)
    return unflatten(spec, [_unwrap_out(level, x) for x in leaves])


def value_and_grad(
    f: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """A function returning ``(f(*args), grad)`` (JAX's order), the gradient in reverse mode.

    ``f`` must return a one-element tensor (with ``has_aux``, a pair ``(value, aux)``, and the
    result is ``((value, aux), grad)``). With a tuple ``argnums`` the gradient is a tuple.

    >>> import chainrule as cr
    >>> value, g = cr.func.value_and_grad(lambda x: (x ** 2).sum())(cr.tensor([1.0, 3.0]))
    >>> float(value), g
    (10.0, tensor([2., 6.]))
    """

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums_tuple(argnums, len(args), "grad")
        level, out, inputs, specs = _trace_reverse(lambda *a: f(*a, **kwargs), args, nums, "grad")
        aux = None
        if has_aux:
            out, aux = _split_aux(out, "grad")
            aux = _map_out(level, aux)
        if not isinstance(out, Tensor):
            raise TypeError(f"grad: f must return a Tensor, got {type(out).__name__}")
        if out.numel() != 1:
            raise ValueError(
                f"grad: f must return a scalar (a one-element tensor) but returned shape "
                f"{tuple(out.shape)}; reduce it (e.g. .sum()) or use jacrev/vjp for non-scalar "
                "outputs"
            )
        _check_float(out, "grad", "the output")
        seed = _wrap(xp.ones(out.shape, dtype=out.dtype))
        flat_inputs = [t for group in inputs for t in group]
        grads = _sweep(level, [out], [seed], flat_inputs)
        result = _regroup(grads, inputs, specs)
        g = result[0] if _is_position(argnums) else tuple(result)
        value = _unwrap_out(level, out)
        return ((value, aux), g) if has_aux else (value, g)

    return wrapped


def grad(
    f: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """A function returning the gradient of scalar ``f`` with respect to ``argnums``.

    >>> import chainrule as cr
    >>> cr.func.grad(lambda x: x.sin().sum())(cr.tensor([0.0]))
    tensor([1.])
    >>> cr.func.grad(cr.func.grad(lambda x: x ** 3))(cr.tensor(2.0))  # 6x
    tensor(12.)
    """
    vg = value_and_grad(f, argnums, has_aux)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        (value_aux, g) = vg(*args, **kwargs)
        return (g, value_aux[1]) if has_aux else g

    return wrapped


# --- forward mode ---------------------------------------------------------------------------


def jvp(
    f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any], has_aux: bool = False
) -> tuple[Any, ...]:
    """``(f(*primals), J @ tangents)`` in one forward pass (true forward mode).

    >>> import chainrule as cr
    >>> cr.func.jvp(lambda x: x.sin(), (cr.tensor([0.0]),), (cr.tensor([2.0]),))
    (tensor([0.]), tensor([2.]))
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(
            "jvp: primals and tangents must be tuples (e.g. jvp(f, (x,), (v,))), got "
            f"{type(primals).__name__} and {type(tangents).__name__}"
        )
    p_leaves, p_spec = flatten(tuple(primals))
    t_leaves, t_spec = flatten(tuple(tangents))
    if len(p_leaves) != len(t_leaves) or p_spec != t_spec:
        raise ValueError(
            f"jvp: tangents must have the structure of primals: got {len(p_leaves)} primals "
            f"and {len(t_leaves)} tangents"
        )
    level = JVPLevel()
    with level:
        tracers = []
        for k, (p, t) in enumerate(zip(p_leaves, t_leaves)):
            p = _to_tensor(p, "jvp")
            t = _to_tensor(t, "jvp")
            _check_float(p, "jvp", f"primal {k}")
            if tuple(t.shape) != tuple(p.shape):
                raise ValueError(
                    f"jvp: tangent {k} has shape {tuple(t.shape)} but primal {k} has shape "
                    f"{tuple(p.shape)}; each tangent must match its primal"
                )
            if t.dtype != p.dtype:
                raise TypeError(
                    f"jvp: tangent {k} has dtype {t.dtype} but primal {k} has dtype {p.dtype}"
                )
            tracers.append(JVPTracer(level, p, t))
        out = f(*unflatten(p_spec, tracers))
    aux = None
    if has_aux:
        out, aux = _split_aux(out, "jvp")
        aux = _map_out(level, aux)
    o_leaves, o_spec = flatten(out)
    primal_out, tangent_out = [], []
    for o in o_leaves:
        o = _strip(o, level)
        if isinstance(o, JVPTracer) and o._level is level:
            primal_out.append(lower(o.primal))
            tangent_out.append(lower(o.tangent))
        else:
            o = _to_tensor(o, "jvp")
            primal_out.append(o)
            tangent_out.append(S.zeros_like(o))  # f's output does not depend on the primals
    result = (unflatten(o_spec, primal_out), unflatten(o_spec, tangent_out))
    return (*result, aux) if has_aux else result


# --- Jacobians, Hessians --------------------------------------------------------------------


#: Elements of one stacked basis (or of its image) per batched pass: 2**24 float32 = 64 MiB.
#: Larger Jacobians are computed in chunks of basis vectors, so memory stays bounded.
CHUNK_ELEMENTS = 1 << 24


def _chunks(n: int, width: int) -> list[tuple[int, int]]:
    """Split ``range(n)`` so that a chunk times ``width`` stays under ``CHUNK_ELEMENTS``."""
    step = max(1, CHUNK_ELEMENTS // max(width, 1))
    return [(a, min(a + step, n)) for a in range(0, n, step)]


def _basis_stack(start: int, stop: int, shape: tuple[int, ...], dtype: Any) -> Tensor:
    """Rows ``start..stop`` of the identity, each reshaped to ``shape``."""
    n = math.prod(shape)
    e = xp.zeros((stop - start, n), dtype=dtype)
    e[xp.arange(stop - start), xp.arange(start, stop)] = 1
    return _wrap(e.reshape((stop - start, *shape)))


def _unbatch(level: BatchLevel, r: Any, shape: tuple[int, ...]) -> Any:
    """The stacked value of a batch-level result; a result that is not batched (a zero that
    never met a basis vector) is broadcast to the stack."""
    r = _strip(r, level)
    if isinstance(r, Tensor) and r._level is level:
        return r.primal
    return S.expand(S.unsqueeze(r, 0), (level.size, *shape))


def jacrev(f: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """The Jacobian of ``f`` in reverse mode, shape ``out.shape + in.shape``.

    ``f`` is traced once; then all output directions ``e_k`` are pulled back in one batched
    sweep (in chunks when the stacked cotangents would not fit in ``CHUNK_ELEMENTS``).
    Outputs may be pytrees (each output leaf gets its Jacobian); a tuple ``argnums`` gives a
    tuple of Jacobians per output leaf, as JAX and torch.func do.
    """

    def wrapped(*args: Any) -> Any:
        nums = _argnums_tuple(argnums, len(args), "jacrev")
        level, out, inputs, specs = _trace_reverse(f, args, nums, "jacrev")
        flat = [t for group in inputs for t in group]
        o_leaves, o_spec = flatten(out)
        results = []
        for o in o_leaves:
            if not isinstance(o, Tensor):
                raise TypeError(f"jacrev: f must return Tensors, got {type(o).__name__}")
            out_shape = tuple(o.shape)
            m = math.prod(out_shape)
            width = max([m] + [t.numel() for t in flat])
            parts: list[list[Any]] = [[] for _ in flat]
            for a, b in _chunks(m, width):
                batch = BatchLevel(b - a)
                with batch:
                    seeds = batch.wrap(_basis_stack(a, b, out_shape, o.dtype))
                    grads = _sweep(level, [o], [seeds], flat)
                    for j, (g, t) in enumerate(zip(grads, flat)):
                        parts[j].append(_unbatch(batch, g, tuple(t.shape)))
            jacs = []
            for t, p in zip(flat, parts):
                if not p:  # an empty output: an empty Jacobian
                    jacs.append(_wrap(xp.zeros(out_shape + tuple(t.shape), t.dtype)))
                    continue
                stacked = p[0] if len(p) == 1 else S.cat(p, 0)
                jacs.append(S.reshape(stacked, out_shape + tuple(t.shape)))
            per_arg = _regroup(jacs, inputs, specs)
            results.append(per_arg[0] if _is_position(argnums) else tuple(per_arg))
        return unflatten(o_spec, results)

    return wrapped


def jacfwd(f: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """The Jacobian of ``f`` in forward mode, shape ``out.shape + in.shape``.

    All input directions ``e_k`` are pushed forward in one batched ``jvp`` pass (in chunks
    when the stacked tangents would not fit in ``CHUNK_ELEMENTS``). Outputs may be pytrees
    (each output leaf gets its Jacobian); a tuple ``argnums`` gives a tuple of Jacobians per
    output leaf, so ``hessian(f, argnums=(0, 1))`` is the nested tuple of blocks.
    """

    def wrapped(*args: Any) -> Any:
        nums = _argnums_tuple(argnums, len(args), "jacfwd")
        args = list(args)
        per_arg = []
        o_spec: Any = None
        for n in nums:
            x = _to_tensor(args[n], "jacfwd")
            _check_float(x, "jacfwd", f"argument {n}")
            in_shape = tuple(x.shape)

            def f_n(xn: Any, n: int = n) -> Any:
                call = list(args)
                call[n] = xn
                return f(*call)

            k = math.prod(in_shape)
            parts: list[list[Any]] | None = None
            shapes: list[tuple[int, ...]] = []
            # chunks are sized by the input: outputs are not known before the first pass
            for a, b in _chunks(k, max(k, 1)):
                batch = BatchLevel(b - a)
                with batch:
                    seeds = batch.wrap(_basis_stack(a, b, in_shape, x.dtype))
                    out, t_out = jvp(f_n, (x,), (seeds,))
                    o_leaves, o_spec = flatten(out)
                    t_leaves, _ = flatten(t_out)
                    shapes = [tuple(o.shape) for o in o_leaves]
                    if parts is None:
                        parts = [[] for _ in o_leaves]
                    for j, (t, shape) in enumerate(zip(t_leaves, shapes)):
                        parts[j].append(_unbatch(batch, t, shape))
            if parts is None:  # no input entries: empty Jacobians
                o_leaves, o_spec = flatten(f_n(x))
                per_arg.append(
                    [_wrap(xp.zeros(tuple(o.shape) + in_shape, x.dtype)) for o in o_leaves]
                )
                continue
            jacs = []
            for p, shape in zip(parts, shapes):
                stacked = p[0] if len(p) == 1 else S.cat(p, 0)  # (k, *out_shape)
                nd = len(shape)
                moved = S.permute(stacked, (*range(1, nd + 1), 0)) if nd else stacked
                jacs.append(S.to(S.reshape(moved, shape + in_shape), x.dtype))
            per_arg.append(jacs)
        leaves = [
            per_arg[0][j] if _is_position(argnums) else tuple(a[j] for a in per_arg)
            for j in range(len(per_arg[0]))
        ]
        return unflatten(o_spec, leaves)

    return wrapped


def hessian(f: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """The Hessian of scalar ``f``: ``jacfwd(jacrev(f))`` (forward-over-reverse)."""
    return jacfwd(jacrev(f, argnums), argnums)


def hvp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> tuple:
    """``(f(*primals), H @ tangents)`` without forming the Hessian H: a forward-mode pass
    over the gradient computation (``jvp`` of ``grad``), about the cost of two gradients.

    >>> import chainrule as cr
    >>> out, hv = cr.func.hvp(lambda x: (x ** 3).sum(), (cr.tensor([1.0, 2.0]),),
    ...                       (cr.tensor([1.0, 0.0]),))
    >>> hv  # H = diag(6x)
    tensor([6., 0.])
    """
    nums = tuple(range(len(primals)))
    vg = value_and_grad(f, argnums=nums)
    (value, _), (_, hv) = jvp(lambda *xs: vg(*xs), tuple(primals), tuple(tangents))
    return value, (hv[0] if len(primals) == 1 else hv)
