"""``Module``: the base class of layers and models, with PyTorch's registration semantics.

Assigning a ``Parameter`` or a ``Module`` to an attribute registers it (``__setattr__``), in
assignment order; ``parameters()``, ``state_dict()`` and ``__repr__`` walk the registered
tree. Like PyTorch, registered values live in the ``_parameters``/``_buffers``/``_modules``
dicts and are found by ``__getattr__``, so there is one source of truth.
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator
from typing import Any

from chainrule import _device
from chainrule._backend import xp
from chainrule.autograd.grad_mode import no_grad
from chainrule.nn.parameter import Parameter
from chainrule.tensor import Tensor

_IncompatibleKeys = namedtuple("_IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


class Module:
    """Base class for all layers and models: subclass it, assign layers and Parameters in
    ``__init__``, and write ``forward``.

    >>> import chainrule as cr
    >>> from chainrule import nn
    >>> class TwoLayer(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.hidden = nn.Linear(4, 8)
    ...         self.out = nn.Linear(8, 2)
    ...     def forward(self, x):
    ...         return self.out(self.hidden(x).relu())
    >>> model = TwoLayer()
    >>> model
    TwoLayer(
      (hidden): Linear(in_features=4, out_features=8, bias=True)
      (out): Linear(in_features=8, out_features=2, bias=True)
    )
    >>> [name for name, _ in model.named_parameters()]
    ['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']
    >>> model(cr.ones(3, 4)).shape
    (3, 2)
    """

    training: bool

    def __init__(self) -> None:
        # object.__setattr__: our __setattr__ needs these dicts to exist already
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_forward_hooks", {})

    # --- forward ------------------------------------------------------------------------------

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = self.forward(*args, **kwargs)
        if self._forward_hooks:
            for hook in list(self._forward_hooks.values()):
                replaced = hook(self, args, out)
                if replaced is not None:
                    out = replaced
        return out

    def register_forward_hook(self, hook: Callable[..., Any]) -> Any:
        """Call ``hook(module, inputs, output)`` after every forward; a returned value
        replaces the output. Returns a handle with ``remove()``."""
        key = object()
        self._forward_hooks[key] = hook
        return _RemovableHandle(self._forward_hooks, key)

    # --- registration -------------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._forget(name)
            params[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                    "(chainrule.nn.Parameter or None expected)"
                )
            params[name] = None
        elif isinstance(value, Module):
            modules = d.get("_modules")
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._forget(name)
            modules[name] = value
        elif d.get("_modules") is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as child module '{name}' "
                    "(chainrule.nn.Module or None expected)"
                )
            d["_modules"][name] = None
        elif d.get("_buffers") is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                    "(chainrule.Tensor or None expected)"
                )
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        d = self.__dict__
        d.pop(name, None)
        for key in ("_parameters", "_buffers", "_modules"):
            d[key].pop(name, None)
        d["_non_persistent_buffers"].discard(name)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__  # never self._parameters: that would recurse before __init__
        for key in ("_parameters", "_buffers", "_modules"):
            registry = d.get(key)
            if registry is not None and name in registry:
                return registry[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if name in d.get(key, ()):
                del d[key][name]
                d["_non_persistent_buffers"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        extra = [*self._parameters, *self._buffers, *self._modules]
        return sorted(set(super().__dir__()) | set(extra))

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (or None, a placeholder) under ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                "(chainrule.nn.Parameter or None required)"
            )
        self._check_name(name, "parameter")
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register a non-trainable tensor (running statistics, masks) that moves with the
        module and, if ``persistent``, is saved in ``state_dict``."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                "(chainrule.Tensor or None required)"
            )
        self._check_name(name, "buffer")
        self._forget(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register a child module under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name(name, "module")
        self._forget(name)
        self._modules[name] = module

    register_module = add_module

    def _check_name(self, name: str, what: str) -> None:
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f'{what} name must be a non-empty string without ".", got {name!r}')

    # --- traversal ----------------------------------------------------------------------------

    def named_modules(self, memo: set | None = None, prefix: str = "") -> Iterator[tuple]:
        """(qualified name, module) for this module and every descendant, each once."""
        memo = set() if memo is None else memo
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:  # iterative pre-order walk: deep nets never hit the recursion limit
            name, module = stack.pop()
            if id(module) in memo:
                continue
            memo.add(id(module))
            yield name, module
            children = [
                (f"{name}.{key}" if name else key, child)
                for key, child in module._modules.items()
                if child is not None
            ]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry: str, prefix: str, recurse: bool) -> Iterator[tuple]:
        seen: set[int] = set()
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))  # a shared (tied) parameter is listed once
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple]:
        """(qualified name, Parameter) pairs, e.g. ``('0.weight', ...)``, each once."""
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple]:
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every submodule (children first) and on self; returns self."""
        for module in reversed(list(self.modules())):
            fn(module)
        return self

    # --- modes and gradients ------------------------------------------------------------------

    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active) on this module and all descendants."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (dropout off); the same as ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Turn gradient recording of every parameter on or off (freezing)."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters: to None (the default, as PyTorch 2) or zero.

        Gradients accumulate across ``backward()`` calls, so call this before each step.
        """
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad = p.grad.detach()
                p.grad.data[...] = 0

    def to(self, *args: Any, dtype: Any = None, device: Any = None, **kwargs: Any) -> Module:
        """Convert floating parameters, their gradients and buffers to ``dtype`` in place
        (the Parameter objects stay the same, so optimizers keep working).

        PyTorch's forms work: ``m.to(dtype)``, ``m.to(device)``, ``m.to(device, dtype)``,
        ``m.to(tensor)``. A device is checked (the CPU is the only one in this build).
        """
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, (str, _device.device)):
                device = a
            elif a is not None:
                dtype = a
        if device is not None:
            _device.check(device)
        if dtype is None:
            return self
        dtype = xp.dtype(dtype)
        for t in (*self.parameters(), *self.buffers()):
            if t.data.dtype.kind == "f":
                t.data = t.data.astype(dtype)
                if t.grad is not None:
                    t.grad = Tensor(t.grad.data.astype(dtype))
        return self

    def cpu(self) -> Module:
        return self

    def cuda(self, device: Any = None) -> Module:
        """Checked: this build has no CUDA device, so this raises a clear error."""
        _device.check("cuda" if device is None else device)
        return self

    def float(self) -> Module:
        return self.to(xp.float32)

    def double(self) -> Module:
        return self.to(xp.float64)

    # --- state dict ---------------------------------------------------------------------------

    def state_dict(
        self, destination: dict | None = None, prefix: str = "", keep_vars: bool = False
    ) -> dict[str, Tensor]:
        """Every parameter and persistent buffer by qualified name (``'0.weight'``).

        The tensors share memory with the module but carry no gradient history
        (``keep_vars=True`` returns the Parameters themselves).
        """
        out: dict[str, Tensor] = OrderedDict() if destination is None else destination
        for module_prefix, module in self.named_modules(prefix=prefix.rstrip(".")):
            dot = f"{module_prefix}." if module_prefix else ""
            for name, p in module._parameters.items():
                if p is not None:
                    out[dot + name] = p if keep_vars else p.detach()
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent_buffers:
                    out[dot + name] = b if keep_vars else b.detach()
        return out

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> Any:
        """Copy ``state_dict``'s values into this module's parameters and buffers, in place.

        With ``strict`` (the default) every key must match; a shape mismatch is always an
        error. The message lists every problem at once. Returns ``(missing_keys,
        unexpected_keys)``.
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(
                f"load_state_dict: expected a dict of name -> tensor, got "
                f"{type(state_dict).__name__}"
            )
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors = []
        if strict and unexpected:
            errors.append(
                "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". "
            )
        if strict and missing:
            errors.append(
                "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". "
            )
        arrays = {}
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            try:
                array = value.data if isinstance(value, Tensor) else xp.asarray(value)
            except (TypeError, ValueError):  # e.g. a ragged list
                array = None
            if array is None or array.dtype.kind not in "biuf":
                # None would become NaN, 1+5j would lose its imaginary part and "7" would
                # become 7.0 under copyto's unsafe casting: refuse them, as PyTorch does
                kind = "" if array is None else f" of dtype {array.dtype}"
                errors.append(
                    f'While copying the parameter named "{key}", expected a real-valued tensor '
                    f"or array from the checkpoint but received a {type(value).__name__}{kind} "
                    f"({value!r:.60})."
                )
                continue
            if array.shape != target.shape:
                errors.append(
                    f"size mismatch for {key}: copying a param with shape {tuple(array.shape)} "
                    f"from checkpoint, the shape in current model is {tuple(target.shape)}."
                )
            arrays[key] = array
        if errors:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                + "\n\t".join(errors)
            )
        with no_grad():
            for key, array in arrays.items():
                target = own[key]
                xp.copyto(target.data, array, casting="unsafe")
                target._bump()  # an in-place change, as copy_()
        return _IncompatibleKeys(missing, unexpected)

    # --- printing -----------------------------------------------------------------------------

    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (its hyperparameters)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        # PyTorch's layout: hyperparameters on one line, children indented one per line
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [
            f"({key}): " + _addindent(repr(module), 2) for key, module in self._modules.items()
        ]
        lines = extra_lines + child_lines
        body = ""
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                body = extra_lines[0]
            else:
                body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"


class _RemovableHandle:
    def __init__(self, registry: dict, key: object) -> None:
        self.registry, self.key = registry, key

    def remove(self) -> None:
        self.registry.pop(self.key, None)
