"""The concepts file and the evaluation of its fires_when rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from pitwall.coach.concepts import CONCEPTS_FILE, Condition, fired, load_concepts, parse_concepts
from pitwall.formats.errors import ReadError

NINE = {
    "brake_straight_then_trail",
    "slow_in_fast_out",
    "eyes_up",
    "smooth_inputs",
    "use_all_track",
    "commit_throttle_exit",
    "consistency_first",
    "balance_the_car",
    "carry_min_speed",
}


def test_bundled_file_has_the_nine_concepts_with_machine_checkable_rules() -> None:
    concepts = load_concepts(CONCEPTS_FILE)
    assert {c.id for c in concepts} == NINE
    for concept in concepts:
        assert concept.name and concept.description and concept.cue
        assert concept.mode in ("all", "any") and concept.conditions
        rule = concept.to_dict()["fires_when"]
        assert list(rule) == [concept.mode]
        assert all(set(c) == {"metric", "op", "value"} for c in rule[concept.mode])


def test_all_and_any_rules_and_unmeasured_metrics() -> None:
    concepts = load_concepts()
    by_id = {c.id: c for c in concepts}
    balance = by_id["balance_the_car"]  # all: coast_pct > 12
    assert balance.fires({"coast_pct": 12.5}) and not balance.fires({"coast_pct": 12.0})
    assert not balance.fires({"coast_pct": None}) and not balance.fires({})
    commit = by_id["commit_throttle_exit"]  # any: pickup_after_apex_m > 40 | avg_throttle_pct < 45
    assert commit.fires({"pickup_after_apex_m": None, "avg_throttle_pct": 30.0})
    assert commit.fires({"pickup_after_apex_m": 55.0})
    assert not commit.fires({"pickup_after_apex_m": 10.0, "avg_throttle_pct": 80.0})
    trail = by_id["brake_straight_then_trail"]  # all: max_brake_bar >= 5 & trail_brake_pct < 2
    assert trail.fires({"max_brake_bar": 5.0, "trail_brake_pct": 1.0})
    assert not trail.fires({"max_brake_bar": 50.0})  # one condition unmeasured → the "all" rule fails
    assert [c.id for c in fired(concepts, {"coast_pct": 20.0, "avg_throttle_pct": 30.0})] == [
        "commit_throttle_exit",
        "balance_the_car",
    ]
    assert balance.triggering({"coast_pct": 20.0, "other": 1.0}) == {"coast_pct": 20.0}


def test_condition_operators() -> None:
    assert Condition("x_m", "<=", 2.0).holds({"x_m": 2})
    assert not Condition("x_m", "<", 2.0).holds({"x_m": 2})
    assert Condition("x_m", ">=", 2.0).holds({"x_m": 2.0})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "non-empty 'concepts'"),
        ({"concepts": [{"id": "a"}]}, "missing"),
        (
            {
                "concepts": [
                    {"id": "a", "name": "A", "description": "d", "cue": "c", "fires_when": {"some": []}}
                ]
            },
            "fires_when must be",
        ),
        (
            {
                "concepts": [
                    {
                        "id": "a",
                        "name": "A",
                        "description": "d",
                        "cue": "c",
                        "fires_when": {"all": [{"metric": "x", "op": "==", "value": 1}]},
                    }
                ]
            },
            "bad op",
        ),
        (
            {
                "concepts": [
                    {
                        "id": "a",
                        "name": "A",
                        "description": "d",
                        "cue": "c",
                        "fires_when": {"all": [{"metric": "x"}]},
                    }
                ]
            },
            "a condition is",
        ),
    ],
)
def test_bad_documents_are_read_errors(raw: object, message: str) -> None:
    with pytest.raises(ReadError, match=message):
        parse_concepts(raw)


def test_duplicate_ids_and_unreadable_files(tmp_path: Path) -> None:
    item = {
        "id": "a",
        "name": "A",
        "description": "d",
        "cue": "c",
        "fires_when": {"all": [{"metric": "x_m", "op": ">", "value": 1}]},
    }
    with pytest.raises(ReadError, match="duplicate"):
        parse_concepts({"concepts": [item, item]})
    bad = tmp_path / "bad.yaml"
    bad.write_text("concepts: [unclosed", encoding="utf-8")
    with pytest.raises(ReadError):
        load_concepts(bad)
    with pytest.raises(ReadError):
        load_concepts(tmp_path / "missing.yaml")
