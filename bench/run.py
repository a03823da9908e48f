#!/usr/bin/env python3
"""bluegreen against its baselines, side by side, over TLS with a token, at 0, 20 and 50 ms per request.

    python bench/run.py [--samples N] [--latencies MS ...] [--replicas N ...] [--json-out PATH]

One simulated cluster per latency runs in this process for the whole run (fixed port, so kubectl's
discovery cache stays warm). Every sample measures every variant at every latency, back to back, in an
order rotated from one sample to the next, so that machine noise hits the variants alike; the figures are
medians and minimums over the samples, with n. Round trips are counted at the simulator (sim.stats). See
bench/README.md for the method and the meaning of each baseline. Compare ratios within one run, never
absolute times across machines.
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
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bluegreen.sim import SimCluster  # noqa: E402

Obj = dict[str, Any]
RESULTS = ROOT / "bench" / "results"
NOT_API = ("proxy", "log", "discovery")  # smoke traffic to the app, pod logs, client discovery
READY_DELAY = 0.2  # simulated pod readiness; subtracted from the overhead, so its value hardly matters
RB_IMAGES = ("registry.example/rb:1", "registry.example/rb:2")
# Goals that can fail, all checked in the same run.
KUBECTL_RATIO_AT_MS = 20
KUBECTL_RATIO_MAX = 2.5
FLAT_FACTOR, FLAT_SLACK_S = 1.25, 0.05
MAX_ROUND_TRIPS = {"deploy": 8, "rollback": 4}
KUBECTL_CANDIDATES = (Path("/root/.cache/bluegreen-e2e/v1.37.2/kubectl"),)

# The Python floor: a fresh interpreter, the official client, the kubeconfig, one GET of the Service, sent
# the way bluegreen sends it (ApiClient's REST layer, plain JSON: constructing the typed CoreV1Api costs
# ~0.7 s in kubernetes 37 and would make the floor look higher than what any careful tool pays).
PY_FLOOR = """\
import os, sys
from kubernetes import client, config
c = client.Configuration()
config.load_kube_config(config_file=sys.argv[1], client_configuration=c, persist_config=False)
api = client.ApiClient(c)
p = api.param_serialize(method="GET", resource_path=f"/api/v1/namespaces/default/services/{sys.argv[2]}",
                        header_params={"Accept": "application/json"}, auth_settings=["BearerToken"])
r = api.call_api(*p)
r.read()
sys.stdout.flush()
os._exit(0 if r.status == 200 else 1)
"""

# The standard-library floor: the same conditional JSON patch kubectl sends, with http.client and ssl.
STDLIB_FLOOR = """\
import http.client, json, ssl, sys
host, port, ca, token, name, rv, color = sys.argv[1:8]
ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": rv},
       {"op": "replace", "path": "/spec/selector", "value": {"app": name, "version": color}}]
c = http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(cafile=ca))
c.request("PATCH", f"/api/v1/namespaces/default/services/{name}", json.dumps(ops),
          {"Authorization": f"Bearer {token}", "Content-Type": "application/json-patch+json"})
r = c.getresponse(); r.read()
sys.exit(0 if r.status == 200 else 1)
"""


# ------------------------------------------------------------------------------------------ statistics


def summary(values: Sequence[float]) -> Obj | None:
    if not values:
        return None
    vals = [round(v, 4) for v in values]
    return {"median": round(statistics.median(vals), 4), "min": min(vals), "n": len(vals), "values": vals}


def ms(s: Obj | None) -> str:
    return "n/a" if not s else f"{s['median'] * 1000:.0f} / {s['min'] * 1000:.0f}"


# --------------------------------------------------------------------------------------------- processes


def child_env() -> dict[str, str]:
    """Nothing from a CI the benchmark may itself run in steers the children; they import this checkout."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BLUEGREEN_", "GITHUB_", "INPUT_")) and k not in ("KUBECONFIG", "PYTHONPATH")
    }
    return {**env, "PYTHONPATH": str(ROOT)}


@dataclass
class Run:
    wall: float
    code: int
    stdout: str
    stderr: str


