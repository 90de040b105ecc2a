"""`python -m bench.kamailio`: SIPp calls at fixed rates through Kamailio, routed by Voco and,
as the baseline, by Kamailio's own location lookup (the same config, VOCO_STATIC_ROUTING).

Timed: the caller's authenticated INVITE -> its first 180, by SIPp's response-time
counter (rtd) per call; the phone answers at once, talk 100 ms. Voco's mode runs the
real chain: presence and routing as processes, the adapter as a process, the phone
registered through Kamailio. Reports p50/p99 per mode and rate, failures, what Voco
adds (voco minus static), and each process's CPU time per call (from /proc: utime +
stime over the rate's run, a process with its children). Writes
bench/results/kamailio.json.

    python -m bench.kamailio --rates 50,100,200 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import nats

from adapters.kamailio.config import KamailioConfig, Secrets
from adapters.kamailio.packages import ensure_kamailio, ensure_sipp
from adapters.kamailio.server import command
from bench.harness import create_database, delete_streams, percentile, servers, service_env
from bench.principals import ADMIN
from contracts.errors import CommandError
from contracts.presence import GetPresence, ProvisionUser
from launcher.processes import free_port, stop_process
from runtime.bus import request

SCENARIOS = Path(__file__).resolve().parent.parent / "tests" / "kamailio" / "scenarios"
OUT = Path(__file__).resolve().parent / "results" / "kamailio.json"
# A phone in a call is busy (routing skips it), so calls go round-robin over many
# extensions, each with one device; one SIPp process is every device's phone.
EXTENSIONS = [str(2001 + n) for n in range(100)]
CALLER = "1002-desk"


def bench_config(root: Path) -> KamailioConfig:
    config = KamailioConfig.from_env()
    return replace(
        config,
        data_dir=root,
        sip_port=free_port(),
        evapi_port=free_port(),
        confirm_port=free_port(),
        devices=(CALLER, *(f"{e}-desk" for e in EXTENSIONS)),
        # a call to a device still busy (in routing's view) goes to voicemail: answered
        # there and counted apart, not as a failure
        voicemail_uri=f"sip:{{mailbox}}@127.0.0.1:{free_port()}",
        children=4,
    )


def cpu_seconds(root_pid: int) -> float:
    """User + system CPU of a process and its descendants (Kamailio forks its workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    used: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # it exited meanwhile
        fields = text.rsplit(")", 1)[1].split()  # after "pid (comm)"
        pid = int(stat.parent.name)
        parent[pid] = int(fields[1])
        used[pid] = (int(fields[11]) + int(fields[12])) / tick
    total = 0.0
    for pid, seconds in used.items():
        ancestor = pid
        while ancestor not in (root_pid, 0, 1) and ancestor in parent:
            ancestor = parent[ancestor]
        if ancestor == root_pid:
            total += seconds
    return total


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=out)


def sipp(config: KamailioConfig, *args: str, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            "sipp",
            "-i",
            "127.0.0.1",
            "-p",
            str(free_port()),
            "-mp",
            str(free_port()),
            "-nostdin",
            *args,
        ],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def run_mode(static: bool, rates: list[int], seconds: int, s: Any) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="voco-bench-kam-"))
    config = bench_config(root)
    secrets = Secrets.load(config)
    env = {
        **service_env(s.nats_url, f"{s.database_url.rsplit('/', 1)[0]}/bench_kam"),
        "VOCO_KAMAILIO_DIR": str(root),
        "VOCO_KAMAILIO_SIP_PORT": str(config.sip_port),
        "VOCO_KAMAILIO_EVAPI_PORT": str(config.evapi_port),
        "VOCO_KAMAILIO_CONFIRM_PORT": str(config.confirm_port),
        "VOCO_KAMAILIO_DEVICES": ",".join(config.devices),
        "VOCO_KAMAILIO_VOICEMAIL_URI": config.voicemail_uri,
    }
    await create_database(s.database_url, "bench_kam")
    await delete_streams(s.nats_url)
    processes: list[subprocess.Popen[bytes]] = []
    measured: dict[str, int] = {}  # name -> pid, for CPU per call
    proxy = f"127.0.0.1:{config.sip_port}"
    try:
        if not static:
            for module in ("services.presence", "services.routing", "adapters.kamailio"):
                # the adapter logs its offer -> first command figures at info
                level = {"VOCO_LOG_LEVEL": "info"} if module.startswith("adapters") else {}
                args = [sys.executable, "-m", module]
                processes.append(spawn(args, {**env, **level}, root / f"{module}.log"))
                name = "adapter" if module.startswith("adapters") else module.split(".")[1]
                measured[name] = processes[-1].pid
        args = command(config, static_routing=static)
        processes.append(spawn(args, dict(os.environ), root / "kamailio.log"))
        measured["kamailio"] = processes[-1].pid
        await asyncio.sleep(2)
        nc = await nats.connect(s.nats_url)
        if not static:
            for attempt in range(100):  # the services are still starting
                try:
                    for extension in ("1002", *EXTENSIONS):
                        provision = ProvisionUser(extension=extension, display_name="B", **ADMIN)
                        await request(nc, "presence", provision, timeout=2)
                    break
                except CommandError:
                    if attempt == 99:
                        raise
                    await asyncio.sleep(0.2)
        phone_port = free_port()
        phone = sipp(
            config, "-sf", str(SCENARIOS / "uas.xml"), "-d", "1", "-p", str(phone_port), cwd=root
        )
        processes.append(phone)
        voicemail_port = config.voicemail_uri.rsplit(":", 1)[1]
        voicemail = sipp(
            config,
            "-sf",
            str(SCENARIOS / "uas.xml"),
            "-d",
            "1",
            "-p",
            voicemail_port,
            "-trace_logs",
            "-log_file",
            str(root / "voicemail.log"),
            cwd=root,
        )
        processes.append(voicemail)
        for extension in EXTENSIONS:
            device = f"{extension}-desk"
            register = sipp(
                config,
                proxy,
                "-sf",
                str(SCENARIOS / "register.xml"),
                "-m",
                "1",
                "-key",
                "user",
                device,
                "-key",
                "contact_port",
                str(phone_port),
                "-key",
                "expires",
                "3600",
                "-au",
                device,
                "-ap",
                secrets.passwords[device],
                cwd=root,
            )
            assert register.wait(10) == 0, f"{device} did not register"
        if not static:
            last = EXTENSIONS[-1]
            for _ in range(100):
                query = GetPresence(extension=last, **ADMIN)
                devices = (await request(nc, "presence", query))["devices"]
                if devices.get(f"{last}-desk") == "registered":
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1)  # routing's read model follows presence
        await nc.close()
        results = {}
        for rate in rates:
            before = {name: cpu_seconds(pid) for name, pid in measured.items()}
            figures = await load(config, secrets, proxy, rate, seconds, static, root)
            figures["cpu_ms_per_call"] = {
                name: round((cpu_seconds(pid) - before[name]) * 1000 / figures["calls"], 3)
                for name, pid in measured.items()
            }
            results[str(rate)] = figures
        return results
    finally:
        for process in reversed(processes):
            stop_process(process, timeout=5)


