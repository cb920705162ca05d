"""Binary graph cut on a voxel grid with a real max-flow solver (PyMaxflow).

Energy (Boykov & Jolly, ICCV 2001; Boykov & Kolmogorov, IEEE TPAMI 26(9):1124-1137, 2004)::

    E(L) = sum_p D_p(L_p) + sum_{p~q} w_pq [L_p != L_q]

over the 6-neighbourhood (4 in a single slice). Only *free* voxels become graph nodes; voxels with
a fixed label (hard seeds, outside the box, outside a narrow band) enter through the terminal links
of their free neighbours, so the cut is exact for the fixed labels while the graph stays small.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import require


def boundary_weights(intensity: np.ndarray, spacing_mm: Sequence[float], *, beta: float | None = None
                     ) -> tuple[list[np.ndarray], float]:
    """Contrast-sensitive n-link weights per axis, scaled for anisotropic voxels.

    ``w = exp(-beta (I_p - I_q)^2) * A_axis / A_ref`` where ``A_axis`` is the area (mm²) of the
    voxel face shared by the two neighbours (the product of the other two spacings; in a single
    slice the length of the shared edge) and ``A_ref`` the same measure of an isotropic voxel of the
    same volume, so the summed weights approximate the cut surface area (Boykov & Kolmogorov,
    "Computing geodesics and minimal surfaces via graph cuts", ICCV 2003) and isotropic grids get
    weight 1 at zero contrast. ``beta = 1 / (2 <(I_p - I_q)^2>)`` (Rother, Kolmogorov & Blake,
    "GrabCut", ACM TOG 23(3):309-314, 2004) unless given.

    Parameters
    ----------
    intensity : (Z, Y, X) ndarray of float
    spacing_mm : (3,) z, y, x in mm

    Returns
    -------
    weights : list of 3 ndarrays
        ``weights[a]`` has the shape of ``intensity`` with axis ``a`` one shorter: the weight
        between voxel ``p`` and ``p + e_a``. An axis of length 1 gives an empty array.
    beta : float
    """
    img = np.asarray(intensity, np.float32)
    sp = np.asarray(spacing_mm, float)
    active = [a for a in range(3) if img.shape[a] > 1]
    diffs = [np.diff(img, axis=a) for a in range(3)]
    if beta is None:
        tot = sum(float(np.square(diffs[a], dtype=np.float64).sum()) for a in active)
        cnt = sum(diffs[a].size for a in active)
        mean_sq = tot / cnt if cnt else 0.0
        beta = 0.5 / mean_sq if mean_sq > 0 else 0.0
    measure = float(np.prod(sp[active])) if active else 1.0
    ref = measure ** ((len(active) - 1) / len(active)) if active else 1.0
    weights = []
    for a in range(3):
        if a not in active:
            weights.append(np.zeros(diffs[a].shape, np.float32))
            continue
        face = float(np.prod([sp[b] for b in active if b != a])) if len(active) > 1 else 1.0
        w = np.exp(-np.float32(beta) * np.square(diffs[a])) * np.float32(face / ref)
        weights.append(w.astype(np.float32, copy=False))
    return weights, float(beta)


def solve_cut(free: np.ndarray, fixed_fg: np.ndarray, cost_fg: np.ndarray, cost_bg: np.ndarray,
              weights: Sequence[np.ndarray], *, smoothness: float) -> np.ndarray:
    """Minimise the energy over the free voxels; return the (Z, Y, X) foreground mask.

    Parameters
    ----------
    free : (Z, Y, X) ndarray of bool
        Voxels whose label is unknown (graph nodes).
    fixed_fg : (Z, Y, X) ndarray of bool
        Label of the non-free voxels (True = foreground); ignored where ``free``.
    cost_fg, cost_bg : (m,) ndarray of float
        Data cost of labelling each free voxel (in ``free``'s C order) foreground / background.
    weights : 3 ndarrays from :func:`boundary_weights`
    smoothness : float
        Multiplier of the n-link weights (the GrabCut gamma).

    Returns
    -------
    (Z, Y, X) ndarray of bool
        ``fixed_fg`` outside ``free``, the minimum-cut labels inside.
    """
    maxflow = require("maxflow", "pip install PyMaxflow")
    free = np.asarray(free, bool)
    out = np.asarray(fixed_fg, bool) & ~free
    m = int(free.sum())
    if m == 0:
        return out
    idx = np.full(free.shape, -1, np.int64)
    idx[free] = np.arange(m)
    src = np.asarray(cost_bg, np.float64).copy()   # paid when the node ends on the sink (background) side
    snk = np.asarray(cost_fg, np.float64).copy()   # paid when it ends on the source (foreground) side
    lo = np.minimum(src, snk)
    src -= lo
    snk -= lo
    g = maxflow.Graph[float](m, 3 * m)
    g.add_nodes(m)
    for a in range(3):
        if free.shape[a] < 2:
            continue
        p = [slice(None)] * 3
        q = [slice(None)] * 3
        p[a], q[a] = slice(0, -1), slice(1, None)
        ip, iq = idx[tuple(p)], idx[tuple(q)]
        w = np.asarray(weights[a], np.float64) * float(smoothness)
        fp, fq = ip >= 0, iq >= 0
        both = fp & fq
        if both.any():
            ww = w[both]
            g.add_edges(ip[both], iq[both], ww, ww)
        for own, other_fixed, other_fg in ((fp & ~fq, ip, out[tuple(q)]), (fq & ~fp, iq, out[tuple(p)])):
            if not own.any():
                continue
            nodes, ww, nb_fg = other_fixed[own], w[own], other_fg[own]
            # a fixed-foreground neighbour costs w when this node is background, and vice versa
            src += np.bincount(nodes[nb_fg], ww[nb_fg], minlength=m)
            snk += np.bincount(nodes[~nb_fg], ww[~nb_fg], minlength=m)
    nodes = np.arange(m)
    g.add_grid_tedges(nodes, src, snk)
    g.maxflow()
    sink_side = g.get_grid_segments(nodes)
    out[free] = ~sink_side
    return out
