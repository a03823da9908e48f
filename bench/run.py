#!/usr/bin/env python3
"""What bluegreen adds to a release, how fast it notices, rolls back and starts, against the simulated cluster.

    python bench/run.py [--repeat N] [--quick] [--json-out PATH] [--client-python PY ...]

The real CLI runs as a subprocess; the simulated cluster runs in this process, so the request log and the
store's change events carry this process's monotonic clock. That lets each figure subtract what the
cluster itself took (as the simulator saw it) instead of guessing it from the configured delay. Compare
ratios within one run, never absolute times across machines.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bluegreen.sim import RequestRecord, SimCluster  # noqa: E402

Obj = dict[str, Any]
APP = "web"
OLD_IMAGE = "registry.example/web:1.0"
NEW_IMAGE = "registry.example/web:2.0"
DEFAULT_OUT = ROOT / "bench" / "results" / "latest.json"
GOALS = {"overhead_s": 1.0, "reaction_s": 0.1, "rollback_s": 0.5, "help_s": 0.25}

# The floor of any Python tool on this client: interpreter, the kubernetes client, the kubeconfig; ready to
# send its first request. os._exit leaves out the interpreter's teardown, so the floor errs low.
FLOOR_SNIPPET = """\
import os, sys
from kubernetes import client, config
c = client.Configuration()
config.load_kube_config(config_file=sys.argv[1], client_configuration=c, persist_config=False)
client.ApiClient(c)
os._exit(0)
"""

# Run under each interpreter compared: the client's costs, split the way bluegreen pays them.
CLIENT_SNIPPET = """\
import json, sys, time
from importlib import metadata
t = time.perf_counter
t0 = t()
from kubernetes import client, config
t1 = t()
c = client.Configuration()
config.load_kube_config(config_file=sys.argv[1], client_configuration=c, persist_config=False)
api = client.ApiClient(c)
t2 = t()
client.CoreV1Api(api); client.AppsV1Api(api)
t3 = t()
print(json.dumps({"python": sys.executable, "kubernetes": metadata.version("kubernetes"),
                  "import_s": t1 - t0, "config_and_apiclient_s": t2 - t1, "typed_apis_s": t3 - t2,
                  "has_param_serialize": hasattr(api, "param_serialize")}))
"""


# ------------------------------------------------------------------------------------------ statistics


def stats(values: Sequence[float]) -> Obj:
    vals = [round(v, 4) for v in values]
    return {"median": round(statistics.median(vals), 4), "min": min(vals), "max": max(vals), "values": vals}


def fmt(s: Obj | None, unit: str = "s") -> str:
    if not s:
        return "n/a"
    k, nd = (1000.0, 0) if unit == "ms" else (1.0, 3)
    return f"{s['median'] * k:.{nd}f} {unit} [{s['min'] * k:.{nd}f}-{s['max'] * k:.{nd}f}]"


# ------------------------------------------------------------------------------------ observing the sim


@dataclass
class Recorder:
    """Every request (stamped when it arrives) and every Deployment/EndpointSlice change (stamped at commit)."""

    requests: list[tuple[float, RequestRecord]] = field(default_factory=list)
    changes: list[tuple[float, str, Obj]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self, sim: SimCluster) -> None:
        sim.on_request(self._on_request)
        sim.store.subscribe(self._on_change)

    def _on_request(self, record: RequestRecord) -> None:
        with self.lock:
            self.requests.append((time.monotonic(), record))

    def _on_change(self, _event: str, resource: str, obj: Obj) -> None:
        if resource in ("deployments", "endpointslices"):
            with self.lock:
                self.changes.append((time.monotonic(), resource, obj))

    def between(self, start: float, end: float) -> list[tuple[float, RequestRecord]]:
        with self.lock:
            return [(t, r) for t, r in self.requests if start <= t <= end]

    def first_change(self, resource: str, after: float, pred: Callable[[Obj], bool]) -> float | None:
        with self.lock:
            return next((t for t, res, o in self.changes if res == resource and t >= after and pred(o)), None)


def fully_available(name: str) -> Callable[[Obj], bool]:
    """The status write after which every replica of the Deployment runs the new template and is available."""

    def pred(d: Obj) -> bool:
        if d["metadata"]["name"] != name:
            return False
        want = (d.get("spec") or {}).get("replicas", 1)
        s = d.get("status") or {}
        return s.get("observedGeneration", 0) >= d["metadata"].get("generation", 0) and all(
            s.get(k, 0) == want for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
        )

    return pred


def endpoints_on(service: str, color: str, count: int) -> Callable[[Obj], bool]:
    """The Service's EndpointSlice lists exactly ``count`` ready pods, all of ``color``."""

    def pred(s: Obj) -> bool:
        if (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name") != service:
            return False
        names = [
            (e.get("targetRef") or {}).get("name", "")
            for e in s.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready") is not False
        ]
        return len(names) == count and all(n.startswith(f"{APP}-{color}-") for n in names)

    return pred


def short(r: RequestRecord) -> str:
    """GET services/web, GET pods?watch: the path after the namespace, with the verb where it differs."""
    path = r.path.split("/namespaces/default/", 1)[-1] if "/namespaces/default/" in r.path else r.path
    path = path.replace("%3A", ":")
    return f"{r.method} {path}" + ("?watch" if r.verb == "watch" else "")


# --------------------------------------------------------------------------------------------- processes


@dataclass
class Run:
    start: float
    end: float
    code: int
    stdout: str
    stderr: str

    @property
    def wall(self) -> float:
        return self.end - self.start


def child_env() -> dict[str, str]:
    # Nothing from a CI the benchmark may itself run in should steer the CLI.
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BLUEGREEN_", "GITHUB_", "INPUT_")) and k != "KUBECONFIG"
    }


