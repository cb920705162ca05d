"""Semi-automatic segmentation: histogram back projection and GrabCut (2-D and 3-D), plus mask helpers.

Engine only (numpy/scipy; PyMaxflow imported where used). Arrays are (Z, Y, X), ``spacing_mm`` is
(z, y, x) in mm; every function returns new arrays.
"""

from ._common import Box, dice, fill_holes, keep_connected_to, largest_component, remove_islands
from .backprojection import BackProjectionResult, IntensityHistogram, back_project, roi_histogram
from .gmm import GaussianMixture, fit_gmm
from .grabcut import grabcut
from .graphcut import contrast_beta, neighbourhood, solve_cut

__all__ = [
    "Box", "dice", "fill_holes", "keep_connected_to", "largest_component", "remove_islands",
    "BackProjectionResult", "IntensityHistogram", "back_project", "roi_histogram",
    "GaussianMixture", "fit_gmm", "grabcut", "contrast_beta", "neighbourhood", "solve_cut",
]
