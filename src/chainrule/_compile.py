"""``cr.compile``: trace once per input signature, then replay the program as plain NumPy.

The first call with given input shapes and dtypes (and static arguments) runs ``f`` on
tracers (``chainrule.func.program``), which records the flat list of primitives it binds;
that call's result is the eager result. The program is then optimised and turned into one
straight-line Python function over NumPy arrays (no Tensor objects, no graph nodes, no
dispatch per op):

- dead code removal: equations whose results reach no output and no effect are dropped;
- constant folding: equations whose inputs are all constants (that are not parameters) are
  computed once, at compile time;
- broadcasting reductions precomputed: the ``sum_to_shape`` of a broadcast operand's
  gradient becomes one ``sum(axis=...)`` with the axes worked out now;
- buffer reuse: an elementwise NumPy ufunc writes into (``out=``) the buffer of an input that
  no later equation, output or effect reads, and that no view aliases (a lifetime analysis
  over alias groups; a result that was not a new array when traced is treated as an alias of
  the op's inputs).

Later calls check guards (each constant tensor still holds the array it held when traced,
constants that are not parameters have not been changed in place, gradients are where the
trace found them) and run the function; a failed guard retraces. A small cache keeps one
program per signature, and warns when a function keeps being retraced.

Side effects happen in Python only while tracing (a ``print`` in ``f`` prints once). The
effects the program records are replayed: a leaf's ``.grad`` set by ``backward()``, an
optimizer's ``step()``/``zero_grad()`` (the real method runs, on the real buffers), in-place
updates of tensors that are not inputs, and dropout masks (fresh numbers on each call, from
chainrule's generator).

Inside a live transform (``grad(compile(f))``) or on inputs that require grad, the compiled
function runs its program by binding each primitive (``Program.bind_run``), so the transform
or the tape sees every operation and derivatives agree with eager; before a program exists
for those inputs' signature, it runs ``f`` itself there.
"""

from __future__ import annotations

import builtins
import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from chainrule._backend import xp
from chainrule.autograd.grad_mode import STATE
from chainrule.func.program import (
    AssumptionFailed,
    Effect,
    Eqn,
    NumpyPrimitive,
    Program,
    TraceError,
    Var,
    dyn_vars,
    trace,
)
from chainrule.func.pytree import flatten, unflatten
from chainrule.tensor import Tensor, wrap

#: programs kept per compiled function; more distinct signatures than this evict the oldest
CACHE_SIZE = 8
#: traces of one compiled function after which it warns that it keeps retracing
RETRACE_WARNING = 8


def _freeze(spec: Any) -> Any:
    if spec is None:
        return None
    kind, children = spec
    if kind is dict:
        return (dict, tuple((k, _freeze(v)) for k, v in children.items()))
    return (kind, tuple(_freeze(c) for c in children))