def run(argv: Sequence[str], *, check: bool = True) -> Run:
    start = time.monotonic()
    p = subprocess.run(list(argv), capture_output=True, text=True, env=child_env(), cwd=ROOT, timeout=300)
    wall = time.monotonic() - start
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {p.returncode}:\n{p.stderr[-2000:]}")
    return Run(wall, p.returncode, p.stdout, p.stderr)


def find_kubectl() -> tuple[str | None, str]:
    """The e2e lane's kubectl if built (a known recent version), else the one on PATH."""
    for path in KUBECTL_CANDIDATES:
        if path.exists():
            return str(path), f"{path} (built by the e2e lane)"
    found = shutil.which("kubectl")
    return (found, found) if found else (None, "no kubectl: its column is skipped")


# The three ways to start the CLI: what the image runs, `python -m`, and the console script's own code
# (run with this interpreter: the installed script's shebang may point at another checkout's venv).
PATHS: dict[str, list[str]] = {
    "entrypoint": [sys.executable, str(ROOT / "entrypoint.py")],
    "module": [sys.executable, "-m", "bluegreen"],
    "console": [sys.executable, "-c", "import sys; from bluegreen.cli import run; sys.exit(run())"],
}


# ------------------------------------------------------------------------------------------ one latency


@dataclass
class Cell:
    """One simulated cluster at one latency, alive for the whole run."""

    latency_ms: int
    replicas: Sequence[int]
    tmp: Path
    kubectl: str | None
    sim: SimCluster = field(init=False)
    kubeconfig: str = field(init=False)
    token: str = field(init=False)
    rb_next: int = 0  # which of RB_IMAGES the next rollback goes to
    kc_color: str = "blue"  # the Service the baselines patch flips between colours
    deploys: int = 0

    def start(self) -> Cell:
        self.sim = SimCluster(ready_delay=READY_DELAY, latency=self.latency_ms / 1000, tls=True, auth=True)
        self.sim.start()
        self.token = self.sim.issue_token(ttl=24 * 3600)
        self.kubeconfig = str(self.sim.write_kubeconfig(self.tmp / f"kc-{self.latency_ms}", token=self.token))
        for n in self.replicas:
            self.sim.seed_app(f"web{n}", image="registry.example/web:0", replicas=n, color="blue")
        self.sim.seed_app("rb", image="registry.example/rb:0", replicas=1, color="blue")
        self.sim.seed_app("kc", image="registry.example/kc:0", replicas=1, color="blue")
        # Two releases, so that rollbacks can alternate between them (`rollback --to`) without a deploy.
        for image in RB_IMAGES:
            self.cli(PATHS["module"], "deploy", "-s", "rb", "-i", image)
        self.rb_next = 0
        if self.kubectl:  # warm kubectl's discovery cache for this port
            self.kubectl_patch()
        return self

    def stop(self) -> None:
        self.sim.stop()

    def measure(self, fn: Callable[[], Run]) -> tuple[Run, Obj]:
        mark = self.sim.mark()
        r = fn()
        st = self.sim.stats(since=mark, exclude=NOT_API)
        kinds = Counter(
            f"{q.method} {q.resource}{'/' + q.subresource if q.subresource else ''} {q.verb}"
            for q in self.sim.requests
            if q.started >= mark.at and q.resource and q.subresource not in ("proxy", "log")
        )
        return r, {
            "wall": r.wall,
            "round_trips": st.round_trips,
            "requests": st.requests,
            "connections": st.connections,
            "kinds": dict(sorted(kinds.items())),
        }

    def cli(self, path: list[str], *args: str) -> Run:
        return run([*path, *args, "--json", "--kubeconfig", self.kubeconfig])

    # ---- the variants ----

    def deploy(self, n: int) -> Obj:
        self.deploys += 1
        image = f"registry.example/web:{self.deploys}"
        r, m = self.measure(
            lambda: self.cli(
                PATHS["module"], "deploy", "-s", f"web{n}", "-i", image, "--smoke-path", "/healthz"
            )
        )
        steps = {t["step"]: float(t["seconds"]) for t in json.loads(r.stdout).get("timings") or []}
        m["ready"], m["smoke"] = steps.get("ready", 0.0), steps.get("smoke", 0.0)
        m["overhead"] = r.wall - m["ready"] - m["smoke"]
        m["timings"] = steps
        return m

    def rollback(self, path: str) -> Obj:
        image = RB_IMAGES[self.rb_next]
        self.rb_next = 1 - self.rb_next
        r, m = self.measure(lambda: self.cli(PATHS[path], "rollback", "-s", "rb", "--to", image))
        result = json.loads(r.stdout).get("result")
        if result != "rolled-back":
            raise RuntimeError(f"rollback --to {image} via {path}: {result}")
        return m

    def _next_kc(self) -> tuple[str, str]:
        rv = self.sim.get("services", "default", "kc")["metadata"]["resourceVersion"]
        self.kc_color = "green" if self.kc_color == "blue" else "blue"
        return rv, self.kc_color

    def kubectl_patch(self) -> Obj:
        assert self.kubectl
        rv, color = self._next_kc()
        ops = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
            {"op": "replace", "path": "/spec/selector", "value": {"app": "kc", "version": color}},
        ]
        argv = [self.kubectl, "--kubeconfig", self.kubeconfig, "--cache-dir", str(self.tmp / "kube-cache")]
        return self.measure(
            lambda: run([*argv, "patch", "service", "kc", "--type=json", "-p", json.dumps(ops)])
        )[1]

    def python_floor(self) -> Obj:
        return self.measure(lambda: run([sys.executable, "-c", PY_FLOOR, self.kubeconfig, "kc"]))[1]

    def stdlib_floor(self) -> Obj:
        rv, color = self._next_kc()
        host, port = self.sim.url.removeprefix("https://").rsplit(":", 1)
        argv = [
            sys.executable,
            "-c",
            STDLIB_FLOOR,
            host,
            port,
            str(self.sim.ca_file),
            self.token,
            "kc",
            rv,
            color,
        ]
        return self.measure(lambda: run(argv))[1]

    def help(self) -> Obj:
        return self.measure(lambda: run([*PATHS["module"], "status", "--help"]))[1]

    def variants(self) -> dict[str, Callable[[], Obj]]:
        out: dict[str, Callable[[], Obj]] = {}
        for n in self.replicas:
            out[f"deploy_{n}"] = lambda n=n: self.deploy(n)  # type: ignore[misc]
        for path in PATHS:
            out[f"rollback_{path}"] = lambda path=path: self.rollback(path)  # type: ignore[misc]
        if self.kubectl:
            out["kubectl_patch"] = self.kubectl_patch
        out["python_floor"] = self.python_floor
        out["stdlib_floor"] = self.stdlib_floor
        out["help"] = self.help
        return out