def run(argv: Sequence[str], *, check: bool = True) -> Run:
    start = time.monotonic()
    p = subprocess.run(list(argv), capture_output=True, text=True, env=child_env(), timeout=300)
    end = time.monotonic()
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {p.returncode}:\n{p.stderr[-2000:]}")
    return Run(start, end, p.returncode, p.stdout, p.stderr)


def bluegreen_cmd() -> list[str]:
    script = Path(sys.executable).parent / "bluegreen"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bluegreen"]


# ----------------------------------------------------------------------------------------- one release


def release_sample(cli: list[str], replicas: int, ready_delay: float, tmp: Path) -> Obj:
    """One fresh cluster: deploy, then roll back, then a raw kubectl selector patch; the figures of each."""
    sim = SimCluster(ready_delay=ready_delay).start()
    try:
        kc = str(sim.write_kubeconfig(tmp / f"kubeconfig-{replicas}"))
        sim.seed_app(APP, image=OLD_IMAGE, replicas=replicas, color="blue")
        rec = Recorder()
        rec.attach(sim)
        sample = deploy_figures(
            rec,
            run(
                [
                    *cli,
                    "deploy",
                    "-s",
                    APP,
                    "-i",
                    NEW_IMAGE,
                    "--smoke-path",
                    "/healthz",
                    "--json",
                    "--kubeconfig",
                    kc,
                ]
            ),
        )
        sample.update(rollback_figures(rec, cli, kc, replicas))
        sample.update(kubectl_figures(rec, kc, replicas))
        return sample
    finally:
        sim.stop()


def deploy_figures(rec: Recorder, r: Run) -> Obj:
    out = json.loads(r.stdout)
    reqs = rec.between(r.start, r.end)
    create = next(t for t, q in reqs if q.method == "POST" and q.resource == "deployments")
    available = rec.first_change("deployments", create, fully_available(f"{APP}-green"))
    if available is None:
        raise RuntimeError("the simulator never saw deployment web-green become available")
    # The tool's first request after the Deployment became available, leaving out lease renewals (timer-driven).
    after = [(t, q) for t, q in reqs if t > available and q.resource != "leases"]
    readiness = available - create
    smoke = sum(float(s["seconds"]) for s in out.get("smoke") or [])
    overhead = r.wall - readiness - smoke
    to_first, after_last = reqs[0][0] - r.start, r.end - reqs[-1][0]
    return {
        "wall": r.wall,
        "readiness": readiness,
        "smoke": smoke,
        "overhead": overhead,
        # the overhead, split: process start -> first request, the tool's own time in the release, exit
        "to_first_request": to_first,
        "in_release": overhead - to_first - after_last,
        "after_last_request": after_last,
        "reaction": after[0][0] - available if after else None,
        "reaction_request": short(after[0][1]) if after else None,
        "requests": [short(q) for _, q in reqs],
        "cli_timings": out.get("timings"),
    }


