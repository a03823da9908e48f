"""Run the simulated cluster on its own: ``python -m bluegreen.sim --port 8001 --kubeconfig-out sim.kubeconfig``."""

from __future__ import annotations

import argparse
import contextlib
import errno
import signal
import sys
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
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve https with a certificate from a CA of its own (the kubeconfig carries the CA)",
    )
    parser.add_argument(
        "--token",
        action="store_true",
        help="require a bearer token (the kubeconfig carries the admin's)",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="delay every request by this much, like a client far from its API server (default: 0)",
    )
    args = parser.parse_args(argv)

    sim = SimCluster(
        ready_delay=args.ready_delay,
        termination_delay=args.termination_delay,
        auth=args.token,
        tls=args.tls,
        latency=max(0.0, args.latency_ms) / 1000.0,
    )
    try:
        sim.start(args.host, args.port)
    except OSError as e:
        sim.stop()
        if e.errno == errno.EADDRINUSE:
            print(f"port {args.port} is in use; pass --port", file=sys.stderr)
        else:
            print(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 2
    try:
        kubeconfig = sim.write_kubeconfig(args.kubeconfig_out)
        if not args.no_seed:
            sim.seed_app("web", image="registry.example/web:1.0", replicas=3, color="blue")
        extras = [
            what
            for what, on in (
                ("its own CA", args.tls),
                ("token auth", args.token),
                (f"{args.latency_ms:g} ms latency", args.latency_ms > 0),
            )
            if on
        ]
        print(
            f"Simulated Kubernetes API server listening on {sim.url}"
            + (f" ({', '.join(extras)})" if extras else "")
        )
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