# ------------------------------------------------------------------------------------------ start-up


def importtime(argv: Sequence[str]) -> Obj:
    """`python -X importtime` of a command: everything imported, what kubernetes accounts for, the heaviest."""
    r = run([sys.executable, "-X", "importtime", *argv], check=False)
    rows: list[tuple[int, int, str]] = []  # (cumulative us, indent, name)
    for line in r.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = line.removeprefix("import time:").split("|")
        rows.append((int(cumulative), len(name) - len(name.lstrip()), name.strip()))
    top_indent = min((i for _, i, _ in rows), default=0)
    total = sum(c for c, i, _ in rows if i == top_indent)
    kube = sum(c for c, _, n in rows if n == "kubernetes")
    heavy = sorted(((c, n) for c, _, n in rows), reverse=True)
    return {
        "argv": " ".join(argv),
        "exit_code": r.code,
        "imports_s": round(total / 1e6, 4),
        "kubernetes_s": round(kube / 1e6, 4),
        "kubernetes_imported": any(n == "kubernetes" for _, _, n in rows),
        "heaviest": [{"module": n, "cumulative_s": round(c / 1e6, 4)} for c, n in heavy[:8]],
    }


def measure_startup(cell: Cell, repeat: int) -> Obj:
    """The least of ``repeat`` runs of each (importtime's own overhead is the same in both)."""
    commands = {
        "status_help": ["-m", "bluegreen", "status", "--help"],
        "status": ["-m", "bluegreen", "status", "-s", "rb", "--kubeconfig", cell.kubeconfig],
    }
    out: Obj = {}
    for key, argv in commands.items():
        runs = [importtime(argv) for _ in range(repeat)]
        out[key] = min(runs, key=lambda x: x["imports_s"])
    return out