def rollback_figures(rec: Recorder, cli: list[str], kc: str, replicas: int) -> Obj:
    r = run([*cli, "rollback", "-s", APP, "--json", "--kubeconfig", kc])
    switched = rec.first_change("endpointslices", r.start, endpoints_on(APP, "blue", replicas))
    reqs = rec.between(r.start, r.end)
    return {
        "rollback_wall": r.wall,
        "rollback_to_endpoints": None if switched is None else switched - r.start,
        "rollback_to_first_request": reqs[0][0] - r.start,
        "rollback_requests": [short(q) for _, q in reqs],
    }


def kubectl_figures(rec: Recorder, kc: str, replicas: int) -> Obj:
    kubectl = shutil.which("kubectl") or ("/usr/bin/kubectl" if Path("/usr/bin/kubectl").exists() else None)
    if kubectl is None:
        return {"kubectl_wall": None, "kubectl_to_endpoints": None}
    patch = json.dumps({"spec": {"selector": {"app": APP, "version": "green"}}})
    r = run([kubectl, "--kubeconfig", kc, "patch", "service", APP, "--type", "merge", "-p", patch])
    switched = rec.first_change("endpointslices", r.start, endpoints_on(APP, "green", replicas))
    return {"kubectl_wall": r.wall, "kubectl_to_endpoints": None if switched is None else switched - r.start}


# ---------------------------------------------------------------------------------------- the sections


def measure_releases(
    cli: list[str], replica_counts: Sequence[int], repeat: int, ready_delay: float, tmp: Path
) -> dict[int, list[Obj]]:
    samples: dict[int, list[Obj]] = {n: [] for n in replica_counts}
    for i in range(repeat):  # interleave the replica counts so drift in the machine hits each alike
        for n in replica_counts:
            print(f"  release {i + 1}/{repeat}, replicas={n}", file=sys.stderr, flush=True)
            samples[n].append(release_sample(cli, n, ready_delay, tmp))
    return samples


def summarize_releases(samples: dict[int, list[Obj]], floor: Obj) -> Obj:
    def col(n: int, key: str) -> Obj | None:
        vals = [s[key] for s in samples[n] if s.get(key) is not None]
        return stats(vals) if vals else None

    overhead, reaction, rollback, requests = {}, {}, {}, {}
    for n in samples:
        overhead[str(n)] = {
            k: col(n, k)
            for k in (
                "wall",
                "readiness",
                "smoke",
                "overhead",
                "to_first_request",
                "in_release",
                "after_last_request",
            )
        }
        overhead[str(n)]["cli_timings"] = samples[n][0]["cli_timings"]
        reaction[str(n)] = {"seconds": col(n, "reaction"), "next_request": samples[n][0]["reaction_request"]}
        rb: Obj = {
            k: col(n, k)
            for k in (
                "rollback_to_endpoints",
                "rollback_wall",
                "rollback_to_first_request",
                "kubectl_to_endpoints",
                "kubectl_wall",
            )
        }
        rb["ratio_to_kubectl"] = _ratio(rb["rollback_to_endpoints"], rb["kubectl_to_endpoints"])
        rb["ratio_to_python_floor"] = _ratio(rb["rollback_to_endpoints"], floor)
        rb["requests"] = samples[n][0]["rollback_requests"]
        rollback[str(n)] = rb
        counts = sorted({len(s["requests"]) for s in samples[n]})
        requests[str(n)] = {
            "count": counts[0] if len(counts) == 1 else counts,
            "list": samples[n][0]["requests"],
        }
    return {"overhead": overhead, "reaction": reaction, "rollback": rollback, "requests": requests}


def _ratio(a: Obj | None, b: Obj | None) -> float | None:
    return round(a["median"] / b["median"], 2) if a and b and b["median"] else None