class Compiled:
    """A compiled function: call it as ``f``. ``program(*args)`` shows the optimised
    program for those arguments' signature (tracing it if needed)."""

    def __init__(self, f: Callable[..., Any], static_argnums: Sequence[int]) -> None:
        self.f = f
        self.static_argnums = tuple(static_argnums)
        self.cache: dict[Any, _Entry] = {}
        self.traces = 0
        self._warned = False
        functools.update_wrapper(self, f, updated=())  # name and docstring, not f's __dict__

    def _key(self, args: tuple) -> tuple[Any, Any, bool]:
        """``(signature, tensor leaves, whether to bind the ops)`` of a call's arguments."""
        if not self.static_argnums:
            for a in args:
                if not isinstance(a, Tensor):
                    break
            else:  # tensors (the common case): a cheaper key
                grad = STATE.grad_enabled
                key = ("tensors", tuple([(a.shape, a.dtype) for a in args]), grad)
                inline = False
                for a in args:
                    if a._level is not None or (grad and a.requires_grad):
                        inline = True
                return key, args, inline
        return self._full_key(args)

    def _full_key(self, args: tuple) -> tuple[Any, list[Any], bool]:
        parts, leaves_out = [], []
        traced = False
        for n, a in enumerate(args):
            if n in self.static_argnums:
                try:
                    hash(a)
                except TypeError:
                    raise TypeError(
                        f"cr.compile: static argument {n} must be hashable, got {type(a).__name__}"
                    ) from None
                parts.append(("static", a))
                continue
            leaves, spec = flatten(a)
            sig = []
            for leaf in leaves:
                if isinstance(leaf, Tensor):
                    if leaf._level is not None or (leaf.requires_grad and STATE.grad_enabled):
                        traced = True
                    sig.append((leaf.shape, leaf.dtype))
                    leaves_out.append(leaf)
                elif isinstance(leaf, xp.ndarray):
                    sig.append((leaf.shape, leaf.dtype))
                    leaves_out.append(leaf)
                else:
                    try:
                        hash(leaf)
                    except TypeError:
                        raise TypeError(
                            f"cr.compile: argument {n} holds a {type(leaf).__name__}, which "
                            "is neither a tensor nor hashable (so it cannot be static)"
                        ) from None
                    sig.append(("value", type(leaf), leaf))
            parts.append((_freeze(spec), tuple(sig)))
        return (tuple(parts), STATE.grad_enabled), leaves_out, traced

    def _trace(self, key: Any, args: tuple) -> tuple[_Entry, Any]:
        self.traces += 1
        if self.traces > RETRACE_WARNING and not self._warned:
            self._warned = True
            warnings.warn(
                f"cr.compile: {getattr(self.f, '__name__', 'f')} has been traced "
                f"{self.traces} times: its input shapes, dtypes or static arguments keep "
                "changing, or a guarded tensor (a parameter's array, a gradient) is replaced "
                "between calls. Each trace costs about an eager call plus compilation.",
                RuntimeWarning,
                stacklevel=3,
            )
        program, result = trace(self.f, args, self.static_argnums, _name(self.f))
        entry = _Entry(program)
        if len(self.cache) >= CACHE_SIZE and key not in self.cache:
            self.cache.pop(next(iter(self.cache)))
        self.cache[key] = entry
        return entry, result

    def __call__(self, *args: Any) -> Any:
        key, leaves, inline = self._key(args)
        entry = self.cache.get(key)
        tensors = None
        if inline or STATE.levels:
            # under a transform or on tensors that require grad: bind the program's ops
            tensors = [x if isinstance(x, Tensor) else wrap(x) for x in leaves]
            if entry is None or not entry.guards_ok():
                # nothing traced for these inputs yet: run f itself under the transforms (a
                # trace here would run f's effects once more than the caller asked for)
                return self.f(*args)
        elif entry is None or not entry.guards_ok():
            entry, result = self._trace(key, args)
            if not entry.program.needs_tape or entry.has_effects:  # type: ignore[attr-defined]
                return result
            # the traced values have no graph: run the ops again, on the tape
            tensors = [x if isinstance(x, Tensor) else wrap(x) for x in leaves]
        elif entry.program.needs_tape:  # type: ignore[attr-defined]
            tensors = [x if isinstance(x, Tensor) else wrap(x) for x in leaves]
        try:
            if tensors is not None:
                return entry.program.bind_run(tensors)
            return entry.run([x.data if isinstance(x, Tensor) else x for x in leaves])
        except AssumptionFailed:
            if not entry.safe_to_retry:
                raise RuntimeError(
                    "cr.compile: a value that chainrule checked while tracing (e.g. that "
                    "cross_entropy's targets are all valid classes) differs on this call, "
                    "after the program had already applied effects (an optimizer step). "
                    "Call the function eagerly for such inputs."
                ) from None
            if tensors is not None:
                self.cache.pop(key, None)
                return self.f(*args)
            return self._trace(key, args)[1]

    def _trace_plain(self, key: Any, args: tuple) -> _Entry:
        plain = tuple(_plain(a, n in self.static_argnums) for n, a in enumerate(args))
        return self._trace(key, plain)[0]

    def program(self, *args: Any) -> Program:
        """The optimised program for ``args``' signature."""
        key, _, _ = self._key(args)
        entry = self.cache.get(key)
        if entry is None:
            entry = self._trace_plain(key, args)
        return entry.optimised

    def __repr__(self) -> str:
        return f"<compiled {getattr(self.f, '__name__', 'function')}>"


def _name(f: Any) -> str:
    name = getattr(f, "__name__", "f")
    return name if name.isidentifier() and name != "wrapped" else "f"


