"""What a package hands the demo: its step (``DemoStep``), the context a step runs in, its ablation record and
target, and the ablation table the demo prints.

A step is a function ``run(ctx: DemoContext) -> dict`` (json-serialisable metrics, written to ``summary.json``)
plus, where the step measures what the pre-trained CLIP brings, ``ablation(metrics) -> dict | None``: the row of
the ablation table, ``{"metric", "with": [values], "without": [values], "without_is"[, "chance"]}`` (``None`` when
the metrics hold no ablation, e.g. a run without the world CLIP), checked against the step's ``Target``. The demo
itself (which steps, in which order, the command line) lives on the top floor, which imports the packages; this
module names none of them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal


@dataclass
class DemoContext:
    out_dir: Path  # this step's own output folder
    world: Any  # shared.synthetic.WorldPaths
    seed: int
    pretrained: str | None = None  # the world CLIP's weights file, once the step that provides it has run


@dataclass(frozen=True)
class Target:
    """What an ablation must show, on the first "with" / "without" values: ``times_chance`` (with ≥ value ×
    the record's ``chance``), ``ahead_by`` (with − without ≥ value; value 0: strictly ahead) or ``each_ahead_by``
    (every "with" value ahead of its "without" value by ≥ value)."""

    rule: Literal["times_chance", "ahead_by", "each_ahead_by"]
    value: float

    def describe(self) -> str:
        if self.rule == "times_chance":
            return f">= {self.value:g} x chance"
        if self.rule == "each_ahead_by":
            return f"each ahead by >= {self.value:g}"
        return f"ahead by > {self.value:g}" if self.value == 0 else f"ahead by >= {self.value:g}"

    def met(self, a: dict) -> bool | None:
        """True / False, or None when a value it needs is missing (no ground truth for it)."""
        w, wo = a["with"][0], a["without"][0]
        if self.rule == "times_chance":
            return None if w is None else w >= self.value * a["chance"]
        if self.rule == "each_ahead_by":
            pairs = list(zip(a["with"], a["without"]))
            return None if any(v is None for p in pairs for v in p) else all(x - y >= self.value for x, y in pairs)
        if w is None or wo is None:
            return None
        return w - wo > 0 if self.value == 0 else w - wo >= self.value


@dataclass(frozen=True)
class DemoStep:
    """One step of the demo, owned by the package that runs it. ``provides_pretrained``: the weights file this
    step writes in its folder, handed to every later step as ``ctx.pretrained`` (also when a rerun skips the step
    and an earlier run left the file)."""

    name: str  # the step's folder below the demo's output folder and its key in summary.json
    run: Callable[[DemoContext], dict]
    ablation: Callable[[dict], dict | None] | None = None
    target: Target | None = None
    provides_pretrained: str | None = None

    def ablation_record(self, metrics: dict) -> dict | None:
        """The step's row of the ablation table with its ``target`` and whether it is ``met``; None without one."""
        a = self.ablation(metrics) if self.ablation is not None else None
        if a is None:
            return None
        if self.target is not None:
            a["target"], a["met"] = self.target.describe(), self.target.met(a)
        return a


def ablations(records: list[dict], steps: list[DemoStep]) -> dict[str, dict]:
    """{step name: ablation record} for each finished step (a summary.json step record with ``status`` "ok")
    whose metrics hold one, in the records' order."""
    by_name = {s.name: s for s in steps}
    out = {}
    for r in records:
        step = by_name.get(r["name"])
        if r["status"] != "ok" or step is None:
            continue
        a = step.ablation_record(r.get("metrics") or {})
        if a is not None:
            out[r["name"]] = a
    return out


def ablation_table(ab: dict[str, dict]) -> str:
    """The ablations as a small text table."""
    def fmt(values):
        return " / ".join("-" if v is None else f"{v:.3f}" for v in values)

    rows = [("step", "metric", "with", "without", "target", "met", "without =")]
    rows += [(k, a["metric"], fmt(a["with"]), fmt(a["without"]), a.get("target", "-"),
              {True: "yes", False: "NO"}.get(a.get("met"), "-"), a["without_is"]) for k, a in ab.items()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
