"""PET: SUV conversion from DICOM tags (:mod:`.suv`), PET series reading (:mod:`.series`),
per-segment SUV statistics (:mod:`.stats`) and CT/PET grid fusion helpers (:mod:`.fusion`).

Typical use::

    from medlabel.pet import read_suv, pet_statistics_table
    suv, conversion = read_suv("pet_dicom_folder")          # SUVbw image + how it was computed
    table = pet_statistics_table(suv, labelset, threshold="relative")
"""

from .fusion import mask_fraction_on_grid, resample_labelset, resample_mask_nearest, segment_fractions
from .series import PetSeries, read_pet_series, read_suv
from .stats import ThresholdMode, pet_statistics, pet_statistics_table, segment_pet_stats, sphere_kernel
from .suv import (
    LbmFormula,
    PetTags,
    SuvConversion,
    SuvType,
    bsa_dubois_m2,
    lbm_james_kg,
    lbm_janmahasatian_kg,
    pet_tags_from_headers,
    suv_conversion,
)

__all__ = [
    "LbmFormula", "PetSeries", "PetTags", "SuvConversion", "SuvType", "ThresholdMode", "bsa_dubois_m2",
    "lbm_james_kg", "lbm_janmahasatian_kg", "mask_fraction_on_grid", "pet_statistics", "pet_statistics_table",
    "pet_tags_from_headers", "read_pet_series", "read_suv", "resample_labelset", "resample_mask_nearest",
    "segment_fractions", "segment_pet_stats", "sphere_kernel", "suv_conversion",
]
