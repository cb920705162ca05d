"""medlabel.dataset.splits: patient-level splits, seeded and stratified."""

from __future__ import annotations

from collections import Counter

import pytest

from medlabel.dataset.splits import parse_ratios, patient_splits
from medlabel.errors import InputError


def test_parse_ratios():
    assert parse_ratios("8:1:1") == (0.8, 0.1, 0.1)
    assert parse_ratios("7:3") == (0.7, 0.3, 0.0)
    assert parse_ratios([2, 1, 1]) == (0.5, 0.25, 0.25)
    for bad in ("8:1:x", "0:0:0", "1:-1:1", "1:1:1:1"):
        with pytest.raises(InputError, match="8:1:1"):
            parse_ratios(bad)


@pytest.mark.parametrize(("n", "expected"), [(10, (8, 1, 1)), (20, (16, 2, 2)), (3, (3, 0, 0)), (1, (1, 0, 0)),
                                             (15, (12, 2, 1)), (7, (5, 1, 1))])
def test_split_sizes_are_largest_remainder(n, expected):
    # hand-checked: 15 * (.8, .1, .1) = (12, 1.5, 1.5): one left-over patient, the tie goes to val;
    # 7 * (.8, .1, .1) = (5.6, .7, .7): floors (5, 0, 0), the two left-overs go to the larger remainders .7, .7;
    # 3 * (.8, .1, .1) = (2.4, .3, .3): the left-over goes to train (.4 > .3)
    out = patient_splits([f"P{i}" for i in range(n)], seed=3)
    counts = Counter(out.values())
    got = (counts["train"], counts["val"], counts["test"])
    assert sum(got) == n
    assert got == expected


def test_every_patient_in_exactly_one_split_and_duplicates_collapse():
    patients = [f"P{i % 12}" for i in range(40)]  # 12 distinct patients, repeated (several images each)
    out = patient_splits(patients, seed=0)
    assert sorted(out) == sorted({f"P{i}" for i in range(12)})
    assert set(out.values()) <= {"train", "val", "test"}


def test_seed_reproducible_and_changes_assignment():
    patients = [f"P{i}" for i in range(50)]
    a = patient_splits(patients, seed=1)
    assert a == patient_splits(list(reversed(patients)), seed=1)  # input order does not matter
    b = patient_splits(patients, seed=2)
    assert Counter(a.values()) == Counter(b.values())
    assert a != b


def test_stratified_split_balances_each_stratum():
    patients = [f"P{i}" for i in range(60)]
    strata = {p: i % 3 for i, p in enumerate(patients)}  # 3 strata of 20 patients
    out = patient_splits(patients, seed=5, strata=strata)
    for s in range(3):
        members = [p for p in patients if strata[p] == s]
        c = Counter(out[p] for p in members)
        assert (c["train"], c["val"], c["test"]) == (16, 2, 2)


def test_stratified_leftovers_fill_global_targets():
    # strata of 3, 4 and 5 patients: the per-stratum floors give 2 + 3 + 4 train, the 3 left over go to
    # val/test/train so that the total is the largest-remainder rounding of 12 * (.8, .1, .1) = (10, 1, 1)
    sizes = {"a": 3, "b": 4, "c": 5}
    strata = {f"{k}{i}": k for k, n in sizes.items() for i in range(n)}
    out = patient_splits(list(strata), seed=0, strata=strata)
    c = Counter(out.values())
    assert (c["train"], c["val"], c["test"]) == (10, 1, 1)


def test_strata_must_cover_every_patient():
    with pytest.raises(InputError, match="P1"):
        patient_splits(["P0", "P1"], strata={"P0": 1})
    with pytest.raises(InputError, match="no patients"):
        patient_splits([])
