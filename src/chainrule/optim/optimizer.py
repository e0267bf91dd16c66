"""``Optimizer``: parameter groups, per-parameter state, zero_grad and state dicts.

Subclasses implement ``step`` by updating ``p.data`` (the NumPy array) in place: the update is
not part of any graph, so it runs outside autograd, and each updated parameter's version is
bumped, as an in-place ``p.add_()`` under ``no_grad`` would in PyTorch (a graph that saved
the old value then refuses to backward).
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable
from typing import Any

from chainrule._backend import xp
from chainrule.autograd.grad_mode import STATE
from chainrule.tensor import Tensor


def _traceable(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``step``/``zero_grad``, visible to ``cr.compile``: inside a traced function (some
    transform level live) the program records the call and replays the real method, which
    updates the real buffers (see ``chainrule.func.program``)."""

    @functools.wraps(fn)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if STATE.levels:
            from chainrule.func.program import optimizer_hook

            return optimizer_hook(self, fn, name, args, kwargs)
        return fn(self, *args, **kwargs)

    method._untraced = fn  # type: ignore[attr-defined]
    return method


class _Required:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


def check_non_negative(**values: float) -> None:
    """Raise PyTorch's message for a negative hyper-parameter; keyword names use ``_`` for
    spaces (``learning_rate=lr`` reads "Invalid learning rate: -1")."""
    for name, value in values.items():
        if value < 0.0:
            label = name.replace("_", " ").replace("weight decay value", "weight_decay value")
            raise ValueError(f"Invalid {label}: {value}")


class Optimizer:
    """Base class: ``param_groups`` (lists of parameters with their hyperparameters) and
    ``state`` (per-parameter buffers such as momentum), as PyTorch's."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("step", "zero_grad"):
            fn = cls.__dict__.get(name)
            if fn is not None and not hasattr(fn, "_untraced"):
                setattr(cls, name, _traceable(fn, name))

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got {type(params).__name__}"
            )
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (others from defaults)."""
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"optimizer can only optimize Tensors, but one of the params is "
                    f"{type(p).__name__}"
                )
            if p.grad_fn is not None:
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required {name}")
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized parameters (to None by default)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad = p.grad.detach()
                    p.grad.data[...] = 0

    zero_grad = _traceable(zero_grad, "zero_grad")  # type: ignore[assignment]

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        raise NotImplementedError

    @staticmethod
    def _gradients(group: dict[str, Any]) -> Any:
        """``(p, g)`` for each parameter of ``group`` that has a gradient; ``g`` is the
        gradient's array, negated when the group maximizes."""
        for p in group["params"]:
            if p.grad is not None:
                g = p.grad.data
                yield p, (-g if group["maximize"] else g)

    def _closure_loss(self, closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        from chainrule.autograd.grad_mode import enable_grad

        with enable_grad():
            return closure()

    # --- state dict ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {name: value}}, "param_groups": [{..., "params": [index]}]}``:
        parameters are referred to by their position across groups, as in PyTorch."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and buffers saved by ``state_dict`` (possibly after
        ``chainrule.save``/``load``: arrays become Tensors, string keys become indices)."""
        groups = state_dict["param_groups"]
        if isinstance(groups, dict):  # saved through cr.save: a dict keyed "0", "1", ...
            groups = [groups[k] for k in sorted(groups, key=int)]
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state dict has {len(groups)} parameter groups, but the optimizer "
                f"has {len(self.param_groups)}"
            )
        id_map: dict[int, Tensor] = {}
        for saved, group in zip(groups, self.param_groups):
            ids = [int(i) for i in _as_list(saved["params"])]
            if len(ids) != len(group["params"]):
                raise ValueError(
                    f"loaded state dict contains a parameter group of {len(ids)} parameters "
                    f"that doesn't match the size of optimizer's group ({len(group['params'])})"
                )
            id_map.update(zip(ids, group["params"]))
        state: dict[Tensor, dict[str, Any]] = {}
        for key, values in state_dict["state"].items():
            p = id_map.get(int(key))
            if p is None:
                continue
            state[p] = {name: _cast_state(v, p, name) for name, v in values.items()}
        new_groups = []
        for saved, group in zip(groups, self.param_groups):
            new_group = dict(group)
            for name, value in saved.items():
                if name != "params":
                    new_group[name] = _plain(value, self.defaults.get(name))
            new_groups.append(new_group)
        # Check everything before changing anything: a bad buffer found now names its
        # parameter; found by step() it would be a KeyError or a broadcasting error.
        index = {id(p): i for i, p in id_map.items()}
        for new_group in new_groups:
            for p in new_group["params"]:
                if state.get(p):  # an empty state is a fresh start, as PyTorch's
                    _check_state(state[p], p, index[id(p)], self._state_keys(new_group))
        self.state = state
        for group, new_group in zip(self.param_groups, new_groups):
            group.update(new_group)

    def _state_keys(self, group: dict[str, Any]) -> tuple[str, ...]:
        """The entries ``step`` reads from a parameter's (non-empty) state under ``group``'s
        hyperparameters; subclasses that keep buffers name them."""
        return ()

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, Tensor):
        return value.data.reshape(-1).tolist()
    if isinstance(value, xp.ndarray):
        return value.reshape(-1).tolist()
    return list(value)


def _plain(value: Any, like: Any) -> Any:
    """A hyperparameter back in the type of its default (tuples of betas, floats, bools)."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, xp.ndarray):
        value = value.item() if value.ndim == 0 else tuple(value.tolist())
    if isinstance(like, tuple) and isinstance(value, list):
        value = tuple(value)
    return value


def _cast_state(value: Any, p: Tensor, name: str) -> Any:
    """Optimizer buffers take the parameter's dtype (as PyTorch), copied so that the loaded
    dict and the optimizer do not share memory; scalars such as ``step`` stay scalars."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, xp.ndarray):
        if value.ndim == 0 and name == "step":
            return value.item()
        dtype = p.data.dtype if value.dtype.kind == "f" else value.dtype
        return Tensor(value.astype(dtype, copy=True))
    return value


def _check_state(state: dict[str, Any], p: Tensor, i: int, required: tuple[str, ...]) -> None:
    """Refuse a loaded per-parameter state that ``step`` could not use: a missing entry, a
    buffer that is not a floating-point tensor of the parameter's shape, a step that is not
    a number. ``i`` is the parameter's index in the state dict."""
    where = f"load_state_dict: the state of parameter {i} (shape {tuple(p.shape)})"
    missing = [k for k in required if k not in state]
    if missing:
        raise ValueError(
            f"{where} lacks {', '.join(map(repr, missing))}; it has {sorted(state)}. Was the "
            "state dict saved by another optimizer, or with other hyperparameters?"
        )
    for name, value in state.items():
        if name == "step":
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"{where} has step {value!r:.60}; expected a number")
        elif isinstance(value, Tensor):
            if tuple(value.shape) != tuple(p.shape):
                raise ValueError(
                    f"{where} has {name!r} of shape {tuple(value.shape)}; it must have the "
                    "parameter's shape"
                )
            if value.data.dtype.kind != "f":
                raise ValueError(f"{where} has {name!r} of dtype {value.dtype}; expected floats")
        elif value is not None or name in required:
            raise ValueError(
                f"{where} has {name!r} = {value!r:.60}; expected a tensor of the parameter's shape"
            )
