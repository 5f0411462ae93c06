"""The statistics behind experiment results, in the standard library only.

- a mean's 95 % interval: the normal approximation, mean ± z·s/√n with s the sample
  standard deviation (n − 1 in the denominator); none below two observations;
- a proportion's 95 % interval: Wilson's score interval (good near 0 and 1 and for small n,
  unlike the Wald interval);
- the sample-ratio-mismatch test: Pearson's chi-square goodness of fit of the exposure
  counts against the arms' weights, its p-value the chi-square survival function with k − 1
  degrees of freedom, i.e. the regularised upper incomplete gamma Q(df/2, chi2/2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054  # the standard normal's 97.5th percentile
SRM_ALPHA = 0.001
_EPS = 1e-15
_MAX_ITER = 10_000


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate with its 95 % interval (`low`/`high` None when undefined)."""

    n: int
    value: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True, slots=True)
class SrmResult:
    """Pearson's chi-square of observed exposures against their expected split."""

    chi2: float
    df: int
    p_value: float
    mismatch: bool


def mean_interval(values: Sequence[float], z: float = Z95) -> Interval:
    """The mean and its normal-approximation interval, mean ± z·s/√n (s with n − 1)."""
    return mean_interval_from_sums(
        len(values), math.fsum(values), math.fsum(v * v for v in values), z
    )


def mean_interval_from_sums(n: int, total: float, total_sq: float, z: float = Z95) -> Interval:
    """`mean_interval` from the count, sum and sum of squares (what SQL aggregates give)."""
    if n <= 0:
        return Interval(n=0, value=None, low=None, high=None)
    centre = total / n
    if n < 2:
        return Interval(n=n, value=centre, low=None, high=None)
    variance = max(0.0, (total_sq - total * total / n) / (n - 1))
    half = z * math.sqrt(variance / n)
    return Interval(n=n, value=centre, low=centre - half, high=centre + half)


def wilson_interval(successes: int, n: int, z: float = Z95) -> Interval:
    """The proportion successes/n and Wilson's score interval for it."""
    if n <= 0:
        return Interval(n=0, value=None, low=None, high=None)
    if not 0 <= successes <= n:
        raise ValueError("successes must be between 0 and n")
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return Interval(n=n, value=p, low=max(0.0, centre - half), high=min(1.0, centre + half))


def regularized_gamma_q(a: float, x: float) -> float:
    """Q(a, x) = Γ(a, x)/Γ(a), the regularised upper incomplete gamma function.

    The power series of P for x < a + 1, else Lentz's continued fraction for Q (Numerical
    Recipes §6.2); both converge fast in their region.
    """
    if a <= 0:
        raise ValueError("a must be positive")
    if x < 0:
        raise ValueError("x must be non-negative")
    if x == 0:
        return 1.0
    log_prefix = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        denominator = a
        for _ in range(_MAX_ITER):
            denominator += 1
            term *= x / denominator
            total += term
            if abs(term) < abs(total) * _EPS:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < _EPS:
            break
    return min(1.0, math.exp(log_prefix) * h)


def chi2_sf(statistic: float, df: int) -> float:
    """P(X ≥ statistic) for X chi-square with `df` degrees of freedom."""
    if df < 1:
        raise ValueError("df must be at least 1")
    return regularized_gamma_q(df / 2, max(0.0, statistic) / 2)


def srm_test(
    observed: Sequence[int], weights: Sequence[float], alpha: float = SRM_ALPHA
) -> SrmResult:
    """Chi-square goodness of fit of `observed` counts against the split `weights`.

    Arms of weight 0 are left out (any exposure to one is a mismatch by itself); with no
    exposures there is nothing to test (chi2 0, p 1).
    """
    if len(observed) != len(weights):
        raise ValueError("one weight per observed count")
    total = sum(observed)
    live = [(o, w) for o, w in zip(observed, weights, strict=True) if w > 0]
    stray = sum(o for o, w in zip(observed, weights, strict=True) if w <= 0)
    df = max(1, len(live) - 1)
    if total == 0:
        return SrmResult(chi2=0.0, df=df, p_value=1.0, mismatch=False)
    if stray:
        return SrmResult(chi2=math.inf, df=df, p_value=0.0, mismatch=True)
    weight_sum = math.fsum(w for _, w in live)
    chi2 = math.fsum((o - total * w / weight_sum) ** 2 / (total * w / weight_sum) for o, w in live)
    p_value = chi2_sf(chi2, df)
    return SrmResult(chi2=chi2, df=df, p_value=p_value, mismatch=p_value < alpha)
