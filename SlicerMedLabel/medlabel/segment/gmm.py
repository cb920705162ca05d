"""A small, deterministic Gaussian mixture model for 1-3 intensity features (CT HU, PET SUV).

Fitted by expectation-maximisation (Dempster, Laird & Rubin, J R Stat Soc B 39(1):1-38, 1977) from a
deterministic start: the samples are sorted by their first feature and cut into ``k`` equal
quantile groups, whose means, covariances and sizes start the EM. Covariances get a floor
(``min_var`` on the diagonal) so a constant region cannot make the density singular.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

_LOG2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class GaussianMixture:
    """Mixture weights (k,), means (k, d) and full covariances (k, d, d)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray

    @property
    def n_components(self) -> int:
        return int(self.weights.size)

    def component_log_density(self, x: np.ndarray) -> np.ndarray:
        """log(w_k N(x | mu_k, S_k)) for samples ``x`` (n, d); returns (n, k) float64."""
        x = np.asarray(x)
        n, d = x.shape
        out = np.empty((n, self.n_components))
        for k in range(self.n_components):
            cov = self.covariances[k]
            mu = self.means[k]
            if d == 1:
                var = float(cov[0, 0])
                maha = (x[:, 0] - mu[0]) ** 2 / var
                logdet = np.log(var)
            elif d == 2:  # closed-form inverse: about 3x faster than a generic solve on millions of voxels
                a, b, c = float(cov[0, 0]), float(cov[0, 1]), float(cov[1, 1])
                det = a * c - b * b
                u = x[:, 0] - mu[0]
                v = x[:, 1] - mu[1]
                maha = (c * u * u - 2.0 * b * u * v + a * v * v) / det
                logdet = np.log(det)
            else:
                chol = np.linalg.cholesky(cov)
                sol = np.linalg.solve(chol, (x - mu).T)
                maha = np.einsum("ij,ij->j", sol, sol)
                logdet = 2.0 * np.log(np.diag(chol)).sum()
            out[:, k] = np.log(self.weights[k]) - 0.5 * (d * _LOG2PI + logdet + maha)
        return out

    def log_likelihood(self, x: np.ndarray) -> np.ndarray:
        """log p(x) for samples ``x`` (n, d); returns (n,)."""
        comp = self.component_log_density(x)
        m = comp.max(axis=1)
        return m + np.log(np.exp(comp - m[:, None]).sum(axis=1))


def fit_gmm(x: np.ndarray, *, n_components: int = 3, n_iter: int = 10, min_var: float | np.ndarray = 1e-3,
            max_samples: int = 20000, seed: int = 0, init: GaussianMixture | None = None) -> GaussianMixture:
    """Fit a Gaussian mixture to samples ``x``.

    Parameters
    ----------
    x : (n, d) or (n,) ndarray of float
        Feature samples (image units, e.g. HU).
    n_components : int
        Number of Gaussians ``k``; reduced to the number of distinct samples when fewer.
    n_iter : int
        EM iterations after the quantile start.
    min_var : float or (d,) ndarray
        Variance floor added to every covariance diagonal (image units squared).
    max_samples : int
        Larger sample sets are sub-sampled to this many with ``numpy.random.default_rng(seed)``.
    seed : int
        Seed of the sub-sampling: same input and seed, same model.
    init : GaussianMixture, optional
        Start EM from this model (same feature count) instead of the quantile start (warm start).

    Returns
    -------
    GaussianMixture
    """
    x = np.asarray(x, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] == 0:
        raise InputError(f"fit_gmm needs samples shaped (n, d) with n > 0; got {x.shape}")
    if n_components < 1:
        raise InputError(f"n_components must be >= 1; got {n_components}")
    if x.shape[0] > max_samples:
        rng = np.random.default_rng(seed)
        x = x[np.sort(rng.integers(0, x.shape[0], max_samples))]
    n, d = x.shape
    floor = np.broadcast_to(np.asarray(min_var, np.float64), (d,))
    if init is not None and init.means.shape[1] == d:
        gmm = init
    else:
        k = int(min(n_components, max(1, np.unique(x[:, 0]).size)))
        order = np.argsort(x[:, 0], kind="stable")
        resp = np.zeros((n, k))
        for j, g in enumerate(np.array_split(order, k)):
            resp[g, j] = 1.0
        gmm = _m_step(x, resp, floor)
    for _ in range(n_iter):
        comp = gmm.component_log_density(x)
        m = comp.max(axis=1, keepdims=True)
        r = np.exp(comp - m)
        r /= r.sum(axis=1, keepdims=True)
        gmm = _m_step(x, r, floor)
    return gmm


def _m_step(x: np.ndarray, resp: np.ndarray, floor: np.ndarray) -> GaussianMixture:
    n, d = x.shape
    nk = resp.sum(axis=0)
    keep = nk > 1e-6 * n
    resp, nk = resp[:, keep], nk[keep]
    means = (resp.T @ x) / nk[:, None]
    covs = np.empty((nk.size, d, d))
    for j in range(nk.size):
        diff = x - means[j]
        covs[j] = (resp[:, j, None] * diff).T @ diff / nk[j] + np.diag(floor)
    return GaussianMixture(nk / nk.sum(), means, covs)
