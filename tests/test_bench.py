"""The benchmark runs end to end with tiny settings: it prints its table and writes the JSON it promises.

No timing assertions: the figures depend on the machine; only their presence and shape are checked.
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

    for heading in (
        "1. Overhead",
        "2. Reaction",
        "3. Rollback",
        "4. API requests",
        "5. Start-up",
        "6. Image",
        "Goals:",
    ):
        assert heading in p.stdout

    res = json.loads(out.read_text())
    assert {
        "machine",
        "command",
        "settings",
        "overhead",
        "reaction",
        "rollback",
        "requests",
        "python_floor",
        "startup",
        "clients",
        "image",
        "goals",
    } <= res.keys()
    assert res["machine"]["nproc"] >= 1 and res["machine"]["python"]
    assert "--quick" in res["command"]
    assert res["settings"]["repeat"] == 1

    for n in ("1", "3"):
        over = res["overhead"][n]
        for key in (
            "wall",
            "readiness",
            "smoke",
            "overhead",
            "to_first_request",
            "in_release",
            "after_last_request",
        ):
            assert set(over[key]) == {"median", "min", "max", "values"}
        assert res["reaction"][n]["seconds"]["median"] >= 0
        assert res["rollback"][n]["rollback_to_endpoints"]["median"] > 0
        assert res["requests"][n]["list"]

    # The simulator's request log shows a release that does nothing per pod.
    assert res["requests"]["1"]["count"] == res["requests"]["3"]["count"]
    assert res["requests"]["1"]["list"] == res["requests"]["3"]["list"]
    assert any(r.startswith("PATCH services/web") for r in res["requests"]["1"]["list"])

    assert res["startup"]["help"]["median"] > 0
    assert res["clients"][0]["bluegreen_compatible"] is True
    assert set(res["goals"]) >= {
        "overhead_under_1s",
        "reaction_under_100ms",
        "rollback_under_0_5s",
        "requests_same_for_all_replica_counts",
        "help_under_0_25s",
    }
