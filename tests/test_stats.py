"""The paired bootstrap and the exact McNemar test against hand-worked values, a brute-force reference and simulation."""

import numpy as np
import pytest

from bench.analysis.stats import bootstrap_interval, mcnemar, paired_change


@pytest.mark.parametrize("worse, better, expected", [
    (0, 0, 1.0),  # no discordant pair: nothing to test
    (1, 5, 14 / 64),  # 2 * (C(6,0) + C(6,1)) / 2^6 = 2 * 7 / 64
    (5, 1, 14 / 64),  # two-sided: the same either way round
    (0, 6, 2 / 64),  # 2 * C(6,0) / 2^6
    (2, 8, 112 / 1024),  # 2 * (1 + 10 + 45) / 2^10
    (3, 3, 1.0),  # 2 * (1 + 6 + 15 + 20) / 64 = 84/64, capped at 1
    (0, 1, 1.0),  # 2 * 1/2
    (0, 20, 2 / 2**20),
])
def test_mcnemar_is_the_exact_two_sided_binomial_tail(worse, better, expected):
    assert mcnemar(worse, better) == pytest.approx(expected, rel=1e-12)


def test_mcnemar_stays_exact_far_beyond_float_range():
    # 2^2000 overflows a float; the tail must still come out near 1 for an even split
    assert mcnemar(1000, 1000) == 1.0
    assert 0 < mcnemar(900, 1100) < 1e-5  # about 5 standard deviations from the middle


@pytest.mark.parametrize("differences, expected", [
    ([0, 0, 0, 0], (0.0, 0.0)),
    ([1, 1, 1], (1.0, 1.0)),
    ([0, 0, 1, 1], (0.0, 1.0)),  # count of +1 ~ Bin(4, 1/2): P(0) = P(4) = 1/16 > 2.5%
    ([-1, 0], (-1.0, 0.0)),  # P(both -1) = P(both 0) = 1/4
])
def test_bootstrap_interval_on_tiny_samples(differences, expected):
    assert bootstrap_interval(np.array(differences)) == expected


def test_bootstrap_is_seeded():
    d = np.random.default_rng(1).normal(size=30)
    assert bootstrap_interval(d, seed=3) == bootstrap_interval(d, seed=3)
    assert bootstrap_interval(d, seed=3) != bootstrap_interval(d, seed=4)


def test_bootstrap_matches_resampling_indices():
    # the reference draws n indices with replacement per resample, the textbook way
    rng = np.random.default_rng(7)
    d = rng.normal(0.3, 1.0, size=50)
    reference = d[rng.integers(0, d.size, size=(20_000, d.size))].mean(axis=1)
    low, high = np.quantile(reference, [0.025, 0.975])
    ours = bootstrap_interval(d, resamples=20_000)
    assert ours == pytest.approx((low, high), abs=0.02)  # quantile noise is about 0.004 here


def test_paired_change_in_points():
    # before 1 0 0 0, after 1 1 1 0: +50 points, interval [0, 100], McNemar 0 vs 2 -> 0.5
    change = paired_change(np.array([1, 0, 0, 0]), np.array([1, 1, 1, 0]))
    assert (change.points, change.low, change.high, change.p, change.paired) == (50.0, 0.0, 100.0, 0.5, 4)
    assert paired_change(np.array([1, 0]), np.array([1, 1]), exact_test=False).p is None


@pytest.mark.parametrize("kind", ["binary", "score"])
def test_the_interval_covers_the_true_change_in_about_95_percent_of_datasets(kind):
    # Binary: P(right before, right after) = .50, (right, wrong) = .10, (wrong, right) = .15,
    # (wrong, wrong) = .25, so the true change is .65 - .60 = +.05. Score: judge scores 0-5
    # before, after = before + a shift of -1, 0, +1, +2 with probabilities .2 .4 .3 .1: +.3.
    rng = np.random.default_rng(2024)
    datasets, n, covered = 1000, 200, 0
    for i in range(datasets):
        if kind == "binary":
            outcome = rng.choice(4, size=n, p=[0.50, 0.10, 0.15, 0.25])
            before, after, truth = np.isin(outcome, [0, 1]), np.isin(outcome, [0, 2]), 0.05
        else:
            before = rng.integers(0, 6, size=n)
            after, truth = before + rng.choice([-1, 0, 1, 2], size=n, p=[0.2, 0.4, 0.3, 0.1]), 0.3
        low, high = bootstrap_interval(after.astype(float) - before, resamples=2_000, seed=i)
        covered += low <= truth <= high
    # 1000 datasets: the share has a standard error of 0.7 points around 95%
    assert 0.93 <= covered / datasets <= 0.97