def _plain(a: Any, static: bool) -> Any:
    """``a`` with every tensor leaf replaced by a plain tensor of its innermost value."""
    if static:
        return a
    leaves, spec = flatten(a)
    return unflatten(
        spec, [wrap(xp.asarray(x.data)) if isinstance(x, Tensor) else x for x in leaves]
    )


class _Entry:
    """One traced signature: the program, its guards, and the compiled replay."""

    def __init__(self, program: Program) -> None:
        self.program = program
        used = {id(v) for e in program.body for v in e.ins} | {
            id(o) for o in program.outs if isinstance(o, Var)
        }
        guards = []
        for c in program.consts:
            if id(c) not in used:
                continue
            t = c.tensor
            if t._level is not None:
                raise TraceError("cr.compile: a traced value of another transform leaked in")
            version = None if t.requires_grad else t._version
            guards.append((t, t.data, version))
        setgrad = {id(e.target) for e in program.body if isinstance(e, Effect)}
        const_ids = {id(c.tensor) for c in program.consts}
        grad_guards = [
            (p, g)
            for p, g in program.sight_grads  # type: ignore[attr-defined]
            if id(p) in setgrad or (g is not None and id(g) in const_ids)
        ]
        self.guards = guards
        self.grad_guards = grad_guards
        # an assumption checked after an effect ran cannot be retried by retracing
        first_effect = next(
            (i for i, e in enumerate(program.body) if isinstance(e, Effect) and e.kind != "assume"),
            len(program.body),
        )
        self.has_effects = first_effect < len(program.body)
        self.safe_to_retry = all(
            i < first_effect
            for i, e in enumerate(program.body)
            if isinstance(e, Effect) and e.kind == "assume"
        )
        self.optimised, self.run = compile_program(program)

    def guards_ok(self) -> bool:
        for t, data, version in self.guards:
            if t.data is not data or (version is not None and t._version != version):
                return False
        return all(p.grad is g for p, g in self.grad_guards)


# --- optimisation -----------------------------------------------------------------------------


def _foldable(v: Var) -> bool:
    return v.kind == "const" and not v.tensor.requires_grad


def optimise(program: Program) -> Program:
    """Constant folding, then dead code removal; returns a new Program."""
    body: list[Any] = []
    consts = list(program.consts)
    for e in program.body:
        if isinstance(e, Eqn) and e.ins and not e.dyn and all(_foldable(v) for v in e.ins):
            value = e.prim.impl(*[v.tensor.data for v in e.ins], **e.params)
            e.out.kind, e.out.tensor = "const", wrap(value)  # computed once, now
            consts.append(e.out)
            continue
        body.append(e)
    live = {id(o) for o in program.outs if isinstance(o, Var)}
    kept: list[Any] = []
    for e in reversed(body):
        if isinstance(e, Effect) or id(e.out) in live:
            kept.append(e)
            live.update(id(v) for v in e.ins)
            live.update(id(v) for v in dyn_vars(e))
    kept.reverse()
    kept, outs = _drop_copies(kept, program.outs)
    out = Program(program.invars, kept, outs, program.out_spec, consts, program.name)
    out.needs_tape = program.needs_tape  # type: ignore[attr-defined]
    return out


def _drop_copies(body: list[Any], outs: list[Any]) -> tuple[list[Any], list[Any]]:
    """Drop ``clone`` equations of a fresh array read nowhere else (backward copies each
    gradient before it goes into ``.grad``, in case someone else holds it: here nobody
    does). Returns new equations and outputs; the traced program is left as it was."""
    uses: dict[int, int] = {}
    fresh: set[int] = set()
    for e in body:
        for v in list(e.ins) + dyn_vars(e):
            uses[id(v)] = uses.get(id(v), 0) + 1
        if isinstance(e, Eqn) and e.fresh:
            fresh.add(id(e.out))
    for o in outs:
        if isinstance(o, Var):
            uses[id(o)] = uses.get(id(o), 0) + 1
    subst: dict[int, Var] = {}
    new_body: list[Any] = []
    for e in body:
        ins = [subst.get(id(v), v) for v in e.ins]
        if (
            isinstance(e, Eqn)
            and e.prim.name == "clone"
            and id(e.ins[0]) in fresh
            and uses.get(id(e.ins[0])) == 1
        ):
            subst[id(e.out)] = ins[0]
            continue
        if isinstance(e, Eqn):
            copy = Eqn(e.prim, ins, e.params, e.out)
            copy.dyn, copy.fresh = e.dyn, e.fresh
            if e.dyn:
                copy.dyn = {
                    k: subst.get(id(d), d)
                    if isinstance(d, Var)
                    else tuple(subst.get(id(i), i) if isinstance(i, Var) else i for i in d)
                    for k, d in e.dyn.items()
                }
            new_body.append(copy)
        else:
            new_body.append(Effect(e.kind, e.target, ins, e.label, e.fn, *e.args))
    return new_body, [subst.get(id(o), o) if isinstance(o, Var) else o for o in outs]


