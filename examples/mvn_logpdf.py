"""The log-density of a multivariate normal, written with ``cholesky`` and
``solve_triangular``, and fitted by gradient ascent (maximum likelihood).

    log N(x | mu, Sigma) = -1/2 ||L^{-1}(x - mu)||^2 - sum(log diag L) - d/2 log(2 pi),

with ``Sigma = L L^T``. Parametrising ``Sigma = A A^T + eps I`` keeps it positive definite while
``A`` moves freely; the gradient flows through the Cholesky factor and the triangular solve
(their adjoints are in ``chainrule.ops.decomp``).

Run: ``python examples/mvn_logpdf.py``
"""

from __future__ import annotations

import math

import numpy as np

import chainrule as cr


def mvn_logpdf(x: cr.Tensor, mu: cr.Tensor, sigma: cr.Tensor) -> cr.Tensor:
    """Log-density of each row of ``x`` (n, d) under N(mu, sigma)."""
    d = x.shape[-1]
    chol = cr.linalg.cholesky(sigma)
    # z = L^{-1} (x - mu)^T: one triangular solve for every sample at once
    z = cr.linalg.solve_triangular(chol, (x - mu).T, upper=False)
    # log det Sigma = 2 sum(log diag L); the diagonal as a masked column sum
    half_logdet = (chol * cr.eye(d, dtype=chol.dtype)).sum(0).log().sum()
    return -0.5 * (z * z).sum(0) - half_logdet - 0.5 * d * math.log(2 * math.pi)


def main() -> None:
    rng = np.random.default_rng(0)
    true_mu = np.array([1.0, -2.0, 0.5])
    root = rng.standard_normal((3, 3))
    true_sigma = root @ root.T + 0.5 * np.eye(3)
    data = cr.tensor(rng.multivariate_normal(true_mu, true_sigma, size=2000))

    # check the density against the textbook formula with an explicit inverse
    mu0, sigma0 = cr.tensor(true_mu), cr.tensor(true_sigma)
    diff = data.data - true_mu
    ref = -0.5 * np.einsum("ni,ij,nj->n", diff, np.linalg.inv(true_sigma), diff)
    ref -= 0.5 * np.linalg.slogdet(true_sigma)[1] + 1.5 * math.log(2 * math.pi)
    assert np.allclose(mvn_logpdf(data, mu0, sigma0).data, ref)

    # maximum likelihood by gradient ascent on (mu, A), Sigma = A A^T + 1e-3 I
    mu = cr.zeros(3, dtype=cr.float64, requires_grad=True)
    a = cr.tensor(np.eye(3), requires_grad=True)
    opt = cr.optim.Adam([mu, a], lr=0.05)
    for step in range(401):
        sigma = a @ a.T + 1e-3 * cr.eye(3, dtype=cr.float64)
        nll = -mvn_logpdf(data, mu, sigma).mean()
        opt.zero_grad()
        nll.backward()
        opt.step()
        if step % 100 == 0:
            print(f"step {step:3d}  mean negative log-likelihood {float(nll):.4f}")
    sigma = (a @ a.T).detach().numpy() + 1e-3 * np.eye(3)
    print("fitted mu    ", np.round(mu.detach().numpy(), 3))
    print("sample mean  ", np.round(data.data.mean(0), 3))
    print("fitted Sigma\n", np.round(sigma, 3))
    print("sample cov\n", np.round(np.cov(data.data.T, bias=True), 3))


if __name__ == "__main__":
    main()
