"""``custom_vjp`` and ``custom_jvp``: JAX's way to give a function its own derivative rule.

Both make one user-defined primitive per call (``chainrule.autograd.function.CustomCall``, the
machinery behind ``autograd.Function``), so every transform and the tape see a table entry:

- ``custom_vjp``: ``f.defvjp(fwd, bwd)`` with ``fwd(*args) -> (out, residuals)`` and
  ``bwd(residuals, g) -> one cotangent per argument``. Reverse mode calls ``bwd``. Forward mode
  (``jvp``, ``jacfwd``, ``hessian``) has no rule of its own, so it *transposes* ``bwd``:
  ``g -> bwd(res, g)`` is the linear map ``J^T``, and reverse mode through it gives ``J t``.
  That needs ``bwd`` written in chainrule ops; JAX refuses forward mode here instead.
- ``custom_jvp``: ``f.defjvp(rule)`` with ``rule(primals, tangents) -> (out, tangent_out)``.
  Forward mode calls ``rule``. Reverse mode transposes the rule's tangent map (linear in the
  tangents) by reverse mode through it, as JAX's linearize-and-transpose does.

Residuals and primals are recomputed inside the rule whenever the rule runs under another
derivative (higher order), so that they carry that derivative's values: ``grad(grad(f))`` and
``jacfwd(jacrev(f))`` differentiate ``bwd`` and the residuals together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chainrule import _backend
from chainrule.autograd.function import CustomCall, apply_call, traced
from chainrule.ops.shape import zeros_like
from chainrule.tensor import Tensor


class _Call(CustomCall):
    """One call of a ``custom_vjp``/``custom_jvp`` function: arguments and output structure."""

    def __init__(self, owner: Any, args: tuple) -> None:
        self.name = owner.__name__
        self.owner = owner
        self.args = args
        nondiff = set(owner.nondiff_argnums)
        self.positions = [
            k
            for k, a in enumerate(args)
            if isinstance(a, Tensor) and k not in nondiff and _backend.is_float(a.dtype)
        ]
        super().__init__(len(self.positions))

    def diff_outs(self, values: Any) -> list[Any]:
        """The entries of an output-shaped value that belong to differentiable outputs."""
        items = list(values) if isinstance(values, (tuple, list)) else [values]
        if len(items) != len(self.diff):
            raise ValueError(
                f"{self.name}: a rule returned {len(items)} values for {len(self.diff)} outputs"
            )
        return [v for v, d in zip(items, self.diff) if d]

    def out_structure(self, pieces: list[Any]) -> Any:
        """Cotangents in the structure of the output (zeros for non-differentiable ones)."""
        it = iter(pieces)
        full = [next(it) if d else zeros_like(o) for o, d in zip(self.outputs, self.diff)]
        return tuple(full) if self.tuple_out else full[0]


class _VJPCall(_Call):
    def run_forward(self, inputs: list[Any]) -> Any:
        result = self.owner.fwd(*self.full(inputs))
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError(
                f"custom_vjp {self.name}: fwd must return a pair (output, residuals), got "
                f"{type(result).__name__}"
            )
        self.res = result[1]
        return result[0]

    def residuals(self, inputs: tuple) -> Any:
        # under a higher derivative, the residuals must carry it too
        if any(isinstance(x, Tensor) and traced(x) for x in inputs):
            return self.owner.fwd(*self.full(inputs))[1]
        return self.res

    def cotangents(self, gs: list[Any], outs: list[Any], inputs: tuple) -> Sequence[Any]:
        res = self.residuals(inputs)
        nondiff = [self.args[k] for k in self.owner.nondiff_argnums]
        cts = self.owner.bwd(*nondiff, res, self.out_structure(gs))
        if not isinstance(cts, (tuple, list)):
            raise TypeError(
                f"custom_vjp {self.name}: bwd must return a tuple with one cotangent per "
                f"argument, got {type(cts).__name__}"
            )
        diff_args = [k for k in range(len(self.args)) if k not in self.owner.nondiff_argnums]
        if len(cts) != len(diff_args):
            raise ValueError(
                f"custom_vjp {self.name}: bwd returned {len(cts)} cotangents for "
                f"{len(diff_args)} arguments (one per argument outside nondiff_argnums)"
            )
        by_arg = dict(zip(diff_args, cts))
        return [by_arg[k] for k in self.positions]

    def tangent(self, i: int, t: Any, outs: list[Any], inputs: tuple) -> list[Any]:
        # J_i t is the transpose of the linear map g -> bwd(res, g)[i] applied to t
        from chainrule.func.api import vjp

        seeds = tuple(zeros_like(o) for o in outs)
        res = self.residuals(inputs)
        nondiff = [self.args[k] for k in self.owner.nondiff_argnums]
        diff_args = [k for k in range(len(self.args)) if k not in self.owner.nondiff_argnums]
        slot = diff_args.index(self.positions[i])

        def pullback(*gs: Any) -> Any:
            return self.owner.bwd(*nondiff, res, self.out_structure(list(gs)))[slot]

        try:
            _, transpose = vjp(pullback, *seeds)
            result = transpose(t)
        except Exception as err:
            raise RuntimeError(
                f"custom_vjp {self.name}: forward mode (jvp, jacfwd, hessian) needs J t, "
                "which is found by transposing bwd (it must be linear in the cotangent and "
                f"written in chainrule ops), and that failed: {err}. Define the function with "
                "custom_jvp instead, or use jacrev(jacrev(f)) for second derivatives."
            ) from err
        return list(result)


class _JVPCall(_Call):
    def run_forward(self, inputs: list[Any]) -> Any:
        return self.owner.fun(*self.full(inputs))

    def tangent_map(self, inputs: tuple) -> Callable[..., list[Any]]:
        # JAX's signature: rule(*nondiff_args, primals, tangents), the nondiff_argnums
        # arguments taken out of both tuples
        nondiff = self.owner.nondiff_argnums
        fixed = [self.args[k] for k in nondiff]
        primals = tuple(a for k, a in enumerate(self.full(inputs)) if k not in nondiff)

        def tangents_out(*ts: Any) -> list[Any]:
            full = self.full(ts, fill=lambda a: None)
            tangents = tuple(t for k, t in enumerate(full) if k not in nondiff)
            result = self.owner.jvp_rule(*fixed, primals, tangents)
            if not (isinstance(result, tuple) and len(result) == 2):
                raise TypeError(
                    f"custom_jvp {self.name}: the jvp rule must return a pair "
                    f"(primal_out, tangent_out), got {type(result).__name__}"
                )
            return self.diff_outs(result[1])

        return tangents_out

    def tangent(self, i: int, t: Any, outs: list[Any], inputs: tuple) -> list[Any]:
        ts = [zeros_like(x) for x in inputs]
        ts[i] = t
        return self.tangent_map(inputs)(*ts)

    def cotangents(self, gs: list[Any], outs: list[Any], inputs: tuple) -> Sequence[Any]:
        # the rule's tangent map is linear in the tangents: reverse mode through it is J^T g
        from chainrule.func.api import vjp

        tangents_out = self.tangent_map(inputs)
        zeros = tuple(zeros_like(x) for x in inputs)
        _, transpose = vjp(lambda *ts: tuple(tangents_out(*ts)), *zeros)
        return list(transpose(tuple(gs)))


class _Custom:
    """The shared part of ``custom_vjp``/``custom_jvp``: a callable wrapping ``fun``."""

    def __init__(self, fun: Callable[..., Any], nondiff_argnums: Sequence[int] = ()) -> None:
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self.__name__ = getattr(fun, "__name__", "custom")
        self.__doc__ = getattr(fun, "__doc__", None)

    def _check(self) -> None:
        raise NotImplementedError

    def _make(self, args: tuple) -> _Call:
        raise NotImplementedError

    def __call__(self, *args: Any) -> Any:
        self._check()
        call = self._make(args)
        if not call.positions:  # nothing to differentiate: just the function
            return self.fun(*args)
        return apply_call(call, [args[k] for k in call.positions])


class custom_vjp(_Custom):  # (JAX's name, lower case)
    """A function with a hand-written VJP: ``f.defvjp(fwd, bwd)`` (JAX's contract).

    ``fwd(*args)`` returns ``(out, residuals)``; ``bwd(residuals, g)`` returns a tuple with
    the cotangent ``g^T d out/d arg`` for each argument (``None`` for none). Arguments in
    ``nondiff_argnums`` are passed to ``bwd`` first and get no cotangent.

    >>> import chainrule as cr
    >>> @cr.func.custom_vjp
    ... def clip_gradient(x):
    ...     return x * 1.0
    >>> clip_gradient.defvjp(lambda x: (x * 1.0, None), lambda res, g: (g.clamp(-1.0, 1.0),))
    >>> cr.func.grad(lambda x: (3.0 * clip_gradient(x)).sum())(cr.tensor([1.0]))
    tensor([1.])
    """

    fwd: Callable[..., Any] | None = None
    bwd: Callable[..., Any] | None = None

    def defvjp(self, fwd: Callable[..., Any], bwd: Callable[..., Any]) -> None:
        self.fwd, self.bwd = fwd, bwd

    def _check(self) -> None:
        if self.fwd is None or self.bwd is None:
            raise RuntimeError(
                f"custom_vjp {self.__name__}: no VJP rule; call {self.__name__}.defvjp(fwd, "
                "bwd) before using it"
            )

    def _make(self, args: tuple) -> _Call:
        return _VJPCall(self, args)


class custom_jvp(_Custom):  # (JAX's name, lower case)
    """A function with a hand-written JVP: ``f.defjvp(rule)`` (JAX's contract).

    ``rule(primals, tangents)`` returns ``(f(*primals), J @ tangents)``; reverse mode
    transposes it. Usable as a decorator: ``@f.defjvp``.

    >>> import chainrule as cr
    >>> @cr.func.custom_jvp
    ... def log1pexp(x):
    ...     return (1.0 + x.exp()).log()
    >>> @log1pexp.defjvp
    ... def _(primals, tangents):
    ...     (x,), (t,) = primals, tangents
    ...     return log1pexp(x), t * x.sigmoid()   # d/dx log(1 + e^x) = sigmoid(x)
    >>> cr.func.grad(lambda x: log1pexp(x).sum())(cr.tensor([100.0]))
    tensor([1.])
    """

    jvp_rule: Callable[..., Any] | None = None

    def defjvp(self, rule: Callable[..., Any]) -> Callable[..., Any]:
        self.jvp_rule = rule
        return rule

    def _check(self) -> None:
        if self.jvp_rule is None:
            raise RuntimeError(
                f"custom_jvp {self.__name__}: no JVP rule; call {self.__name__}.defjvp(rule) "
                "before using it"
            )

    def _make(self, args: tuple) -> _Call:
        return _JVPCall(self, args)