def _reuse_plan(program: Program) -> dict[int, Var]:
    """For each ufunc equation (by position) that can write into a dying input: that input.

    Alias groups: a result of an op not known to allocate a new array may share memory with
    its inputs (a view, or the input itself), so it joins their group; a buffer may be
    overwritten only after the last use of every member of its group, and never when the
    group reaches an output or an effect.
    """
    parent: dict[int, int] = {}

    def find(i: int) -> int:
        while parent.get(i, i) != i:
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb

    owned: set[int] = set()
    body = program.body
    for e in body:
        if not isinstance(e, Eqn):
            continue
        fresh = e.fresh
        if fresh and e.out.shape != ():
            owned.add(id(e.out))
        else:
            for v in e.ins:
                union(id(e.out), id(v))
    last: dict[int, int] = {}
    pinned: set[int] = set()
    for i, e in enumerate(body):
        reads = list(e.ins) + dyn_vars(e)
        for v in reads:
            last[find(id(v))] = i
            if isinstance(e, Effect):
                pinned.add(find(id(v)))
    for o in program.outs:
        if isinstance(o, Var):
            pinned.add(find(id(o)))
    plan: dict[int, Var] = {}
    for i, e in enumerate(body):
        if not (isinstance(e, Eqn) and isinstance(e.prim.impl, xp.ufunc) and not e.params):
            continue
        if e.out.shape == ():
            continue
        for v in e.ins:
            g = find(id(v))
            if (
                id(v) in owned
                and g not in pinned
                and last.get(g) == i
                and v.shape == e.out.shape
                and v.dtype == e.out.dtype
                and sum(1 for u in e.ins if u is v) == 1
            ):
                plan[i] = v
                og = find(id(e.out))
                union(id(e.out), id(v))  # the result lives in v's buffer from now on
                root = find(id(v))
                last[root] = max(last.get(og, i), i)
                if og in pinned:
                    pinned.add(root)
                break
    return plan


def _sum_to_shape_code(x: str, in_shape: tuple, shape: tuple) -> str:
    lead = len(in_shape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and in_shape[lead + i] != 1
    )
    code = f"{x}.sum(axis={axes!r}, keepdims=True)" if axes else x
    return f"{code}.reshape({tuple(shape)!r})" if lead else code