def measure_floor(repeat: int, kubeconfig: Path) -> Obj:
    return stats([run([sys.executable, "-c", FLOOR_SNIPPET, str(kubeconfig)]).wall for _ in range(repeat)])


def measure_startup(cli: list[str], repeat: int, ready_delay: float, tmp: Path) -> Obj:
    help_ = [run([*cli, "--help"]).wall for _ in range(repeat)]
    with SimCluster(ready_delay=ready_delay) as sim:
        kc = str(sim.write_kubeconfig(tmp / "kubeconfig-status"))
        sim.seed_app(APP, image=OLD_IMAGE, replicas=3, color="blue")
        status = [run([*cli, "status", "-s", APP, "--kubeconfig", kc]).wall for _ in range(repeat)]
    return {"help": stats(help_), "status": stats(status), "importtime_help": importtime_help()}


def importtime_help(top: int = 8) -> list[Obj]:
    """The heaviest imports of `bluegreen --help` (cumulative, as `python -X importtime` reports them)."""
    r = run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-c",
            "import sys; sys.argv = ['bluegreen', '--help']; from bluegreen.cli import main; main()",
        ],
        check=False,
    )
    rows: list[tuple[float, str]] = []
    for line in r.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = (p.strip() for p in line.removeprefix("import time:").split("|"))
        rows.append((int(cumulative) / 1e6, name))
    rows.sort(reverse=True)
    return [{"module": name, "cumulative_s": round(seconds, 4)} for seconds, name in rows[:top]]


def measure_clients(pythons: Sequence[str], repeat: int, kubeconfig: Path) -> list[Obj]:
    """The kubernetes client's import and construction costs under each interpreter (one version each)."""
    out = []
    for py in pythons:
        runs = [json.loads(run([py, "-c", CLIENT_SNIPPET, str(kubeconfig)]).stdout) for _ in range(repeat)]
        out.append(
            {
                "python": py,
                "kubernetes": runs[0]["kubernetes"],
                "bluegreen_compatible": runs[0]["has_param_serialize"],
                **{
                    k: stats([x[k] for x in runs])
                    for k in ("import_s", "config_and_apiclient_s", "typed_apis_s")
                },
            }
        )
    return out


def image_size() -> Obj:
    """The built image: podman's default store, else the private store of .ci/image-test.sh (read only)."""
    podman = shutil.which("podman")
    if podman is None:
        return {"size_bytes": None, "note": "not built (no podman)"}
    ci_conf = ROOT / ".ci" / "work" / "image-test" / "storage.conf"
    candidates = [
        ({}, "localhost/bluegreen"),
        ({"CONTAINERS_STORAGE_CONF": str(ci_conf)}, "localhost/bluegreen:ci"),
    ]
    for extra, ref in candidates:
        if extra and not ci_conf.exists():
            continue
        with contextlib.suppress(subprocess.TimeoutExpired):
            p = subprocess.run(
                [podman, "image", "inspect", ref, "--format", "{{.Size}} {{.Created}}"],
                capture_output=True,
                text=True,
                timeout=30,
                env={**os.environ, **extra},
            )
            size, _, created = p.stdout.strip().partition(" ")
            if p.returncode == 0 and size.isdigit():
                where = " (store of .ci/image-test.sh)" if extra else ""
                return {
                    "size_bytes": int(size),
                    "note": f"podman image inspect {ref}{where}, built {created[:19]}",
                }
    return {"size_bytes": None, "note": "not built"}


# ------------------------------------------------------------------------------------------------ report


def goals(res: Obj) -> Obj:
    over = [v["overhead"]["median"] for v in res["overhead"].values()]
    react = [v["seconds"]["median"] for v in res["reaction"].values() if v["seconds"]]
    rb = [
        v["rollback_to_endpoints"]["median"] for v in res["rollback"].values() if v["rollback_to_endpoints"]
    ]
    counts = {json.dumps(v["count"]) for v in res["requests"].values()}
    return {
        "overhead_under_1s": max(over) < GOALS["overhead_s"],
        "overhead_flat_in_replicas": max(over) - min(over) < 0.1,
        "reaction_under_100ms": bool(react) and max(react) < GOALS["reaction_s"],
        "rollback_under_0_5s": bool(rb) and max(rb) < GOALS["rollback_s"],
        "requests_same_for_all_replica_counts": len(counts) == 1,
        "help_under_0_25s": res["startup"]["help"]["median"] < GOALS["help_s"],
    }


