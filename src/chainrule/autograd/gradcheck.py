"""Gradient checking against central finite differences, in float64.

``gradcheck`` compares the Jacobian that backward computes (one VJP per output entry) with
``(f(x + eps e_j) - f(x - eps e_j)) / (2 eps)`` for every input entry ``j``.
``gradgradcheck`` applies the same check to the function that computes the VJP with
``create_graph=True``, i.e. it checks second derivatives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chainrule._backend import xp


class GradcheckError(RuntimeError):
    """Raised when analytical and numerical derivatives disagree."""


def _tuple(x: Any) -> tuple[Any, ...]:
    from chainrule.tensor import Tensor

    return (x,) if isinstance(x, Tensor) else tuple(x)


def _check_inputs(inputs: Sequence[Any]) -> None:
    for k, t in enumerate(inputs):
        if t.requires_grad and t.dtype != xp.float64:
            raise GradcheckError(
                f"gradcheck: input {k} is {t.dtype}; finite differences need float64 inputs "
                "(use .double())"
            )


def _numerical_jacobian(fn: Callable, inputs: tuple, k: int, eps: float) -> Any:
    """J[out_index, in_index] of every output (flattened and concatenated) wrt input k."""
    from chainrule.autograd.grad_mode import no_grad

    data = inputs[k].data
    columns = []
    with no_grad():
        # Perturb x's own buffer entry by entry (C order, matching reshape(-1) of the
        # analytical Jacobian). Indexing the array itself, rather than a reshape(-1) of it,
        # also works for non-contiguous inputs, where reshape would silently return a copy.
        for j in xp.ndindex(data.shape):
            orig = data[j]
            data[j] = orig + eps
            plus = _flat_outputs(fn(*inputs))
            data[j] = orig - eps
            minus = _flat_outputs(fn(*inputs))
            data[j] = orig
            columns.append((plus - minus) / (2 * eps))
    return xp.stack(columns, axis=1) if columns else xp.zeros((0, 0))


def _flat_outputs(out: Any) -> Any:
    outs = _tuple(out)
    return xp.concatenate([xp.asarray(o.data, dtype=xp.float64).reshape(-1) for o in outs])


def _analytical_jacobians(fn: Callable, inputs: tuple, diff: list[int]) -> list[Any]:
    from chainrule.autograd.functional import grad
    from chainrule.tensor import Tensor

    outs = [o for o in _tuple(fn(*inputs))]
    sizes = [o.numel() for o in outs]
    total = sum(sizes)
    jac = [xp.zeros((total, inputs[k].numel())) for k in diff]
    row = 0
    for o, size in zip(outs, sizes):
        for i in range(size):
            if not o.requires_grad:
                row += 1
                continue
            g = xp.zeros(o.shape, dtype=o.dtype)
            g.reshape(-1)[i] = 1.0
            gs = grad(o, [inputs[k] for k in diff], Tensor(g), retain_graph=True, allow_unused=True)
            for col, gk in enumerate(gs):
                if gk is not None:
                    jac[col][row] = gk.data.reshape(-1)
            row += 1
    return jac


def gradcheck(
    fn: Callable[..., Any],
    inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Check backward's gradients of ``fn`` against central finite differences.

    Args:
        fn: a function of the tensors ``inputs`` returning a tensor or a tuple of tensors.
        inputs: a tensor or tuple of tensors; those with ``requires_grad`` are checked and
            must be float64.
        eps, atol, rtol: the finite-difference step and tolerances (``|a - n| <= atol +
            rtol * |n|`` entrywise).
        raise_exception: raise ``GradcheckError`` on mismatch (else return False).

    >>> import chainrule as cr
    >>> x = cr.randn(3, dtype=cr.float64, requires_grad=True)
    >>> cr.autograd.gradcheck(lambda t: (t.sin() * t).sum(), (x,))
    True
    """
    inputs = _tuple(inputs)
    _check_inputs(inputs)
    diff = [k for k, t in enumerate(inputs) if t.requires_grad]
    analytical = _analytical_jacobians(fn, inputs, diff)
    for col, k in enumerate(diff):
        numerical = _numerical_jacobian(fn, inputs, k, eps)
        a = analytical[col]
        if a.shape != numerical.shape or not xp.allclose(a, numerical, atol=atol, rtol=rtol):
            if not raise_exception:
                return False
            worst = xp.unravel_index(xp.argmax(xp.abs(a - numerical)), a.shape) if a.size else ()
            raise GradcheckError(
                f"gradcheck: Jacobian mismatch for input {k} (shape {tuple(inputs[k].shape)}): "
                f"largest difference at (output entry, input entry) {tuple(map(int, worst))}:\n"
                f"analytical (backward):\n{a}\nnumerical (central differences, eps={eps}):\n"
                f"{numerical}"
            )
    return True


def gradgradcheck(
    fn: Callable[..., Any],
    inputs: Any,
    grad_outputs: Any = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Check second derivatives: ``gradcheck`` of the map ``(inputs, v) -> J(inputs)^T v``.

    ``v`` (``grad_outputs``) is random when not given, and is itself checked as an input.
    """
    from chainrule.autograd.functional import grad
    from chainrule.autograd.grad_mode import enable_grad
    from chainrule.tensor import Tensor

    inputs = _tuple(inputs)
    _check_inputs(inputs)
    outs = _tuple(fn(*inputs))
    if grad_outputs is None:
        rng = xp.random.default_rng(0)
        grad_outputs = tuple(Tensor(rng.standard_normal(o.shape), requires_grad=True) for o in outs)
    grad_outputs = _tuple(grad_outputs)
    n = len(inputs)
    diff = [k for k, t in enumerate(inputs) if t.requires_grad]

    def vjp_fn(*args: Any) -> tuple[Any, ...]:
        # gradcheck evaluates this under no_grad for its finite differences; the VJP needs
        # the forward graph regardless, or every numerical column would come out zero.
        with enable_grad():
            return _vjp(*args)

    def _vjp(*args: Any) -> tuple[Any, ...]:
        xs, vs = args[:n], args[n:]
        o = _tuple(fn(*xs))
        pairs = [(oi, vi) for oi, vi in zip(o, vs) if oi.requires_grad]
        gs = grad(
            [p[0] for p in pairs],
            [xs[k] for k in diff],
            [p[1] for p in pairs],
            create_graph=True,
            allow_unused=True,
        )
        return tuple(
            g if g is not None else Tensor(xp.zeros(xs[k].shape)) for g, k in zip(gs, diff)
        )

    return gradcheck(vjp_fn, inputs + grad_outputs, eps, atol, rtol, raise_exception)
