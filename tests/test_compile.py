"""``cr.func.make_program`` and ``cr.compile`` against eager: every op-table entry (its
function, its VJP and its JVP, each compiled, traced on the first call and replayed on the
second), training steps step for step, retracing, the control-flow error, printing."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from opinfo import GRAD_OPS, OPS, OpInfo, as_tuple, iter_samples

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import func, nn, optim
from chainrule.func.program import TraceError


def sample_pairs(info: OpInfo):
    """Two draws of every sample: the program is traced on the first and replayed on the
    second, so a value frozen into the program at trace time would show."""
    for (_, xs), (_, ys) in zip(iter_samples([info]), iter_samples([info], seed=1)):
        yield [x.detach() for x in xs], [y.detach() for y in ys]


def diff_pairs(info: OpInfo):
    """``(fn, primals, other_primals)``; the non-differentiable inputs are those of the first
    draw in both (fn closes over them)."""
    for xs, ys in sample_pairs(info):
        fn, primals = info.diff_fn(xs)
        mask = info.diff_mask(xs)
        yield fn, primals, [y for y, d in zip(ys, mask) if d]


def same(actual, expected, info):
    for a, e in zip(as_tuple(actual), as_tuple(expected)):
        if isinstance(e, (tuple, list)):
            same(a, e, info)
            continue
        assert a.shape == e.shape and a.dtype == e.dtype
        np.testing.assert_allclose(a.data, e.data, rtol=1e-12, atol=1e-12)


def check_compiled(fn, args, other, info):
    compiled = cr.compile(fn)
    same(compiled(*args), fn(*args), info)  # the trace (an eager run on tracers)
    same(compiled(*other), fn(*other), info)  # the replay, on other values
    assert compiled.traces == 1


@pytest.mark.parametrize("info", OPS, ids=str)
def test_compiled_op_matches_eager(info: OpInfo) -> None:
    for xs, ys in sample_pairs(info):
        with cr.no_grad():
            check_compiled(info.op, xs, ys, info)


@pytest.mark.parametrize("info", GRAD_OPS, ids=str)
def test_compiled_vjp_matches_eager(info: OpInfo) -> None:
    for fn, primals, other in diff_pairs(info):
        outs = as_tuple(fn(*primals))
        rng = np.random.default_rng(3)
        cts = tuple(cr.tensor(rng.standard_normal(o.shape)) for o in outs)

        def pullback(*ps, fn=fn, cts=cts):
            _, vjp_fn = func.vjp(fn, *ps)
            return vjp_fn(cts if len(cts) > 1 else cts[0])

        check_compiled(pullback, primals, other, info)


@pytest.mark.parametrize("info", GRAD_OPS, ids=str)
def test_compiled_jvp_matches_eager(info: OpInfo) -> None:
    for fn, primals, other in diff_pairs(info):
        rng = np.random.default_rng(4)
        us = tuple(cr.tensor(rng.standard_normal(p.shape)) for p in primals)

        def push(*ps, fn=fn, us=us):
            return func.jvp(fn, ps, us)

        check_compiled(push, primals, other, info)


# --- training steps ---------------------------------------------------------------------------


def _model_and_opt(opt_cls, **kw):
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))
    return model, opt_cls(model.parameters(), **kw)


def _step(model, opt):
    def train_step(x, y):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    return train_step


@pytest.mark.parametrize(
    "opt_cls, kw",
    [
        (optim.SGD, {"lr": 0.1}),
        (optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}),
        (optim.Adam, {"lr": 0.01}),
        (optim.AdamW, {"lr": 0.01}),
    ],
)
def test_compiled_training_step_matches_eager_step_for_step(opt_cls, kw) -> None:
    m1, o1 = _model_and_opt(opt_cls, **kw)
    m2, o2 = _model_and_opt(opt_cls, **kw)
    eager, compiled = _step(m1, o1), cr.compile(_step(m2, o2))
    rng = np.random.default_rng(0)
    for _ in range(4):
        x = cr.tensor(rng.standard_normal((5, 8)).astype(np.float32))
        y = cr.tensor(rng.integers(0, 3, 5))
        np.testing.assert_allclose(compiled(x, y).data, eager(x, y).data, rtol=1e-6)
        for p1, p2 in zip(m1.parameters(), m2.parameters()):
            np.testing.assert_allclose(p2.data, p1.data, rtol=1e-5, atol=1e-7)
            assert p2.grad is None
    assert compiled.traces == 1
    # the optimizer's state lives in the real optimizer, as after eager steps
    assert len(o2.state) == len(o1.state)


@pytest.mark.parametrize("kind", ["dropout_layernorm_adam", "cnn_momentum"])
def test_compiled_training_step_of_richer_models(kind: str) -> None:
    def make():
        cr.manual_seed(0)
        if kind == "cnn_momentum":
            m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Flatten(), nn.Linear(64, 10))  # fmt: skip
            return m, optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
        m = nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(16, 10))  # fmt: skip
        return m, optim.Adam(m.parameters(), lr=0.01)

    (m1, o1), (m2, o2) = make(), make()
    eager, compiled = _step(m1, o1), cr.compile(_step(m2, o2))
    rng = np.random.default_rng(0)
    shape = (5, 1, 8, 8) if kind == "cnn_momentum" else (5, 8)
    for i in range(3):
        x = cr.tensor(rng.standard_normal(shape).astype(np.float32))
        y = cr.tensor(rng.integers(0, 10, 5))
        cr.manual_seed(10 + i)  # the same dropout masks on both sides
        expected = eager(x, y)
        cr.manual_seed(10 + i)
        np.testing.assert_allclose(compiled(x, y).data, expected.data, rtol=1e-6)
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_allclose(p2.data, p1.data, rtol=1e-5, atol=1e-7)
    assert compiled.traces == 1


def test_compiled_step_with_zero_grad_first() -> None:
    m1, o1 = _model_and_opt(optim.SGD, lr=0.1, momentum=0.5)
    m2, o2 = _model_and_opt(optim.SGD, lr=0.1, momentum=0.5)

    def make(model, opt):
        def step(x, y):
            opt.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return step

    eager, compiled = make(m1, o1), cr.compile(make(m2, o2))
    for _ in range(3):
        x, y = cr.randn(5, 8), cr.randn(5, 3)
        np.testing.assert_allclose(compiled(x, y).data, eager(x, y).data, rtol=1e-6)
        for p1, p2 in zip(m1.parameters(), m2.parameters()):
            np.testing.assert_allclose(p2.data, p1.data, rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(p2.grad.data, p1.grad.data, rtol=1e-5, atol=1e-7)
    assert compiled.traces == 1


def test_manual_in_place_update_is_refused() -> None:
    w = cr.randn(4, 2, requires_grad=True)

    def step(x):
        loss = (x @ w).sum()
        loss.backward()
        with cr.no_grad():
            w.sub_(0.1 * w.grad)
        return loss

    with pytest.raises(TraceError, match="optimizer"):
        cr.compile(step)(cr.randn(3, 4))


def test_replaced_parameter_array_retraces() -> None:
    model, opt = _model_and_opt(optim.SGD, lr=0.1)
    step = cr.compile(_step(model, opt))
    x, y = cr.randn(5, 8), cr.tensor(np.array([0, 1, 2, 0, 1]))
    step(x, y)
    step(x, y)
    assert step.traces == 1
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model[0].weight.data = np.zeros_like(model[0].weight.data)  # a new array: retrace
    step(x, y)
    assert step.traces == 2
    model.load_state_dict(state)
    eager_model, eager_opt = _model_and_opt(optim.SGD, lr=0.1)
    eager_model.load_state_dict(state)
    np.testing.assert_allclose(step(x, y).data, _step(eager_model, eager_opt)(x, y).data)
    for p1, p2 in zip(eager_model.parameters(), model.parameters()):
        np.testing.assert_allclose(p2.data, p1.data, rtol=1e-6)


def test_dropout_draws_fresh_masks_on_every_replay() -> None:
    drop = cr.compile(lambda x: F.dropout(x, 0.5))
    x = cr.ones(1000)
    masks = [drop(x).data.copy() for _ in range(3)]
    assert drop.traces == 1
    assert not np.array_equal(masks[1], masks[2])
    for m in masks:
        assert set(np.unique(m)) <= {0.0, 2.0}
    cr.manual_seed(5)
    first = drop(x).data.copy()
    cr.manual_seed(5)
    np.testing.assert_array_equal(drop(x).data, first)  # chainrule's generator


def test_random_draws_other_than_dropout_are_refused() -> None:
    with pytest.raises(TraceError, match="same on every call"):
        cr.compile(lambda x: x + cr.randn(3))(cr.ones(3))
    g = cr.Generator().manual_seed(0)  # an explicit generator is refused too
    with pytest.raises(TraceError, match=r"a cr\.Generator"):
        cr.compile(lambda x: x + cr.randn(3, generator=g))(cr.ones(3))
    with pytest.raises(TraceError, match="same on every call"):
        cr.compile(lambda x: x + cr.bernoulli(x, generator=g))(cr.ones(3) * 0.5)
    # the trace restored the generators: draws work again afterwards
    assert cr.randn(3, generator=g).shape == (3,) and cr.rand(2).shape == (2,)


def test_dropout_in_a_compiled_vmap() -> None:
    x = cr.ones(4, 100)
    same = cr.compile(func.vmap(lambda r: F.dropout(r, 0.5), randomness="same"))
    out = same(x).data
    np.testing.assert_array_equal(out, np.broadcast_to(out[0], out.shape))  # one mask
    different = cr.compile(func.vmap(lambda r: F.dropout(r, 0.5), randomness="different"))
    with pytest.raises(TraceError, match="randomness"):
        different(x)


def test_slogdet_sign_is_recorded_not_frozen() -> None:
    f = cr.compile(lambda a: cr.linalg.slogdet(a))
    a = cr.tensor(np.diag([1.0, 2.0, 3.0]))
    assert f(a)[0].item() == 1.0
    b = cr.tensor(np.diag([-1.0, 2.0, 3.0]))
    sign, logabs = f(b)
    assert sign.item() == -1.0 and f.traces == 1
    np.testing.assert_allclose(logabs.item(), np.log(6.0))


# --- retracing, statics, control flow ---------------------------------------------------------


def test_new_shape_or_dtype_retraces_and_warns_when_it_keeps_retracing() -> None:
    f = cr.compile(lambda x: (x * 2).sum())
    for n in range(1, 4):
        assert float(f(cr.ones(n))) == 2.0 * n
        assert float(f(cr.ones(n))) == 2.0 * n
    assert f.traces == 3
    f(cr.ones(3, dtype=cr.float64))
    assert f.traces == 4
    with pytest.warns(RuntimeWarning, match="traced"):
        for n in range(4, 12):
            f(cr.ones(n))


def test_static_argnums_bakes_the_value_in() -> None:
    def f(x, n):
        return x * n if n > 1 else x

    g = cr.compile(f, static_argnums=1)
    x = cr.tensor([1.0, 2.0])
    assert g(x, 3).tolist() == [3.0, 6.0]
    assert g(x, 1).tolist() == [1.0, 2.0]
    assert g(x, 3).tolist() == [3.0, 6.0]
    assert g.traces == 2


def test_branching_on_a_traced_value_names_the_line() -> None:
    def f(x):
        if x.sum() > 0:  # the line the error names
            return x
        return -x

    with pytest.raises(TraceError, match=r"if x.sum\(\) > 0.*cr.where.*static_argnums"):
        cr.compile(f)(cr.ones(3))
    with pytest.raises(TraceError, match=r"test_compile\.py"):
        cr.func.make_program(lambda x: float(x.sum()))(cr.ones(3))
    with pytest.raises(TraceError):
        cr.func.make_program(lambda x: x.max().item())(cr.ones(3))
    # cr.where is the traced way to choose
    g = cr.compile(lambda x: cr.where(x > 0, x, -x))
    g(cr.tensor([1.0, -2.0]))
    assert g(cr.tensor([-3.0, 4.0])).tolist() == [3.0, 4.0]


def test_library_checks_on_values_are_rechecked_per_call() -> None:
    # cross_entropy checks the targets while tracing; other targets retrace, not go stale
    f = cr.compile(lambda z, y: F.cross_entropy(z, y))
    z = cr.randn(4, 3)
    f(z, cr.tensor(np.array([0, 1, 2, 0])))
    y2 = cr.tensor(np.array([0, -100, 2, 1]))  # an ignored row: eager takes another path
    np.testing.assert_allclose(f(z, y2).data, F.cross_entropy(z, y2).data, rtol=1e-6)


# --- composition -----------------------------------------------------------------------------


def loss(w, x):
    return ((x @ w).tanh() ** 2).sum()


def test_compile_composes_with_transforms_both_ways() -> None:
    rng = np.random.default_rng(0)
    w, x = cr.tensor(rng.standard_normal((4, 3))), cr.tensor(rng.standard_normal((5, 4)))
    w2 = cr.tensor(rng.standard_normal((4, 3)))
    vg = cr.compile(func.value_and_grad(loss))
    vg(w, x)
    value, g = vg(w2, x)
    ev, eg = func.value_and_grad(loss)(w2, x)
    np.testing.assert_allclose(value.data, ev.data)
    np.testing.assert_allclose(g.data, eg.data)
    # grad of a compiled function: its program's ops are bound under the transform
    compiled = cr.compile(loss)
    np.testing.assert_allclose(func.grad(compiled)(w, x).data, func.grad(loss)(w, x).data)
    compiled(w, x)  # traced here; under grad the program's ops are bound
    np.testing.assert_allclose(func.grad(compiled)(w2, x).data, eg.data, rtol=1e-12)
    assert compiled.traces == 1
    # hvp, compiled (forward-over-reverse), and a compiled function under jvp(grad)
    v = cr.tensor(rng.standard_normal((4, 3)))

    def hvp_fn(w, v):
        return func.jvp(lambda w: func.grad(loss)(w, x), (w,), (v,))[1]

    expected = hvp_fn(w2, v)
    chvp = cr.compile(hvp_fn)
    chvp(w, v)
    np.testing.assert_allclose(chvp(w2, v).data, expected.data, rtol=1e-12)
    inner = func.jvp(lambda w: func.grad(compiled)(w, x), (w2,), (v,))[1]
    np.testing.assert_allclose(inner.data, expected.data, rtol=1e-12)
    # on tensors that require grad, the tape sees the program's ops
    wr = w2.detach().requires_grad_()
    compiled(wr, x).backward()
    np.testing.assert_allclose(wr.grad.data, eg.data, rtol=1e-12)


def test_compiled_forward_of_a_module_keeps_the_tape() -> None:
    model, _ = _model_and_opt(optim.SGD, lr=0.1)
    fwd = cr.compile(model)
    x = cr.randn(5, 8)
    fwd(x).sum().backward()  # parameters require grad: the first call is taped too
    for p in model.parameters():
        p.grad = None
    fwd(x).sum().backward()  # and the replay
    expected = [p.grad.data.copy() for p in model.parameters()]
    for p in model.parameters():
        p.grad = None
    model(x).sum().backward()
    for p, e in zip(model.parameters(), expected):
        np.testing.assert_allclose(p.grad.data, e, rtol=1e-6)


# --- programs ---------------------------------------------------------------------------------

GOLDEN = """\
mlp(a:f32[32,64], b:f32[32,64], c:f32[32], d:f32[10,32], e:f32[10]):
  f:f32[32,32] = addmm a:f32[32,64], b:f32[32,64], c:f32[32]
  g:f32[32,32] = tanh f:f32[32,32]
  h:f32[32,10] = addmm g:f32[32,32], d:f32[10,32], e:f32[10]
  return h:f32[32,10]"""


def test_print_program_of_a_tiny_mlp() -> None:
    def mlp(x, w1, b1, w2, b2):
        return F.linear(F.linear(x, w1, b1).tanh(), w2, b2)

    args = [cr.zeros(32, 64), cr.zeros(32, 64), cr.zeros(32), cr.zeros(10, 32), cr.zeros(10)]
    program = func.make_program(mlp)(*args)
    assert str(program) == GOLDEN
    assert [e.prim.name for e in program.eqns] == ["addmm", "tanh", "addmm"]


def test_program_of_a_gradient_is_the_backward_pass() -> None:
    w, x = cr.randn(4, 3), cr.randn(5, 4)
    program = func.make_program(func.grad(loss))(w, x)
    names = [e.prim.name for e in program.eqns]
    assert names[:4] == ["mm", "tanh", "pow_scalar", "sum"]
    assert names[-1] == "mm_tn"  # dL/dw = x^T (...), one node since the eager-path work
    assert "return" in str(program).splitlines()[-1]


def test_compiled_replay_reuses_buffers_and_folds() -> None:
    f = cr.compile(lambda x: ((x * 2.0).exp() + 1.0).log().sum())
    x = cr.randn(100)
    f(x)
    source = f.program(x).source
    assert "out=" in source  # an elementwise op writes into a dying intermediate
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(f(x).data, np.log(np.exp(x.data * 2) + 1).sum(), rtol=1e-6)


@pytest.mark.parametrize("info", GRAD_OPS, ids=str)
def test_transform_of_compiled_op_binds_its_program(info: OpInfo) -> None:
    """vjp(compile(fn)) after a plain call: the cached program runs under the transform."""
    for fn, primals, other in diff_pairs(info):
        compiled = cr.compile(fn)
        compiled(*primals)
        outs = as_tuple(fn(*other))
        rng = np.random.default_rng(5)
        cts = tuple(cr.tensor(rng.standard_normal(o.shape)) for o in outs)
        ct = cts if len(cts) > 1 else cts[0]
        same(func.vjp(compiled, *other)[1](ct), func.vjp(fn, *other)[1](ct), info)
        assert compiled.traces == 1