def image_size() -> Obj:
    """The image the last image test built (.ci/image-test.sh's private store), else podman's default store."""
    podman = shutil.which("podman")
    if podman is None:
        return {"size_bytes": None, "note": "not measured in this run (no podman)"}
    ci_conf = ROOT / ".ci" / "work" / "image-test" / "storage.conf"
    candidates = [
        ({"CONTAINERS_STORAGE_CONF": str(ci_conf)}, "localhost/bluegreen:ci"),
        ({}, "localhost/bluegreen"),
    ]
    for extra, ref in candidates:
        if extra and not ci_conf.exists():
            continue
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            p = subprocess.run(
                [podman, "image", "inspect", ref, "--format", "{{.Size}} {{.Created}}"],
                capture_output=True,
                text=True,
                timeout=30,
                env={**os.environ, **extra},
            )
            size, _, created = p.stdout.strip().partition(" ")
            if p.returncode == 0 and size.isdigit():
                return {"size_bytes": int(size), "note": f"podman image inspect {ref}, built {created[:19]}"}
    return {"size_bytes": None, "note": "not measured in this run (no image built)"}


# ------------------------------------------------------------------------------------------- the run


def measure(cells: Sequence[Cell], samples: int) -> dict[int, dict[str, list[Obj]]]:
    raw: dict[int, dict[str, list[Obj]]] = {c.latency_ms: {} for c in cells}
    for i in range(samples):
        for cell in cells:
            variants = list(cell.variants().items())
            k = i % len(variants)  # rotate the order: no variant always runs first (or last)
            for name, fn in variants[k:] + variants[:k]:
                print(
                    f"  sample {i + 1}/{samples}, {cell.latency_ms} ms: {name}", file=sys.stderr, flush=True
                )
                raw[cell.latency_ms].setdefault(name, []).append(fn())
    return raw


def summarize(raw: dict[int, dict[str, list[Obj]]]) -> Obj:
    out: Obj = {}
    for lat, variants in raw.items():
        cell: Obj = {}
        for name, ms_ in variants.items():
            v: Obj = {"wall": summary([m["wall"] for m in ms_])}
            if name.startswith("deploy_"):
                for key in ("overhead", "ready", "smoke"):
                    v[key] = summary([m[key] for m in ms_])
            for key in ("round_trips", "requests", "connections"):
                vals = sorted({m[key] for m in ms_})
                v[key] = vals[0] if len(vals) == 1 else vals
            kinds = {json.dumps(m["kinds"], sort_keys=True) for m in ms_}
            v["kinds"] = ms_[0]["kinds"] if len(kinds) == 1 else [json.loads(k) for k in sorted(kinds)]
            cell[name] = v
        out[str(lat)] = cell
    return out


def _max(x: int | list[int]) -> int:
    return max(x) if isinstance(x, list) else x


def goals(res: Obj, replicas: Sequence[int]) -> Obj:
    g: Obj = {}
    lat = res["latencies"]
    at = lat.get(str(KUBECTL_RATIO_AT_MS))
    if at and "kubectl_patch" in at:
        k = at["kubectl_patch"]["wall"]["median"]
        worst = max(at[f"rollback_{p}"]["wall"]["median"] for p in PATHS)
        g["rollback_within_2_5x_kubectl_at_20ms"] = {
            "ok": worst <= KUBECTL_RATIO_MAX * k,
            "ratio": round(worst / k, 2),
        }
    else:
        g["rollback_within_2_5x_kubectl_at_20ms"] = {
            "ok": None,
            "note": "not measured (no kubectl or no 20 ms)",
        }
    lo, hi = min(replicas), max(replicas)
    flat = {}
    for ms_, cell in lat.items():
        a, b = cell[f"deploy_{lo}"]["overhead"]["median"], cell[f"deploy_{hi}"]["overhead"]["median"]
        flat[ms_] = {"ok": b <= FLAT_FACTOR * a + FLAT_SLACK_S, f"{lo}": a, f"{hi}": b}
    g["overhead_flat_in_replicas"] = {"ok": all(v["ok"] for v in flat.values()), "by_latency_ms": flat}
    rts: Obj = {}
    for ms_, cell in lat.items():
        if int(ms_) == 0:
            continue  # without latency, parallel requests need not overlap: counts need a delay (sim/stats.py)
        for cmd, limit in MAX_ROUND_TRIPS.items():
            worst = max(_max(v["round_trips"]) for k, v in cell.items() if k.startswith(f"{cmd}_"))
            rts[f"{cmd}@{ms_}ms"] = {"ok": worst <= limit, "round_trips": worst, "max": limit}
    g["round_trips"] = {"ok": all(v["ok"] for v in rts.values()), "by_command": rts}
    same = all(
        len({json.dumps(cell[f"deploy_{n}"]["kinds"], sort_keys=True) for n in replicas}) == 1
        for cell in lat.values()
    )
    g["requests_same_for_all_replica_counts"] = {"ok": same}
    return g


