"""Binary graph cut on a voxel grid with a real max-flow solver (PyMaxflow).

Energy (Boykov & Jolly, ICCV 2001; Boykov & Kolmogorov, IEEE TPAMI 26(9):1124-1137, 2004)::

    E(L) = sum_p D_p(L_p) + smoothness * sum_{p~q} g_pq exp(-beta (I_p - I_q)^2) [L_p != L_q]

Neighbourhood: 8 in a single slice (axis and diagonal edges), 6 in a volume. Only *free* voxels
become graph nodes; voxels with a fixed label (hard seeds, outside the box, outside a narrow band)
enter through the terminal links of their free neighbours, so the cut is exact for the fixed labels
while the graph (and the work to build it) grows with the free voxels only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import require

Offset = tuple[int, int, int]


def neighbourhood(shape: Sequence[int], spacing_mm: Sequence[float]) -> list[tuple[Offset, float]]:
    """Edge offsets (one per direction) and their geometric weights ``g`` (before the contrast factor).

    One slice (an axis of length 1): 8-neighbourhood with Cauchy-Crofton weights
    ``g_k = dy dx dphi_k / (2 |e_k|)`` (Boykov & Kolmogorov, "Computing geodesics and minimal
    surfaces via graph cuts", ICCV 2003), so the cut length approximates the Euclidean contour
    length in mm even with anisotropic pixels. Volume: 6-neighbourhood with face-area weights
    (mm², the product of the other two spacings), which sum to the cut surface area. Both are
    divided by the axis weight of an isotropic voxel of the same size (isotropic grid: axis weight 1).

    Parameters
    ----------
    shape : (3,) z, y, x
    spacing_mm : (3,) z, y, x in mm

    Returns
    -------
    list of ((dz, dy, dx), float)
    """
    sp = np.asarray(spacing_mm, float)
    active = [a for a in range(3) if shape[a] > 1]
    if len(active) == 0:
        return []
    if len(active) == 1:
        off = [0, 0, 0]
        off[active[0]] = 1
        return [(tuple(off), 1.0)]
    if len(active) == 2:
        a, b = active
        dirs = [(1, 0), (1, 1), (0, 1), (1, -1)]
        vecs = [np.array([i * sp[a], j * sp[b]]) for i, j in dirs]
        angles = np.array([np.arctan2(v[1], v[0]) % np.pi for v in vecs])
        order = np.argsort(angles)
        sa = angles[order]
        dphi = np.empty(4)
        for n, o in enumerate(order):  # half the angular gap to each neighbouring direction
            dphi[o] = 0.5 * (((sa[n] - sa[n - 1]) % np.pi) + ((sa[(n + 1) % 4] - sa[n]) % np.pi))
        ref = np.sqrt(sp[a] * sp[b]) * (np.pi / 4) / 2.0
        out = []
        for k, (i, j) in enumerate(dirs):
            off = [0, 0, 0]
            off[a], off[b] = i, j
            out.append((tuple(off), float(sp[a] * sp[b] * dphi[k] / (2.0 * np.linalg.norm(vecs[k])) / ref)))
        return out
    ref = float(np.prod(sp)) ** (2.0 / 3.0)
    out = []
    for a in range(3):
        off = [0, 0, 0]
        off[a] = 1
        out.append((tuple(off), float(np.prod([sp[b] for b in range(3) if b != a])) / ref))
    return out


def contrast_beta(intensity: np.ndarray, *, max_pairs: int = 1_000_000, seed: int = 0) -> float:
    """``beta = 1 / (2 <(I_p - I_q)^2>)`` over axis-neighbour pairs (Rother, Kolmogorov & Blake,
    "GrabCut", ACM TOG 23(3):309-314, 2004); at most ``max_pairs`` random pairs per axis
    (``numpy.random.default_rng(seed)``). 0 for a constant image."""
    img = np.asarray(intensity, np.float32)
    flat = img.ravel()
    rng = np.random.default_rng(seed)
    tot, cnt = 0.0, 0
    for a in range(3):
        if img.shape[a] < 2:
            continue
        n = flat.size
        stride = int(np.prod(img.shape[a + 1:]))
        if n > max_pairs:
            p = rng.integers(0, n, max_pairs)
            coord = (p // stride) % img.shape[a]
            p = p[coord < img.shape[a] - 1]
            d = flat[p + stride] - flat[p]
        else:
            d = np.diff(img, axis=a).ravel()
        tot += float(np.square(d, dtype=np.float64).sum())
        cnt += d.size
    mean_sq = tot / cnt if cnt else 0.0
    return 0.5 / mean_sq if mean_sq > 0 else 0.0


def solve_cut(free: np.ndarray, fixed_fg: np.ndarray, cost_fg: np.ndarray, cost_bg: np.ndarray,
              intensity: np.ndarray, spacing_mm: Sequence[float], *, beta: float, smoothness: float,
              free_index: np.ndarray | None = None, star_center: Sequence[float] | None = None) -> np.ndarray:
    """Minimise the energy over the free voxels; return the (Z, Y, X) foreground mask.

    Parameters
    ----------
    free : (Z, Y, X) ndarray of bool
        Voxels whose label is unknown (graph nodes).
    fixed_fg : (Z, Y, X) ndarray of bool
        Label of the non-free voxels (True = foreground); ignored where ``free``.
    cost_fg, cost_bg : (m,) ndarray of float
        Data cost of labelling each free voxel (in ``free``'s C order) foreground / background.
    intensity : (Z, Y, X) ndarray of float
        Values whose differences make the contrast term.
    spacing_mm : (3,) z, y, x in mm
    beta : float
        Contrast sensitivity (:func:`contrast_beta`).
    smoothness : float
        Multiplier of the n-link weights (the GrabCut gamma).
    free_index : (m,) ndarray of int, optional
        ``np.flatnonzero(free)`` when the caller has it already.
    star_center : (3,) z, y, x voxel index, optional
        Star-shape prior (Veksler, "Star shape prior for graph-cut image segmentation", ECCV 2008):
        a voxel can be foreground only if its neighbour one step towards the centre is too
        (infinite edges), so the result is star-shaped around the centre and has no holes or
        notches open to the outside. The steps follow the digital line to the centre.

    Returns
    -------
    (Z, Y, X) ndarray of bool
        ``fixed_fg`` outside ``free``, the minimum-cut labels inside.
    """
    maxflow = require("maxflow", "pip install PyMaxflow")
    free = np.asarray(free, bool)
    shape = free.shape
    out = np.asarray(fixed_fg, bool) & ~free
    flat = np.flatnonzero(free) if free_index is None else free_index
    m = int(flat.size)
    if m == 0:
        return out
    free_f, out_f = free.ravel(), out.ravel()
    inten = np.asarray(intensity, np.float32).ravel()
    idx = np.full(free.size, -1, np.int64)
    idx[flat] = np.arange(m)
    coords = np.unravel_index(flat, shape)
    strides = [int(np.prod(shape[a + 1:])) for a in range(3)]
    src = np.asarray(cost_bg, np.float64).copy()   # paid when the node ends on the sink (background) side
    snk = np.asarray(cost_fg, np.float64).copy()   # paid when it ends on the source (foreground) side
    lo = np.minimum(src, snk)
    src -= lo
    snk -= lo
    nb = neighbourhood(shape, spacing_mm)
    g = maxflow.Graph[float](m, len(nb) * m)
    g.add_nodes(m)
    ip_all = flat
    for off, geo in nb:
        for sign in (1, -1):
            o = [sign * d for d in off]
            ok = np.ones(m, bool)
            for a in range(3):
                if o[a] > 0:
                    ok &= coords[a] < shape[a] - o[a]
                elif o[a] < 0:
                    ok &= coords[a] >= -o[a]
            p = ip_all[ok]
            q = p + sum(o[a] * strides[a] for a in range(3))
            d = inten[q] - inten[p]
            w = (geo * float(smoothness)) * np.exp(-float(beta) * d.astype(np.float64) ** 2)
            qf = free_f[q]
            pn = idx[p]
            if sign == 1 and qf.any():
                g.add_edges(pn[qf], idx[q[qf]], w[qf], w[qf])
            fixed = ~qf
            if fixed.any():
                nodes, ww, nb_fg = pn[fixed], w[fixed], out_f[q[fixed]]
                # a fixed-foreground neighbour costs w when this node is background, and vice versa
                src += np.bincount(nodes[nb_fg], ww[nb_fg], minlength=m)
                snk += np.bincount(nodes[~nb_fg], ww[~nb_fg], minlength=m)
    if star_center is not None:
        _add_star_edges(g, flat, coords, shape, strides, idx, free_f, out_f, src, snk, star_center)
    nodes = np.arange(m)
    g.add_grid_tedges(nodes, src, snk)
    g.maxflow()
    sink_side = g.get_grid_segments(nodes)
    out_f = out.ravel()
    out_f[flat] = ~sink_side
    return out


_INF = 1e12


def _add_star_edges(g, flat, coords, shape, strides, idx, free_f, fixed_fg_f, src, snk, center) -> None:
    """Infinite edges p -> q (q = next voxel from p towards ``center``): p foreground implies q foreground."""
    c = np.asarray(center, float)
    d = np.stack([c[a] - coords[a] for a in range(3)], axis=1)          # (m, 3) towards the centre
    span = np.abs(d).max(axis=1)
    moving = span >= 0.5
    step = np.zeros_like(d, dtype=np.int64)
    step[moving] = np.rint(d[moving] / span[moving, None]).astype(np.int64)
    p_nodes = np.nonzero(moving)[0]
    q = flat[p_nodes] + step[p_nodes] @ np.asarray(strides, np.int64)
    q_free = free_f[q]
    if q_free.any():
        a, b = p_nodes[q_free], idx[q[q_free]]
        g.add_edges(a, b, np.full(a.size, _INF), np.zeros(a.size))
    fixed_bg = ~q_free & ~fixed_fg_f[q]
    snk[p_nodes[fixed_bg]] += _INF                      # towards a fixed background voxel: p cannot be foreground
    # a fixed-foreground voxel whose inward neighbour is free forces that neighbour to foreground
    return None
