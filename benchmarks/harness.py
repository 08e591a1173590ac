"""Timing primitives: whole-process runs, interleaved repetitions, medians, the table.

The machine is shared and has 2 cores, so one number means little. Every benchmark
measures lazyext and its baseline in the same run, alternating the order in each
repetition (A B, B A, A B, ...) so that a burst of load from elsewhere lands on both,
and reports medians.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass


@dataclass
class Row:
    """One line of the table.

    ``kind`` says how ``lazyext`` and ``baseline`` are compared: ``"ratio"``
    (lazyext / baseline <= limit), ``"delta"`` (lazyext - baseline <= limit, in the
    row's unit) or ``"equal"`` (lazyext == limit, a count).
    """

    id: str
    measure: str
    lazyext: float
    baseline: float
    unit: str
    kind: str
    limit: float
    note: str = ""

    @property
    def value(self) -> float:
        if self.kind == "ratio":
            return self.lazyext / self.baseline if self.baseline else float("inf")
        if self.kind == "delta":
            return self.lazyext - self.baseline
        return self.lazyext

    @property
    def met(self) -> bool:
        if self.kind == "equal":
            return self.lazyext == self.limit
        return self.value <= self.limit

    @property
    def target(self) -> str:
        if self.kind == "ratio":
            return f"<= {self.limit:g}x"
        if self.kind == "delta":
            return f"<= +{self.limit:g} {self.unit}"
        return f"== {self.limit:g}"

    def cells(self) -> list[str]:
        if self.kind == "ratio":
            shown = f"{self.value:.2f}x"
        elif self.kind == "delta":
            shown = f"{self.value:+.1f} {self.unit}"
        else:
            shown = f"{self.value:g}"
        return [
            self.id,
            self.measure,
            _number(self.lazyext, self.unit),
            _number(self.baseline, self.unit),
            shown,
            self.target,
            "yes" if self.met else "NO",
        ]


def _number(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "us":
        return f"{value:.0f} us"
    return f"{value:g} {unit}".strip()


HEADER = ["id", "measure", "lazyext", "baseline", "ratio", "target", "met?"]


def table(rows: Sequence[Row]) -> str:
    """A Markdown table (readable as plain text too)."""
    cells = [HEADER, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADER))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"
        for line in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | None = None,
    timeout: float = 120.0,
) -> tuple[float, str]:
    """Run ``argv`` to completion; return (wall milliseconds, stdout). Fails loudly."""
    started = time.perf_counter_ns()
    done = subprocess.run(
        list(argv),
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    elapsed = (time.perf_counter_ns() - started) / 1e6
    if done.returncode != 0:
        raise RuntimeError(
            f"benchmark child failed ({done.returncode}): {' '.join(argv)[:300]}\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        )
    return elapsed, done.stdout


def python(code: str, *, env: Mapping[str, str], cwd: str | None = None) -> tuple[float, str]:
    """A whole ``python -c code`` process with the venv's interpreter."""
    return run([sys.executable, "-c", code], env=env, cwd=cwd)


Variant = Callable[[], float]


#: A memo file is vouched for (its digests no longer checked in every process) once it
#: is 2 s old (lazyext._settings.memo._SETTLED_NS): the warm path of a deployed
#: application, whose config changed more than 2 s ago. B1 and B3 time that.
MEMO_SETTLE = 2.1


def interleave(
    variants: Mapping[str, Variant],
    repetitions: int,
    *,
    warmup: int = 1,
    before: Callable[[str], None] | None = None,
    settle: float = 0.0,
) -> dict[str, list[float]]:
    """Run each variant ``repetitions`` times, alternating their order every round.

    ``before(name)`` runs untimed before each measured call (to empty a cache, say).
    The first ``warmup`` rounds are discarded: they fill the page cache. ``settle``:
    seconds to wait after them, followed by one more discarded round (the steady state
    of a warm path: see :data:`MEMO_SETTLE`).
    """
    names = list(variants)
    samples: dict[str, list[float]] = {name: [] for name in names}
    if settle:
        for _ in range(warmup):
            for name in names:
                if before is not None:
                    before(name)
                variants[name]()
        time.sleep(settle)
        warmup = 1  # one more discarded round: the one that vouches for what settled
    for round_ in range(warmup + repetitions):
        order = names if round_ % 2 == 0 else names[::-1]
        for name in order:
            if before is not None:
                before(name)
            value = variants[name]()
            if round_ >= warmup:
                samples[name].append(value)
    return samples


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def quiet_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The calling environment without anything lazyext or uv would read."""
    source = os.environ if base is None else base
    return {
        name: value
        for name, value in source.items()
        if not name.startswith(("LAZYEXT_", "UV_", "PYTHONPATH", "VIRTUAL_ENV"))
    }
