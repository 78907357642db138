"""``compile.key_pattern``: the pattern a near miss's left items are first found by holds every ASCII text
whose normalised key is one of the keys, checked against DuckDB's own normalisation (``norm_expr``) over
random texts of letters, digits, punctuation and whitespace."""

from __future__ import annotations

import itertools
import random

import duckdb
import pytest

from pipelines.match.compile import PATTERN_KEYS, Params, key_pattern, norm_expr
from pipelines.match.rules import NormStep

ALPHABET = "abcXYZ019" + "-./_:#'\\[]\"" + " \t\n"
COVERED = ("trim", "casefold", "strip_punctuation", "remove_spaces")


def _texts(rng: random.Random, n: int) -> list[str]:
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 7))) for _ in range(n)]


@pytest.mark.parametrize(
    "ops", [list(p) for k in (1, 2, 3) for c in itertools.combinations(COVERED, k) for p in itertools.permutations(c)]
)
def test_every_text_whose_key_is_looked_up_matches_the_pattern(ops: list[str]) -> None:
    rng = random.Random(",".join(ops))
    steps = [NormStep(op=op) for op in ops]
    texts = _texts(rng, 3000)
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT unnest($texts) AS x", {"texts": texts})
    params = Params()
    con.execute(f"CREATE TABLE n AS SELECT x, {norm_expr('x', steps, params)} AS k FROM t", params.values)
    keys = [str(r[0]) for r in con.execute("SELECT DISTINCT k FROM n WHERE k IS NOT NULL ORDER BY k").fetchall()]
    looked_up = rng.sample(keys, min(40, len(keys)))
    pattern = key_pattern(steps, looked_up)
    assert pattern is not None
    counted = con.execute(
        "SELECT count(*) FILTER (WHERE k IN (SELECT unnest($keys)) AND NOT regexp_full_match(x, $p)), "
        "count(*) FILTER (WHERE regexp_full_match(x, $p)), count(*) FROM n",
        {"keys": looked_up, "p": pattern},
    ).fetchone()
    assert counted is not None
    missed, kept, total = counted
    assert missed == 0
    assert kept < total  # and it narrows


def test_the_pattern_is_for_deleting_and_case_steps_and_a_bounded_number_of_keys() -> None:
    assert key_pattern([NormStep(op="casefold")], []) is None
    assert key_pattern([NormStep(op="casefold")], [f"k{i}" for i in range(PATTERN_KEYS + 1)]) is None
    assert key_pattern([NormStep(op="first_chars", n=3)], ["abc"]) is None
    assert key_pattern([NormStep(op="strip_prefix", value="REF")], ["abc"]) is None
    # characters outside letters and digits are matched by their code point, never as pattern syntax
    pattern = key_pattern([NormStep(op="casefold")], ["a.b*(c", "x y"])
    con = duckdb.connect()
    texts = ["a.b*(c", "A.B*(C", "axb*(c", "aab*(c", "x y", "X Y", "x  y"]
    found = con.execute("SELECT list(t) FILTER (WHERE regexp_full_match(t, $p)) FROM unnest($texts) AS u(t)",
                        {"texts": texts, "p": pattern}).fetchone()  # fmt: skip
    matched = found[0] if found else None
    assert matched == ["a.b*(c", "A.B*(C", "x y", "X Y"]