# ------------------------------------------------------------------------------------------------ report


def render(res: Obj) -> str:
    m, st = res["machine"], res["settings"]
    lats = list(res["latencies"])
    names = list(res["latencies"][lats[0]])
    w0, w = 34, 22
    head = [
        f"bluegreen bench: {m['nproc']} CPUs, Python {m['python']}, kubernetes {m['kubernetes']}; TLS + token; "
        f"n={st['samples']} paired samples; cells: median / min ms, then serial round trips",
        f"kubectl: {st['kubectl']}",
        "",
        "".ljust(w0) + "".join(f"{lat} ms".ljust(w) for lat in lats),
    ]
    label = {
        "rollback_entrypoint": "rollback: python entrypoint.py",
        "rollback_module": "rollback: python -m bluegreen",
        "rollback_console": "rollback: console script",
        "kubectl_patch": "kubectl patch --type=json",
        "python_floor": "python floor (client + 1 GET)",
        "stdlib_floor": "stdlib floor (http.client PATCH)",
        "help": "bluegreen status --help",
    }
    rows = []
    for name in names:
        if name.startswith("deploy_"):
            n = name.removeprefix("deploy_")
            key, text = "overhead", f"deploy overhead, {n} replica{'s' if n != '1' else ''}"
        else:
            key, text = "wall", label.get(name, name)
        cells = []
        for lat in lats:
            v = res["latencies"][lat][name]
            rt = f" ({v['round_trips']} rt)" if lat != "0" else ""  # counts need a latency (sim/stats.py)
            cells.append(f"{ms(v[key])}{rt}".ljust(w))
        rows.append(text.ljust(w0) + "".join(cells))
    su = res["startup"]
    tail = [
        "",
        "deploy overhead = deploy wall - its 'ready' and 'smoke' steps (CLI --json timings)",
        f"start-up: imports of `status --help` {su['status_help']['imports_s'] * 1000:.0f} ms (kubernetes "
        f"{'imported' if su['status_help']['kubernetes_imported'] else 'not imported'}); of `status` "
        f"{su['status']['imports_s'] * 1000:.0f} ms, of which kubernetes {su['status']['kubernetes_s'] * 1000:.0f} ms",
        f"image: {res['image']['size_bytes'] / 1e6:.1f} MB ({res['image']['note']})"
        if res["image"]["size_bytes"]
        else f"image: {res['image']['note']}",
        "",
        "Goals: " + ", ".join(f"{k} {_ok(v['ok'])}" for k, v in res["goals"].items()),
    ]
    return "\n".join(head + rows + tail)


