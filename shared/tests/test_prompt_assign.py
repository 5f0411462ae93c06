"""Sticky assignment: the same (salt, unit) gives the same arm everywhere, by weight."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys

import pytest

from eco_shared.prompts.assign import assign, bucket

ARMS = [("a", 0.2), ("b", 0.3), ("c", 0.5)]
# (salt, unit, the first 8 bytes of sha256("salt:unit"), arm under ARMS): a fixed vector, so a
# change of hash, separator, byte order or walk order breaks this test.
VECTOR = [
    ("exp-1", "user:alice", 0x187CA3E6C441C55D, "a"),
    ("exp-1", "user:bob", 0xB4A92108A7321CBB, "c"),
    ("exp-1", "run-0001", 0x269CA5F0CE3402F9, "a"),
    ("s3cr3t", "user:alice", 0x2F6E959B13551109, "a"),
    ("s3cr3t", "run-42", 0xCB25AB8FF992FA9C, "c"),
    ("", "x", 0x37469D4452548140, "b"),
    ("exp-2", "user:carol", 0x718BD30612B18A25, "b"),
    ("exp-2", "user:dave", 0x1D8F64FB4A2AE2B0, "a"),
]


def _independent(salt: str, unit: str) -> str:
    """The contract's rule, written again from hashlib alone."""
    point = int.from_bytes(hashlib.sha256(f"{salt}:{unit}".encode()).digest()[:8], "big")
    edges = [0.2 * 2**64, 0.5 * 2**64]
    return "a" if point < edges[0] else "b" if point < edges[1] else "c"


@pytest.mark.parametrize(("salt", "unit", "prefix", "arm"), VECTOR)
def test_fixed_vector(salt: str, unit: str, prefix: int, arm: str) -> None:
    digest = hashlib.sha256(f"{salt}:{unit}".encode()).digest()
    assert int.from_bytes(digest[:8], "big") == prefix
    assert bucket(salt, unit) == prefix / 2**64
    assert _independent(salt, unit) == arm
    assert assign(salt, unit, ARMS) == arm


def test_stable_across_processes() -> None:
    """A fresh interpreter (another hash seed, another process) assigns the same arms."""
    code = (
        "import sys, json\n"
        "from eco_shared.prompts.assign import assign\n"
        "vector = json.loads(sys.argv[1])\n"
        "print(json.dumps([assign(s, u, [('a', 0.2), ('b', 0.3), ('c', 0.5)])"
        " for s, u in vector]))\n"
    )
    pairs = [[salt, unit] for salt, unit, _, _ in VECTOR]
    for seed in ("1", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", code, json.dumps(pairs)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert json.loads(out.stdout) == [arm for _, _, _, arm in VECTOR]


def test_weights_respected_over_20k_units() -> None:
    """Each arm's share is within 5 binomial standard deviations of its weight.

    With n = 20,000 and weight p, the count is Binomial(n, p) if sha256 behaves as a random
    function; 5 sigma is exceeded with probability under 6e-7 per arm, so a pass is not luck
    and a biased walk (an off-by-one arm, the wrong boundary) fails by far more.
    """
    n = 20_000
    arms = [("control", 0.7), ("v2", 0.2), ("v3", 0.1)]
    counts = dict.fromkeys([name for name, _ in arms], 0)
    for i in range(n):
        counts[assign("weights-salt", f"user:{i}", arms)] += 1
    for name, p in arms:
        sigma = math.sqrt(n * p * (1 - p))
        assert abs(counts[name] - n * p) < 5 * sigma, (name, counts)


def test_zero_weight_arm_never_chosen() -> None:
    arms = [("off", 0.0), ("on", 1.0), ("also-off", 0.0)]
    assert {assign("z", f"u{i}", arms) for i in range(5_000)} == {"on"}
    # also where rounding leaves the sum short of 1: the last positive arm takes the rest
    short = [("x", 0.5), ("y", 0.5 - 1e-12), ("never", 0.0)]
    assert "never" not in {assign("z", f"u{i}", short) for i in range(5_000)}


def test_salt_change_reshuffles() -> None:
    """Under 50/50 a new salt moves about half the units (binomial, 5 sigma over 20k)."""
    n = 20_000
    arms = [("a", 0.5), ("b", 0.5)]
    moved = sum(
        assign("salt-1", f"u{i}", arms) != assign("salt-2", f"u{i}", arms) for i in range(n)
    )
    assert abs(moved - n / 2) < 5 * math.sqrt(n * 0.25)


def test_same_salt_same_arm_every_call() -> None:
    arms = [("a", 0.5), ("b", 0.5)]
    first = [assign("sticky", f"u{i}", arms) for i in range(1_000)]
    assert first == [assign("sticky", f"u{i}", arms) for i in range(1_000)]
    assert set(first) == {"a", "b"}


@pytest.mark.parametrize("arms", [[], [("a", -0.1), ("b", 1.1)], [("a", 0.0), ("b", 0.0)]], ids=str)
def test_bad_arms_refused(arms: list[tuple[str, float]]) -> None:
    with pytest.raises(ValueError, match="arm|weight"):
        assign("s", "u", arms)
