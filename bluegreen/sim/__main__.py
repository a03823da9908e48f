"""Run the simulated cluster on its own: ``python -m bluegreen.sim --port 8001 --kubeconfig-out sim.kubeconfig``."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from pathlib import Path

from . import SimCluster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bluegreen.sim",
        description="A simulated Kubernetes API server for trying bluegreen locally.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument(
        "--kubeconfig-out",
        default="sim.kubeconfig",
        type=Path,
        help="where to write a kubeconfig for this cluster (default: sim.kubeconfig)",
    )
    parser.add_argument(
        "--ready-delay",
        type=float,
        default=1.0,
        help="seconds a new pod takes to become ready (default: 1.0)",
    )
    parser.add_argument(
        "--termination-delay",
        type=float,
        default=None,
        help="seconds a deleted pod stays Terminating (default: the ready delay)",
    )
    parser.add_argument(
        "--no-seed", action="store_true", help="start empty instead of with the sample app 'web'"
    )
    args = parser.parse_args(argv)

    sim = SimCluster(ready_delay=args.ready_delay, termination_delay=args.termination_delay).start(
        args.host, args.port
    )
    try:
        kubeconfig = sim.write_kubeconfig(args.kubeconfig_out)
        if not args.no_seed:
            sim.seed_app("web", image="registry.example/web:1.0", replicas=3, color="blue")
        print(f"Simulated Kubernetes API server listening on {sim.url}")
        print(f"Kubeconfig written to {kubeconfig} (namespace default)\n")
        if not args.no_seed:
            print(
                "Seeded: deployment.apps/web-blue (3 replicas, registry.example/web:1.0) behind service/web\n"
            )
        print("Try:")
        print(f"  export KUBECONFIG={kubeconfig.resolve()}")
        print("  kubectl get deployments,services,pods")
        print("  bluegreen --help")
        print("  kubectl get --raw /api/v1/namespaces/default/services/web:http/proxy/")
        print("\nPress Ctrl-C to stop.", flush=True)
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        with contextlib.suppress(KeyboardInterrupt):
            done.wait()
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