def markdown(res: Obj) -> str:
    """The README's Performance section, every figure read from ``res`` (medians, ms; n samples)."""
    lats = list(res["latencies"])
    st, su, img = res["settings"], res["startup"], res["image"]
    g = res["goals"]
    ratio = g["rollback_within_2_5x_kubectl_at_20ms"].get("ratio")

    def cell(lat: str, name: str, key: str = "wall") -> str:
        v = res["latencies"][lat].get(name)
        if not v:
            return "n/a"
        rt = f" ({v['round_trips']} rt)" if lat != "0" else ""  # round trips need a latency to mean anything
        return f"{v[key]['median'] * 1000:.0f}{rt}"

    rows = [("Release overhead, 1 replica", "deploy_1", "overhead")]
    rows += [(f"Release overhead, {n} replicas", f"deploy_{n}", "overhead") for n in st["replicas"][1:]]
    rows += [
        ("Rollback, `python entrypoint.py` (the image)", "rollback_entrypoint", "wall"),
        ("Rollback, `python -m bluegreen`", "rollback_module", "wall"),
        ("`kubectl patch --type=json`, warm cache", "kubectl_patch", "wall"),
        ("Python floor: `kubernetes` + 1 GET", "python_floor", "wall"),
        ("Standard-library floor: 1 PATCH", "stdlib_floor", "wall"),
    ]
    out = [
        "## Performance",
        "",
        f"`make bench`, {res['time'][:10]}, {res['machine']['nproc']} CPUs, simulated API server over TLS with a "
        f"token; medians of n={st['samples']} paired samples in ms (serial round trips at the simulator):",
        "",
        "| | " + " | ".join(f"{lat} ms" for lat in lats) + " |",
        "|---|" + "---:|" * len(lats),
    ]
    out += [f"| {t} | " + " | ".join(cell(lat, n, k) for lat in lats) + " |" for t, n, k in rows]
    out += [
        "",
        f"Release overhead is wall time minus the waits for pods and the smoke checks. Rollback at "
        f"{KUBECTL_RATIO_AT_MS} ms is {ratio if ratio is not None else 'n/a'}x kubectl's "
        f"(goal <= {KUBECTL_RATIO_MAX:g}x: {_ok(g['rollback_within_2_5x_kubectl_at_20ms']['ok'])}); overhead flat "
        f"from {min(st['replicas'])} to {max(st['replicas'])} replicas: {_ok(g['overhead_flat_in_replicas']['ok'])}.",
        f"Start-up: `--help` imports {su['status_help']['imports_s'] * 1000:.0f} ms without the Kubernetes client; "
        f"a command that talks to the cluster imports {su['status']['imports_s'] * 1000:.0f} ms, "
        f"{su['status']['kubernetes_s'] * 1000:.0f} ms of it `kubernetes`. "
        + (f"Image: {img['size_bytes'] / 1e6:.1f} MB." if img["size_bytes"] else f"Image: {img['note']}."),
        "Method and baselines: [bench/README.md](bench/README.md).",
    ]
    return "\n".join(out)


def _ok(v: bool | None) -> str:
    return "n/a" if v is None else ("yes" if v else "NO")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=5, help="paired samples per cell (default 5)")
    ap.add_argument("--latencies", type=int, nargs="+", default=[0, 20, 50], metavar="MS")
    ap.add_argument("--replicas", type=int, nargs="+", default=[1, 10, 50])
    ap.add_argument("--quick", action="store_true", help="1 sample, for tests")
    ap.add_argument("--json-out", type=Path, default=None, help="also write the JSON here (else results/)")
    ap.add_argument(
        "--markdown", type=Path, metavar="JSON", help="print the README section from a results file"
    )
    args = ap.parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return 0
    samples = 1 if args.quick else max(1, args.samples)
    kubectl, kubectl_note = find_kubectl()
    started = datetime.now(UTC)

    with tempfile.TemporaryDirectory(prefix="bluegreen-bench-") as d:
        tmp = Path(d)
        cells: list[Cell] = []
        try:
            for lat in args.latencies:
                print(f"setting up the cluster at {lat} ms...", file=sys.stderr, flush=True)
                cells.append(Cell(lat, args.replicas, tmp, kubectl).start())
            raw = measure(cells, samples)
            startup = measure_startup(cells[0], 1 if args.quick else 3)
        finally:
            for c in cells:
                c.stop()
    res: Obj = {
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "kubernetes": metadata.version("kubernetes"),
        },
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "time": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "settings": {
            "samples": samples,
            "latencies_ms": args.latencies,
            "replicas": args.replicas,
            "ready_delay_s": READY_DELAY,
            "tls": True,
            "token": True,
            "kubectl": kubectl_note,
            "paths": {k: " ".join(v) for k, v in PATHS.items()},
        },
        "latencies": summarize(raw),
        "startup": startup,
        "image": image_size(),
    }
    res["goals"] = goals(res, args.replicas)
    print(render(res))
    text = json.dumps(res, indent=2) + "\n"
    outs = (
        [args.json_out]
        if args.json_out
        else [RESULTS / f"{started:%Y%m%dT%H%M%SZ}.json", RESULTS / "latest.json"]
    )
    for out in outs:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
