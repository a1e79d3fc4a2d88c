"""The nine pedagogical concepts (``data/coach/concepts.yaml``) and the evaluation of their ``fires_when`` rules.

A rule is ``{"all": [cond, …]}`` or ``{"any": [cond, …]}``; a condition is ``{"metric", "op", "value"}`` with
``op`` in ``< <= > >=``. Metrics are a mapping of unit-suffixed names to numbers (``None`` = not measured; a
condition over an unmeasured metric is false). :func:`parse_concepts` is pure; :func:`load_concepts` reads the
YAML file (the edge).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from pitwall import DATA_DIR
from pitwall.formats.errors import ReadError

CONCEPTS_FILE: Final = DATA_DIR / "coach" / "concepts.yaml"
"""The bundled concepts file."""

Op = Literal["<", "<=", ">", ">="]
_OPS: Final[dict[str, Callable[[float, float], bool]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_PLACEHOLDER: Final = re.compile(r"\{([a-z0-9_]+)\}")


@dataclass(frozen=True)
class Condition:
    """``metric op value`` (e.g. ``coast_pct > 12``)."""

    metric: str
    op: Op
    value: float

    def holds(self, metrics: Mapping[str, float | int | None]) -> bool:
        measured = metrics.get(self.metric)
        return measured is not None and _OPS[self.op](float(measured), self.value)

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "op": self.op, "value": self.value}


@dataclass(frozen=True)
class Concept:
    """One concept: ``mode`` ``all``/``any`` over ``conditions``; ``cue`` is the spoken template."""

    id: str
    name: str
    description: str
    mode: Literal["all", "any"]
    conditions: tuple[Condition, ...]
    cue: str

    def fires(self, metrics: Mapping[str, float | int | None]) -> bool:
        """True when the rule holds over ``metrics``."""
        results = (c.holds(metrics) for c in self.conditions)
        return all(results) if self.mode == "all" else any(results)

    def triggering(self, metrics: Mapping[str, float | int | None]) -> dict[str, float | int | None]:
        """The measured values of the metrics the rule (and the cue template) names (those that were measured)."""
        names = [c.metric for c in self.conditions] + _PLACEHOLDER.findall(self.cue)
        return {name: metrics[name] for name in dict.fromkeys(names) if metrics.get(name) is not None}

    def to_dict(self) -> dict[str, Any]:
        """The ``GET /coach/concepts`` item."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "fires_when": {self.mode: [c.to_dict() for c in self.conditions]},
            "cue": self.cue,
        }


def parse_concepts(raw: object, *, source: str | Path = "<concepts>") -> tuple[Concept, ...]:
    """Concepts from the parsed YAML document ``{"concepts": [...]}``; :class:`ReadError` on a bad document."""
    items = raw.get("concepts") if isinstance(raw, Mapping) else None
    if not isinstance(items, list) or not items:
        raise ReadError(source, "expected a non-empty 'concepts' list")
    concepts = [_concept(item, source, i) for i, item in enumerate(items)]
    ids = [c.id for c in concepts]
    if len(set(ids)) != len(ids):
        raise ReadError(source, f"duplicate concept ids in {ids}")
    return tuple(concepts)


def _concept(item: object, source: str | Path, index: int) -> Concept:
    where = f"concept #{index + 1}"
    if not isinstance(item, Mapping):
        raise ReadError(source, f"{where}: expected a mapping")
    missing = {"id", "name", "description", "fires_when", "cue"} - set(item)
    if missing:
        raise ReadError(source, f"{where}: missing {sorted(missing)}")
    rule = item["fires_when"]
    if not isinstance(rule, Mapping) or len(rule) != 1 or next(iter(rule)) not in ("all", "any"):
        raise ReadError(source, f"{where}: fires_when must be {{all: [...]}} or {{any: [...]}}")
    mode = next(iter(rule))
    raw_conditions = rule[mode]
    if not isinstance(raw_conditions, list) or not raw_conditions:
        raise ReadError(source, f"{where}: fires_when.{mode} must be a non-empty list")
    conditions = []
    for cond in raw_conditions:
        if not isinstance(cond, Mapping) or set(cond) != {"metric", "op", "value"}:
            raise ReadError(source, f"{where}: a condition is {{metric, op, value}}, got {cond!r}")
        if cond["op"] not in _OPS or not isinstance(cond["value"], int | float):
            raise ReadError(source, f"{where}: bad op or value in {cond!r}")
        conditions.append(Condition(str(cond["metric"]), cond["op"], float(cond["value"])))
    return Concept(
        id=str(item["id"]),
        name=str(item["name"]),
        description=" ".join(str(item["description"]).split()),
        mode=mode,
        conditions=tuple(conditions),
        cue=str(item["cue"]),
    )


def load_concepts(path: Path = CONCEPTS_FILE) -> tuple[Concept, ...]:
    """Read and parse a concepts YAML file (:class:`ReadError` when unreadable or invalid)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ReadError(path, str(exc)) from exc
    return parse_concepts(raw, source=path)


def fired(concepts: tuple[Concept, ...], metrics: Mapping[str, float | int | None]) -> list[Concept]:
    """The concepts whose rule holds over ``metrics``, in file order."""
    return [c for c in concepts if c.fires(metrics)]