async def load(
    config: KamailioConfig,
    secrets: Secrets,
    proxy: str,
    rate: int,
    seconds: int,
    static: bool,
    root: Path,
) -> dict[str, Any]:
    run = root / f"rate{rate}"
    run.mkdir()
    voicemail_log = root / "voicemail.log"
    before = voicemail_log.read_text().count("invite for") if voicemail_log.exists() else 0
    calls = rate * seconds
    scenario = run / "uac_call.xml"  # the callee per call from a CSV (-inf) instead of -s
    scenario.write_text(
        (SCENARIOS / "uac_call.xml")
        .read_text()
        .replace("[service]", "[field1]" if static else "[field0]")
    )
    callees = run / "callees.csv"
    callees.write_text("SEQUENTIAL\n" + "".join(f"{e};{e}-desk\n" for e in EXTENSIONS))
    caller = sipp(
        config,
        proxy,
        "-sf",
        str(scenario),
        "-inf",
        str(callees),
        "-r",
        str(rate),
        "-m",
        str(calls),
        "-d",
        "100",
        "-key",
        "user",
        CALLER,
        "-au",
        CALLER,
        "-ap",
        secrets.passwords[CALLER],
        "-trace_rtt",
        "-rtt_freq",
        "1",
        "-trace_stat",
        "-trace_err",
        "-fd",
        "1",
        "-timeout",
        str(seconds + 30),
        cwd=run,
    )
    code = await asyncio.to_thread(caller.wait)
    samples = []
    for rtt in run.glob("*_rtt.csv"):
        for line in rtt.read_text().splitlines()[1:]:
            fields = line.split(";")
            if len(fields) >= 2:
                samples.append(float(fields[1]))
    failed = successful = 0
    for stat in run.glob("*_.csv"):
        header, *rows = [line.split(";") for line in stat.read_text().splitlines() if line]
        last = dict(zip(header, rows[-1], strict=False)) if rows else {}
        failed = int(last.get("FailedCall(C)", 0) or 0)
        successful = int(last.get("SuccessfulCall(C)", 0) or 0)
    return {
        "calls": calls,
        "successful": successful,
        "failed": failed,
        "to_voicemail": (
            voicemail_log.read_text().count("invite for") if voicemail_log.exists() else 0
        )
        - before,
        "sipp_exit": code,
        "p50_ms": round(percentile(samples, 50), 3),
        "p99_ms": round(percentile(samples, 99), 3),
        "samples": len(samples),
    }


async def main(rates: list[int], seconds: int) -> dict[str, Any]:
    ensure_kamailio()
    ensure_sipp()
    load_before = [round(x, 2) for x in os.getloadavg()]
    with servers() as s:
        static = await run_mode(True, rates, seconds, s)
        voco = await run_mode(False, rates, seconds, s)
    added = {
        rate: {
            "p50_ms": round(voco[rate]["p50_ms"] - static[rate]["p50_ms"], 3),
            "p99_ms": round(voco[rate]["p99_ms"] - static[rate]["p99_ms"], 3),
        }
        for rate in voco
    }
    # the machine's load beside the figures: on a shared machine it moves them most
    return {
        "static": static,
        "voco": voco,
        "voco_adds": added,
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.kamailio", description=__doc__)
    parser.add_argument("--rates", default="50,100,200", help="calls per second, comma-separated")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    result = asyncio.run(main([int(r) for r in args.rates.split(",")], args.seconds))
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for mode in ("static", "voco"):
        for rate, figures in result[mode].items():
            print(
                f"{mode:<7} {rate:>4}/s  INVITE->180 p50 {figures['p50_ms']:.2f} ms  "
                f"p99 {figures['p99_ms']:.2f} ms  ok {figures['successful']}/{figures['calls']}"
                f"  failed {figures['failed']}  to voicemail {figures['to_voicemail']}"
                f"  CPU ms/call {figures['cpu_ms_per_call']}"
            )
    print("voco adds:", json.dumps(result["voco_adds"]))