def render(res: Obj) -> str:
    m, st = res["machine"], res["settings"]
    head = [
        f"bluegreen bench: {m['nproc']} CPUs, Python {m['python']}, kubernetes {m['kubernetes']}, pod ready "
        f"delay {st['ready_delay']:g} s, {st['repeat']} run(s) per figure; cells: median [min-max]",
        "",
    ]
    parts = [
        head,
        _render_overhead(res),
        _render_reaction(res),
        _render_rollback(res),
        _render_requests(res),
        _render_startup(res),
    ]
    img = res["image"]
    size = f"{img['size_bytes'] / 1e6:.1f} MB ({img['note']})" if img["size_bytes"] else img["note"]
    tail = [
        f"6. Image: {size}",
        "",
        "Goals: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in res["goals"].items()),
    ]
    return "\n".join(line for part in [*parts, tail] for line in part)


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    """Cells padded to their column's width; cells past the last width are left as they are."""
    padded = [c.ljust(widths[i]) if i < len(widths) else c for i, c in enumerate(cells)]
    return ("   " + "".join(padded)).rstrip()


def _render_overhead(res: Obj) -> list[str]:
    w = (10, 24, 24, 16, 24)
    out = [
        f"1. Overhead of `bluegreen deploy` = wall - readiness (as the simulator saw it) - smoke checks   "
        f"goal < {GOALS['overhead_s']:g} s, flat in replicas",
        _row(("replicas", "wall", "readiness", "smoke", "OVERHEAD"), w),
    ]
    out += [
        _row((n, fmt(v["wall"]), fmt(v["readiness"]), fmt(v["smoke"], "ms"), fmt(v["overhead"])), w)
        for n, v in res["overhead"].items()
    ]
    out += [
        "   the overhead, split:",
        _row(
            ("replicas", "start->1st request", "tool's time in release", "last request->exit"),
            (10, 24, 24, 24),
        ),
    ]
    out += [
        _row(
            (n, fmt(v["to_first_request"]), fmt(v["in_release"]), fmt(v["after_last_request"])), (10, 24, 24)
        )
        for n, v in res["overhead"].items()
    ]
    return [*out, ""]


def _render_reaction(res: Obj) -> list[str]:
    out = [
        f"2. Reaction: Deployment available (controller's status write) -> the tool's next request   "
        f"goal < {GOALS['reaction_s'] * 1000:g} ms"
    ]
    out += [
        _row((n, fmt(v["seconds"], "ms"), f"next request: {v['next_request']}"), (10, 24))
        for n, v in res["reaction"].items()
    ]
    return [*out, ""]


def _render_rollback(res: Obj) -> list[str]:
    w = (10, 24, 24, 24, 24, 11)
    out = [
        f"3. Rollback: process start -> live endpoints on the previous colour   goal < {GOALS['rollback_s']:g} s",
        f"   python floor (interpreter + kubernetes client + kubeconfig, no teardown): {fmt(res['python_floor'])}",
        _row(
            (
                "replicas",
                "bluegreen rollback",
                "(its 1st request)",
                "(its exit)",
                "kubectl patch",
                "x kubectl",
                "x python floor",
            ),
            w,
        ),
    ]
    out += [
        _row(
            (
                n,
                fmt(v["rollback_to_endpoints"]),
                fmt(v["rollback_to_first_request"]),
                fmt(v["rollback_wall"]),
                fmt(v["kubectl_to_endpoints"]),
                _x(v["ratio_to_kubectl"]),
                _x(v["ratio_to_python_floor"]),
            ),
            w,
        )
        for n, v in res["rollback"].items()
    ]
    first = next(iter(res["rollback"].values()))
    out.append(
        f"   rollback requests ({len(first['requests'])}): " + _wrap(", ".join(first["requests"]), "      ")
    )
    return [*out, ""]


