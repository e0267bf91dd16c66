"""The reparameterization trick: gradients through a random sample.

Sampling is not differentiable: ``z ~ N(mu, sigma^2)`` has no derivative with respect to
``mu`` or ``sigma`` as an operation. Yet we often need ``d/dtheta E_z[f(z)]``, e.g. to train
a variational autoencoder (VAE), whose encoder outputs the ``mu`` and ``sigma`` the latent
code is drawn from.

There are two classic ways:

- **Reparameterization**: write the sample as a deterministic function of the parameters
  and a parameter-free noise, ``z = mu + sigma * eps`` with ``eps ~ N(0, 1)``. Now ``z`` is an
  ordinary expression of ``mu`` and ``sigma``, and backprop goes straight through it:
  ``d f(z)/d mu = f'(z)``, ``d f(z)/d sigma = f'(z) * eps``.
- **The score function** (REINFORCE): ``d/dtheta E[f(z)] = E[f(z) d/dtheta log p(z; theta)]``.
  It needs no derivative of ``f`` at all, so it works for discrete or black-box ``f``, but it
  only uses ``f``'s *value*, and its estimates are much noisier.

Both are unbiased. The lesson estimates ``d/dmu E[z^2] = 2 mu`` and ``d/dsigma E[z^2] =
2 sigma`` with each, one estimate per sample (autograd does both: the score function as the
gradient of ``f(z).detach() * log p(z)``), and compares their means and variances. Then it
trains a tiny VAE on the handwritten digits, where the trick is what lets the encoder learn,
and draws its reconstructions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import chainrule as cr
from chainrule.lessons._common import Result, figure, start

NAME = "reparameterization"
MU, SIGMA = 1.0, 0.5


def per_sample_gradients(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """n single-sample estimates of d/dmu and d/dsigma of E[z^2], by both estimators."""
    cr.manual_seed(seed)
    eps = cr.randn(n, dtype=cr.float64)
    out = {}
    # Reparameterization: one (mu, sigma) copy per sample, so .grad holds each estimate.
    mu = cr.full((n,), MU, dtype=cr.float64, requires_grad=True)
    sigma = cr.full((n,), SIGMA, dtype=cr.float64, requires_grad=True)
    z = mu + sigma * eps
    (z**2).sum().backward()
    out["reparam_mu"], out["reparam_sigma"] = mu.grad.numpy(), sigma.grad.numpy()
    # Score function: z is a constant sample; differentiate log N(z; mu, sigma^2) instead.
    mu = cr.full((n,), MU, dtype=cr.float64, requires_grad=True)
    sigma = cr.full((n,), SIGMA, dtype=cr.float64, requires_grad=True)
    zc = (MU + SIGMA * eps).detach()
    log_p = -0.5 * ((zc - mu) / sigma) ** 2 - sigma.log()  # the constant -log sqrt(2 pi) dropped
    ((zc**2) * log_p).sum().backward()
    out["score_mu"], out["score_sigma"] = mu.grad.numpy(), sigma.grad.numpy()
    return out


class VAE(cr.nn.Module):
    """64 pixels -> 64 ReLU -> (mu, log variance) of a 4-d latent -> 64 ReLU -> 64 logits."""

    def __init__(self, latent: int = 4) -> None:
        super().__init__()
        self.latent = latent
        self.enc = cr.nn.Sequential(
            cr.nn.Linear(64, 64), cr.nn.ReLU(), cr.nn.Linear(64, 2 * latent)
        )
        self.dec = cr.nn.Sequential(cr.nn.Linear(latent, 64), cr.nn.ReLU(), cr.nn.Linear(64, 64))

    def forward(self, x: cr.Tensor, sample: bool = True) -> tuple:
        h = self.enc(x)
        mu, logvar = h[:, : self.latent], h[:, self.latent :]
        # the trick: z = mu + sigma * eps, eps drawn without any parameter in it
        z = mu + (0.5 * logvar).exp() * cr.randn(*mu.shape) if sample else mu
        return self.dec(z), mu, logvar


def train_vae(X: np.ndarray, steps: int, seed: int = 0) -> tuple[VAE, list[float]]:
    """Maximise the ELBO: reconstruction (Bernoulli on ink levels) minus KL to N(0, I)."""
    cr.manual_seed(seed)
    model = VAE()
    opt = cr.optim.Adam(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(steps):
        xb = cr.tensor(X[rng.choice(len(X), 128, replace=False)])
        logits, mu, logvar = model(xb)
        rec = cr.nn.functional.binary_cross_entropy_with_logits(logits, xb, reduction="sum")
        kl = -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum()
        loss = (rec + kl) / 128  # negative ELBO per image, in nats
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, losses


def run(out_dir: str | Path, quick: bool = False) -> Result:
    """Compare the two gradient estimators; train a tiny VAE and draw reconstructions."""
    result = start(NAME, out_dir)
    n = 20000 if quick else 200000
    g = per_sample_gradients(n)
    truth = {"mu": 2 * MU, "sigma": 2 * SIGMA}  # d/dmu E[z^2] = 2 mu, d/dsigma = 2 sigma
    stats = {}
    for key, value in g.items():
        param = key.split("_")[1]
        mean, var = float(value.mean()), float(value.var())
        stats[key] = {
            "mean": mean,
            "variance": var,
            "standard_error": (var / n) ** 0.5,
            "true": truth[param],
        }
    unbiased = all(abs(s["mean"] - s["true"]) < 5 * s["standard_error"] for s in stats.values())
    result.claim(
        f"Both estimators are unbiased: over {n:,} samples each mean is within 5 standard "
        "errors of the true gradient (2 mu and 2 sigma)",
        unbiased,
        estimates=stats,
    )
    ratio_mu = stats["score_mu"]["variance"] / stats["reparam_mu"]["variance"]
    ratio_sigma = stats["score_sigma"]["variance"] / stats["reparam_sigma"]["variance"]
    result.claim(
        "The reparameterization estimator has a much lower variance than the score function "
        "(more than 3x, for mu and for sigma)",
        ratio_mu > 3 and ratio_sigma > 3,
        variance_ratio_score_over_reparam={"mu": ratio_mu, "sigma": ratio_sigma},
    )

    X, _y = cr.data.load_digits()
    X_train, X_test, _, y_test = cr.data.train_test_split(X, _y, test_size=0.2, seed=0)
    steps = 400 if quick else 3000
    vae, losses = train_vae(X_train, steps)
    with cr.no_grad():
        logits, _, _ = vae(cr.tensor(X_test), sample=False)
    recon = logits.sigmoid().numpy()
    mse = float(((recon - X_test) ** 2).mean())
    mse_mean_image = float(((X_train.mean(axis=0) - X_test) ** 2).mean())
    first, last = float(np.mean(losses[:20])), float(np.mean(losses[-20:]))
    result.claim(
        "Trained through the reparameterized sample, the VAE's test reconstructions are "
        "closer to the digits than the average digit is (mean squared error per pixel)",
        mse < 0.6 * mse_mean_image and last < first,
        test_mse=mse,
        mean_image_mse=mse_mean_image,
        negative_elbo_first_20_steps=first,
        negative_elbo_last_20_steps=last,
        steps=steps,
    )

    fig = figure(12, 4.3)
    axes = fig.subplots(1, 2)
    for ax, param in zip(axes, ("mu", "sigma")):
        r, s = g[f"reparam_{param}"], g[f"score_{param}"]
        lo, hi = np.percentile(np.concatenate([r, s]), [0.5, 99.5])
        bins = np.linspace(lo, hi, 80)
        ax.hist(
            s,
            bins,
            alpha=0.6,
            color="tab:red",
            density=True,
            label=f"score function (var {stats[f'score_{param}']['variance']:.2f})",
        )
        ax.hist(
            r,
            bins,
            alpha=0.6,
            color="tab:blue",
            density=True,
            label=f"reparameterization (var {stats[f'reparam_{param}']['variance']:.2f})",
        )
        ax.axvline(truth[param], color="k", ls="--", label=f"true gradient {truth[param]:g}")
        ax.set_xlabel(f"single-sample estimate of d/d{param} E[z²] (dimensionless)")
        ax.set_ylabel("density (1 / estimate unit)")
        ax.set_title(f"d/d{param} E[z²], z ~ N({MU:g}, {SIGMA:g}²): {n:,} samples")
        ax.legend(loc="upper right", fontsize=8)
    result.save_figure(fig, "estimator_variance.png")

    fig = figure(13, 3.3)
    grid = fig.subfigures(1, 2, width_ratios=[2.2, 1])
    cells = grid[0].subplots(2, 10)
    shown = [int(np.flatnonzero(y_test == d)[0]) for d in range(10)]  # one test image per digit
    for i, k in enumerate(shown):
        for row, img in enumerate((X_test[k], recon[k])):
            ax = cells[row, i]
            ax.imshow(img.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        cells[0, i].set_title(f"digit {i}", fontsize=8)
    cells[0, 0].set_ylabel("test digit", fontsize=9)
    cells[1, 0].set_ylabel("VAE output", fontsize=9)
    grid[0].suptitle(f"Reconstructions through a 4-d latent (test MSE {mse:.3f} per pixel)")
    ax = grid[1].subplots()
    ax.plot(np.arange(1, steps + 1), losses, color="tab:purple", lw=0.8)
    ax.set_xlabel("training step (batch of 128)")
    ax.set_ylabel("negative ELBO (nats per image)")
    ax.set_title("Training the VAE")
    ax.grid(alpha=0.3)
    result.save_figure(fig, "vae_reconstructions.png")
    result.write()
    return result
