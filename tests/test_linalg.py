"""``chainrule.linalg`` beyond the op table (``opinfo._LINALG``, which gradchecks every
function in both modes and compares it with torch.linalg): signs, degenerate inputs, errors,
and the multivariate normal example."""

from __future__ import annotations

import importlib.util
import pathlib
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import func
from chainrule.autograd import gradcheck


def t64(a, grad=False):
    return cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def test_slogdet_sign_and_value():
    a = np.array([[0.0, 2.0], [1.0, 0.5]])  # det = -2
    sign, logabs = cr.linalg.slogdet(t64(a))
    assert float(sign) == -1.0 and np.isclose(float(logabs), np.log(2.0))
    assert not sign.requires_grad
    x = t64(a, grad=True)
    assert not cr.linalg.slogdet(x)[0].requires_grad  # the sign has no gradient
    cr.linalg.slogdet(x)[1].backward()
    np.testing.assert_allclose(x.grad.data, np.linalg.inv(a).T)  # d log|det A| = A^{-T}


def test_slogdet_sign_under_vmap_is_per_example():
    a = np.random.default_rng(0).standard_normal((3, 4, 4))
    signs = func.vmap(lambda m: cr.linalg.slogdet(m)[0])(t64(a))
    np.testing.assert_array_equal(signs.data, np.linalg.slogdet(a)[0])


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_repeated_eigenvalues_and_singular_values_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        func.grad(lambda a: cr.linalg.eigvalsh(a).sum())(t64(np.eye(3)))  # values: fine
        func.grad(lambda a: cr.linalg.svdvals(a).sum())(t64(np.eye(3)))
    with pytest.warns(RuntimeWarning, match="eigh: the input has repeated"):
        func.grad(lambda a: (cr.linalg.eigh(a)[1] ** 3).sum())(t64(np.eye(3)))
    with pytest.warns(RuntimeWarning, match="svd: the input has repeated"):
        func.grad(lambda a: (cr.linalg.svd(a)[0] ** 3).sum())(t64(2 * np.eye(2)))


def test_errors_name_the_function_and_the_shapes():
    with pytest.raises(ValueError, match=r"linalg.inv: expected a square matrix.*\(2, 3\)"):
        cr.linalg.inv(cr.ones(2, 3))
    with pytest.raises(RuntimeError, match="not positive definite"):
        cr.linalg.cholesky(t64([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="B needs as many rows as A"):
        cr.linalg.solve(cr.eye(3), cr.ones(2, 1))
    with pytest.raises(ValueError, match="full_matrices=False"):
        cr.linalg.svd(cr.ones(2, 2), full_matrices=True)
    with pytest.raises(NotImplementedError, match="m >= n"):
        func.grad(lambda a: cr.linalg.qr(a)[1].sum())(t64(np.ones((2, 3))))


def test_norm_dispatch_and_zero_subgradient():
    x = t64([[3.0, -4.0], [0.0, 0.0]])
    assert float(cr.linalg.norm(x)) == 5.0
    np.testing.assert_allclose(cr.linalg.norm(x, dim=1).data, [5.0, 0.0])
    assert float(cr.linalg.norm(x[0], 1)) == 7.0
    assert np.isclose(float(cr.linalg.norm(x, "fro")), 5.0)
    g = func.grad(lambda v: cr.linalg.vector_norm(v))(t64([0.0, 0.0]))
    np.testing.assert_allclose(g.data, [0.0, 0.0])  # PyTorch's subgradient at 0, not nan


def test_batched_decompositions_match_per_matrix():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 3, 3))
    spd = a @ np.swapaxes(a, -1, -2) + np.eye(3)
    chol = cr.linalg.cholesky(t64(spd)).data
    for k in range(4):
        np.testing.assert_allclose(chol[k], np.linalg.cholesky(spd[k]))
    x = t64(spd, grad=True)
    assert gradcheck(lambda m: cr.linalg.cholesky(m + m.mT), (x,))


def test_multivariate_normal_example():
    path = pathlib.Path(__file__).parent.parent / "examples" / "mvn_logpdf.py"
    spec = importlib.util.spec_from_file_location("mvn_logpdf", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(1)
    x = t64(rng.standard_normal((5, 2)))
    mu = t64([0.3, -0.1], grad=True)
    root = t64([[1.0, 0.2], [0.3, 0.8]], grad=True)

    def logp(m, r):
        return module.mvn_logpdf(x, m, r @ r.T + 0.1 * cr.eye(2, dtype=cr.float64)).sum()

    assert gradcheck(logp, (mu, root))
    sigma = root.data @ root.data.T + 0.1 * np.eye(2)
    diff = x.data - mu.data
    ref = -0.5 * np.einsum("ni,ij,nj->n", diff, np.linalg.inv(sigma), diff)
    ref -= 0.5 * np.linalg.slogdet(sigma)[1] + np.log(2 * np.pi)
    np.testing.assert_allclose(logp(mu, root).data, ref.sum())
