"""`./voco bench`: every figure of issue 6 against floors measured once in the same run.

    ./voco bench [--quick] [--only routing,presence,fanout,scheduler,scale,edge,replicas]
                 [--out DIR]

Starts a durable NATS and PostgreSQL once (as `./voco up`), measures the floors once,
runs each section (bench/suite.py) and writes DIR/latest.json, DIR/REPORT.md and
DIR/latency.png (default DIR: bench/results). `--quick` is a spot check in under a
minute: fewer samples, shorter load steps, 1,000 scheduler users, 10,000 scale users.
Findings kept by hand in DIR/NOTES.md (profiles of what misses) are copied into the report.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop

from bench import floors, report, routing_replicas, suite
from bench.harness import servers

SECTIONS = ["routing", "presence", "fanout", "scheduler", "scale", "edge", "replicas"]


async def run(quick: bool, only: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with servers() as s:
        started = time.perf_counter()
        results["floors"] = await floors.measure(
            s.nats_url,
            s.database_url,
            quick=quick,
            nats_pid=s.nats_pid,
            postgres_pid=s.postgres.process.pid if s.postgres.process else 0,
        )
        print(f"bench: floors {time.perf_counter() - started:.1f} s", file=sys.stderr)
        for name in only:
            started = time.perf_counter()
            if name == "fanout":
                pubsub = results["floors"]["pubsub_msgs_per_s"]
                results[name] = await suite.fanout(s, quick, pubsub)
            elif name == "replicas":  # one and two routing replicas (bench/routing_replicas.py)
                results[name] = await routing_replicas.replicas(s, quick)
            else:
                results[name] = await getattr(suite, name)(s, quick)
            print(f"bench: {name} {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="./voco bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="spot check, under a minute")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    only = [name for name in args.only.split(",") if name]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}; choose from {SECTIONS}")
    loadavg = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    started = time.perf_counter()
    results = uvloop.run(run(args.quick, only))
    results["meta"] = {
        "mode": "quick" if args.quick else "full",
        "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": round(time.perf_counter() - started, 1),
        "cpus": os.cpu_count(),
        "loadavg": loadavg,
    }
    markdown = report.render(args.out, results)
    print(markdown)


if __name__ == "__main__":
    main()