def compile_program(program: Program) -> tuple[Program, Callable[[list[Any]], Any]]:
    """Optimise ``program`` and build its replay: one straight-line function over arrays."""
    opt = optimise(program)
    plan = _reuse_plan(opt)
    names: dict[int, str] = {}
    env: dict[str, Any] = {
        "_asarray": xp.asarray,
        "_wrap": wrap,
        "_copyto": xp.copyto,
        "_Failed": AssumptionFailed,
    }
    for k, v in enumerate(opt.invars):
        names[id(v)] = f"a{k}"
    for k, c in enumerate(opt.consts):
        names[id(c)] = f"K{k}"
        env[f"K{k}"] = c.tensor.data  # guarded: the same array on every call
    lines = [f"def run({', '.join(names[id(v)] for v in opt.invars)}):"]
    for i, e in enumerate(opt.body):
        ins = [names[id(v)] for v in e.ins]
        if isinstance(e, Effect):
            env[f"T{i}"] = e.target
            if e.kind == "assume":
                env[f"E{i}"] = e.target
                lines.append(f"    if {ins[0]}.item() != E{i}: raise _Failed({i})")
            elif e.kind == "setgrad":
                lines.append(f"    T{i}.grad = _wrap({ins[0]})")
            elif e.kind == "assign":
                lines.append(f"    _copyto(T{i}.data, {ins[0]}); T{i}._bump()")
            else:
                args, kwargs = e.args
                env[f"F{i}"], env[f"A{i}"], env[f"P{i}"] = e.fn, args, kwargs
                lines.append(f"    F{i}(T{i}, *A{i}, **P{i})")
            continue
        out = names[id(e.out)] = f"v{i}"
        prim = e.prim
        if prim.name == "sum_to_shape":
            expr = _sum_to_shape_code(ins[0], e.ins[0].shape, e.params["shape"])
        elif isinstance(prim, NumpyPrimitive):  # the NumPy call itself, literals in place
            env[f"F{i}"] = prim.call
            it = iter(ins)
            call_args = []
            for j in range(prim.arity):
                if j in prim.literals:
                    env[f"L{i}_{j}"] = prim.literals[j]
                    call_args.append(f"L{i}_{j}")
                else:
                    call_args.append(next(it))
            for k, v in prim.kwargs.items():
                env[f"P{i}_{k}"] = v
                call_args.append(f"{k}=P{i}_{k}")
            expr = f"F{i}({', '.join(call_args)})"
        else:
            env[f"F{i}"] = prim.impl
            kw = []
            for k, p in e.params.items():
                if e.dyn and k in e.dyn:
                    d = e.dyn[k]
                    if isinstance(d, Var):
                        kw.append(f"{k}={names[id(d)]}")
                        continue
                    items = []
                    for j, item in enumerate(d):
                        if isinstance(item, Var):
                            items.append(names[id(item)])
                        else:
                            env[f"P{i}_{k}_{j}"] = item.value
                            items.append(f"P{i}_{k}_{j}")
                    kw.append(f"{k}=({', '.join(items)},)")
                else:
                    env[f"P{i}_{k}"] = p
                    kw.append(f"{k}=P{i}_{k}")
            if i in plan:
                kw.append(f"out={names[id(plan[i])]}")
            expr = f"F{i}({', '.join(ins + kw)})"
        if e.out.shape == ():
            expr = f"_asarray({expr})"  # NumPy gives scalars for 0-d results
        lines.append(f"    {out} = {expr}")
    outs = [names[id(o)] if isinstance(o, Var) else None for o in opt.outs]
    lines.append(f"    return ({''.join(o + ', ' for o in outs if o is not None)})")
    source = "\n".join(lines)
    # the source is generated here from the program's own variable names and nothing else:
    # every value (arrays, functions, parameters) is passed through ``env``, never printed
    code = builtins.compile(source, f"<cr.compile {opt.name}>", "exec")
    exec(code, env)
    fn = env["run"]
    spec, static = opt.out_spec, [o for o in opt.outs]
    opt.source = source  # type: ignore[attr-defined]

    if spec is None and isinstance(static[0], Var):  # one tensor

        def run(arrays: list[Any]) -> Any:
            return wrap(fn(*arrays)[0])

    elif spec == (tuple, [None] * len(static)) and all(isinstance(o, Var) for o in static):

        def run(arrays: list[Any]) -> Any:  # a flat tuple of tensors
            return tuple([wrap(r) for r in fn(*arrays)])

    else:

        def run(arrays: list[Any]) -> Any:
            results = iter(fn(*arrays))
            leaves = [wrap(next(results)) if isinstance(o, Var) else o for o in static]
            return unflatten(spec, leaves)

    return opt, run


def compile(
    f: Callable[..., Any] | None = None, *, static_argnums: int | Sequence[int] = ()
) -> Any:
    """Compile ``f``: trace it once per input signature, then replay it as straight-line NumPy.

    Arguments at ``static_argnums`` (and non-tensor leaves) are baked into the program: a new
    value retraces. Python side effects in ``f`` run while tracing only. See the module
    docstring for what is recorded and what is refused.

    >>> import chainrule as cr
    >>> f = cr.compile(lambda x: (x * x).sum())
    >>> f(cr.tensor([1.0, 2.0]))
    tensor(5.)
    >>> f(cr.tensor([3.0, 4.0]))  # replayed: no Tensor ops run
    tensor(25.)
    >>> cr.func.grad(f)(cr.tensor([3.0, 4.0]))  # composes with the transforms
    tensor([6., 8.])
    """
    statics = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    if f is None:
        return lambda g: Compiled(g, statics)
    return Compiled(f, statics)
