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
        k = self.n_components
        if d == 1:  # all components at once
            var = self.covariances[:, 0, 0]
            diff = x[:, :1] - self.means[:, 0][None, :]
            maha = diff * diff / var[None, :]
            logdet = np.log(var)
        elif d == 2:  # closed-form 2x2 inverse, all components at once
            a, b, c = self.covariances[:, 0, 0], self.covariances[:, 0, 1], self.covariances[:, 1, 1]
            det = a * c - b * b
            u = x[:, :1] - self.means[:, 0][None, :]
            v = x[:, 1:2] - self.means[:, 1][None, :]
            maha = (c * u * u - 2.0 * b * u * v + a * v * v) / det
            logdet = np.log(det)
        else:
            maha = np.empty((n, k))
            logdet = np.empty(k)
            for j in range(k):
                chol = np.linalg.cholesky(self.covariances[j])
                sol = np.linalg.solve(chol, (x - self.means[j]).T)
                maha[:, j] = np.einsum("ij,ij->j", sol, sol)
                logdet[j] = 2.0 * np.log(np.diag(chol)).sum()
        return (np.log(self.weights) - 0.5 * (d * _LOG2PI + logdet))[None, :] - 0.5 * maha

    def log_likelihood(self, x: np.ndarray) -> np.ndarray:
        """log p(x) for samples ``x`` (n, d); returns (n,)."""
        comp = self.component_log_density(x)
        m = comp.max(axis=1)
        return m + np.log(np.exp(comp - m[:, None]).sum(axis=1))


def fit_gmm(x: np.ndarray, *, n_components: int = 3, n_iter: int = 10, min_var: float | np.ndarray = 1e-3,
            max_samples: int = 20000, seed: int = 0, init: GaussianMixture | None = None,
            sample_weight: np.ndarray | None = None) -> GaussianMixture:
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
    sample_weight : (n,) ndarray of float, optional
        Weight (count) of each sample, e.g. a histogram: EM on the distinct values of a large set
        with their counts gives the same model as EM on every sample, at a fraction of the cost.
        Weighted sets are not sub-sampled.

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
    if sample_weight is None:
        if x.shape[0] > max_samples:
            rng = np.random.default_rng(seed)
            x = x[np.sort(rng.integers(0, x.shape[0], max_samples))]
        w = np.ones(x.shape[0])
    else:
        w = np.asarray(sample_weight, np.float64).ravel()
        if w.shape[0] != x.shape[0] or (w < 0).any() or w.sum() <= 0:
            raise InputError(f"sample_weight must be {x.shape[0]} non-negative numbers with a positive sum")
    n, d = x.shape
    floor = np.broadcast_to(np.asarray(min_var, np.float64), (d,))
    if init is not None and init.means.shape[1] == d:
        gmm = init
    else:
        k = 1 if np.ptp(x[:, 0]) == 0 else int(n_components)
        order = np.argsort(x[:, 0], kind="stable")
        cum = np.cumsum(w[order])
        group = np.minimum((cum - w[order] / 2) / cum[-1] * k, k - 1).astype(int)  # weighted quantile groups
        resp = np.zeros((n, k))
        resp[order, group] = 1.0
        gmm = _m_step(x, resp, floor, w)
    for _ in range(n_iter):
        comp = gmm.component_log_density(x)
        m = comp.max(axis=1, keepdims=True)
        r = np.exp(comp - m)
        r /= r.sum(axis=1, keepdims=True)
        gmm = _m_step(x, r, floor, w)
    return gmm


def _m_step(x: np.ndarray, resp: np.ndarray, floor: np.ndarray, w: np.ndarray) -> GaussianMixture:
    n, d = x.shape
    resp = resp * w[:, None]
    nk = resp.sum(axis=0)
    keep = nk > 1e-6 * w.sum()
    resp, nk = resp[:, keep], nk[keep]
    means = (resp.T @ x) / nk[:, None]
    covs = np.empty((nk.size, d, d))
    for i in range(d):
        for j in range(i, d):
            # E[x_i x_j] - mu_i mu_j per component (one pass over the samples)
            second = (resp.T @ (x[:, i] * x[:, j])) / nk
            covs[:, i, j] = covs[:, j, i] = second - means[:, i] * means[:, j]
    covs = np.maximum(covs, 0.0) * np.eye(d)[None] + covs * (1 - np.eye(d))[None] + np.diag(floor)[None]
    return GaussianMixture(nk / nk.sum(), means, covs)