def _render_requests(res: Obj) -> list[str]:
    counts = ", ".join(f"replicas {n}: {v['count']}" for n, v in res["requests"].items())
    first = next(iter(res["requests"].values()))["list"]
    return [
        "4. API requests per release   goal: the same for every replica count, nothing per pod",
        f"   {counts}",
        "   " + _wrap(", ".join(first), "   "),
        "",
    ]


def _render_startup(res: Obj) -> list[str]:
    su = res["startup"]
    out = [
        f"5. Start-up   goal: --help < {GOALS['help_s']:g} s",
        f"   bluegreen --help  {fmt(su['help'])}",
        f"   bluegreen status  {fmt(su['status'])}",
        "   heaviest imports of --help (cumulative): "
        + _wrap(
            ", ".join(f"{x['module']} {x['cumulative_s'] * 1000:.0f} ms" for x in su["importtime_help"]),
            "      ",
        ),
    ]
    for c in res["clients"]:
        out += [
            f"   kubernetes {c['kubernetes']} ({c['python']}): import {fmt(c['import_s'])}",
            f"      Configuration + kubeconfig + ApiClient {fmt(c['config_and_apiclient_s'], 'ms')}; "
            f"CoreV1Api() + AppsV1Api() {fmt(c['typed_apis_s'])} (bluegreen constructs neither); "
            f"ApiClient.param_serialize, which bluegreen uses: {'yes' if c['bluegreen_compatible'] else 'MISSING'}",
        ]
    return [*out, ""]


def _x(r: float | None) -> str:
    return "n/a" if r is None else f"{r:.2f}x"


def _wrap(text: str, indent: str, width: int = 110) -> str:
    lines, cur = [], ""
    for part in text.split(", "):
        if cur and len(cur) + len(part) + 2 > width - len(indent):
            lines.append(cur + ",")
            cur = part
        else:
            cur = f"{cur}, {part}" if cur else part
    return f"\n{indent}".join([*lines, cur])


# -------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="runs per figure (default 5)")
    ap.add_argument("--quick", action="store_true", help="one run per figure and a short readiness delay")
    ap.add_argument(
        "--ready-delay", type=float, default=None, help="simulated pod readiness delay (default 0.5 s)"
    )
    ap.add_argument("--replicas", type=int, nargs="+", default=[1, 10, 50])
    ap.add_argument(
        "--client-python",
        action="append",
        default=[],
        metavar="PY",
        help="also measure the kubernetes client under this interpreter (e.g. a venv with another "
        "version); repeatable",
    )
    ap.add_argument("--json-out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    repeat = 1 if args.quick else max(1, args.repeat)
    ready_delay = args.ready_delay if args.ready_delay is not None else (0.2 if args.quick else 0.5)
    cli = bluegreen_cmd()

    with tempfile.TemporaryDirectory(prefix="bluegreen-bench-") as d:
        tmp = Path(d)
        print("measuring releases...", file=sys.stderr, flush=True)
        samples = measure_releases(cli, args.replicas, repeat, ready_delay, tmp)
        kc = tmp / f"kubeconfig-{args.replicas[0]}"  # the file outlives its cluster; loading is all we need
        print("measuring the python floor, start-up and the client...", file=sys.stderr, flush=True)
        floor = measure_floor(repeat, kc)
        res: Obj = {
            "machine": {
                "nproc": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "kubernetes": metadata.version("kubernetes"),
            },
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "settings": {
                "repeat": repeat,
                "ready_delay": ready_delay,
                "replicas": args.replicas,
                "cli": " ".join(cli),
                "goals": GOALS,
            },
            **summarize_releases(samples, floor),
            "python_floor": floor,
            "startup": measure_startup(cli, repeat, ready_delay, tmp),
            "clients": measure_clients([sys.executable, *args.client_python], repeat, kc),
            "image": image_size(),
        }
    res["goals"] = goals(res)
    print(render(res))
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(res, indent=2) + "\n")
    with contextlib.suppress(ValueError):
        print(f"\nwrote {args.json_out.resolve().relative_to(Path.cwd())}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
