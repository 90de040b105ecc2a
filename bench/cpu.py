"""CPU time per process from Linux /proc, for CPU per call: read before and after a
measured window, the difference divided by the calls made in it. A thread that ended in
the window takes its time with it (schedstat is per live thread): the services' and
servers' threads live as long as they do."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    # The command name (field 2) may hold spaces: split after its closing parenthesis.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """CPU seconds a process has used: the time its threads ran, in nanoseconds
    (/proc/<pid>/task/*/schedstat), else user + system in clock ticks (10 ms: too coarse
    for a floor of a few hundred round trips)."""
    try:
        return (
            sum(
                int((task / "schedstat").read_text().split()[0])
                for task in Path(f"/proc/{pid}/task").iterdir()
            )
            / 1e9
        )
    except (OSError, ValueError, IndexError):
        fields = _stat(pid)
        return (int(fields[11]) + int(fields[12])) / TICK


def children(parent: int) -> list[int]:
    """The processes whose parent is `parent` (PostgreSQL's backends and workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(int(entry.name))[1]) == parent:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
    return found


def snapshot(groups: Mapping[str, Iterable[int]]) -> dict[str, dict[int, float]]:
    """CPU seconds of every pid in each named group, now; a pid gone meanwhile is left out."""
    taken: dict[str, dict[int, float]] = {}
    for name, pids in groups.items():
        taken[name] = {}
        for pid in pids:
            try:
                taken[name][pid] = cpu_seconds(pid)
            except OSError:
                continue
    return taken


def ms_per_call(
    before: Mapping[str, Mapping[int, float]],
    after: Mapping[str, Mapping[int, float]],
    calls: int,
) -> dict[str, float]:
    """Each group's CPU milliseconds per call over the window, and their `sum`. A pid that
    started in the window counts from zero; one that ended in it loses its share (the
    backends are pooled, so neither happens to a steady window)."""
    per_call = {
        name: sum(cpu - before[name].get(pid, 0.0) for pid, cpu in pids.items()) * 1000 / calls
        for name, pids in after.items()
    }
    per_call = {name: round(ms, 3) for name, ms in per_call.items()}
    per_call["sum"] = round(sum(per_call.values()), 3)
    return per_call
