"""The benchmark runs end to end with tiny settings: it prints its table and writes the JSON it promises.

No timing assertions, and nothing that depends on thread timing: the pod watch thread and the main
thread's writes may reach the simulator in either order, so requests are compared as a multiset of
(method, resource, verb), never as an ordered list.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_quick_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    p = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--quick",
            "--latencies",
            "0",
            "--replicas",
            "1",
            "3",
            "--json-out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    for text in ("deploy overhead, 1 replica", "rollback: python entrypoint.py", "stdlib floor", "Goals:"):
        assert text in p.stdout

    res = json.loads(out.read_text())
    assert {"machine", "command", "settings", "latencies", "startup", "image", "goals"} <= res.keys()
    assert res["settings"]["samples"] == 1 and res["settings"]["tls"] is True
    cell = res["latencies"]["0"]
    for n in ("1", "3"):
        over = cell[f"deploy_{n}"]["overhead"]
        assert set(over) == {"median", "min", "n", "values"} and over["n"] == 1
    for path in ("entrypoint", "module", "console"):
        assert cell[f"rollback_{path}"]["wall"]["median"] > 0
    for name in ("python_floor", "stdlib_floor", "help"):
        assert cell[name]["wall"]["median"] > 0

    # The same requests for 1 and 3 replicas, as a multiset: nothing per pod, whatever the thread order.
    kinds_1, kinds_3 = cell["deploy_1"]["kinds"], cell["deploy_3"]["kinds"]
    assert isinstance(kinds_1, dict) and kinds_1 == kinds_3
    assert any(k.startswith("PATCH services ") for k in kinds_1)

    assert res["startup"]["status_help"]["kubernetes_imported"] is False
    assert res["startup"]["status"]["kubernetes_imported"] is True
    assert set(res["goals"]) == {
        "rollback_within_2_5x_kubectl_at_20ms",
        "overhead_flat_in_replicas",
        "round_trips",
        "requests_same_for_all_replica_counts",
    }
