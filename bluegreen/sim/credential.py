"""A fake client-go credential plugin (the ``exec`` kind of kubeconfig user) for the simulated cluster.

It stands in for ``aws eks get-token``, ``gke-gcloud-auth-plugin`` or ``kubelogin``: it asks the
simulated cluster for a short-lived token and prints an ExecCredential, exactly what those plugins print:

    {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
     "status": {"token": "...", "expirationTimestamp": "2026-12-03T10:00:00Z"}}

Run it as ``python -m bluegreen.sim.credential`` or as a file (``SimCluster.install_exec_plugin`` writes
an executable wrapper under any name). Settings come from the environment the kubeconfig's ``exec.env``
gives it (``SimCluster.write_kubeconfig(exec_plugin=...)`` fills them in); flags override them, and any
other argument (``eks get-token --cluster-name x``) is ignored, so it can sit under a real plugin's name:

    BLUEGREEN_SIM_URL          the cluster's URL
    BLUEGREEN_SIM_MINT_SECRET  the secret that lets it mint tokens (SimCluster.mint_secret)
    BLUEGREEN_SIM_CA           the CA bundle to trust for an https URL
    BLUEGREEN_SIM_USER         the user the token authenticates as (--user)
    BLUEGREEN_SIM_GROUPS       comma-separated groups (--groups)
    BLUEGREEN_SIM_TTL          seconds the token lives (--ttl)

Only the standard library is used, so that starting it costs little.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

API_VERSION = "client.authentication.k8s.io/v1beta1"
MINT_PATH = "/simulator/tokens"


def mint(
    url: str, secret: str, user: str, ttl: float, groups: list[str], ca_file: str | None = None
) -> dict[str, object]:
    """Ask the simulated cluster for a token: {"token", "expirationTimestamp", "expiresIn"}."""
    body = json.dumps({"user": user, "groups": groups, "ttl": ttl}).encode()
    req = urllib.request.Request(
        url.rstrip("/") + MINT_PATH,
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    context = ssl.create_default_context(cafile=ca_file) if url.startswith("https") else None
    with urllib.request.urlopen(req, timeout=10, context=context) as resp:
        answer: dict[str, object] = json.loads(resp.read())
    return answer


def exec_credential(token: str, expires_in: float, api_version: str = API_VERSION) -> dict[str, object]:
    """The ExecCredential a plugin prints. The expiry is in wall time, which is what clients compare it
    with, even when the simulated cluster runs on a fake clock."""
    expiry = datetime.fromtimestamp(time.time() + expires_in, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": api_version,
        "kind": "ExecCredential",
        "status": {"token": token, "expirationTimestamp": expiry},
    }


def main(argv: list[str] | None = None) -> int:
    env = os.environ
    parser = argparse.ArgumentParser(prog="bluegreen-sim-credential", add_help=True)
    parser.add_argument("--url", default=env.get("BLUEGREEN_SIM_URL"))
    parser.add_argument("--secret", default=env.get("BLUEGREEN_SIM_MINT_SECRET"))
    parser.add_argument("--ca", default=env.get("BLUEGREEN_SIM_CA"))
    parser.add_argument("--user", default=env.get("BLUEGREEN_SIM_USER", "admin"))
    parser.add_argument("--groups", default=env.get("BLUEGREEN_SIM_GROUPS", ""))
    parser.add_argument("--ttl", type=float, default=float(env.get("BLUEGREEN_SIM_TTL", "900")))
    args, _ignored = parser.parse_known_args(argv)
    if not args.url or not args.secret:
        print(
            "bluegreen-sim-credential: BLUEGREEN_SIM_URL and BLUEGREEN_SIM_MINT_SECRET must be set",
            file=sys.stderr,
        )
        return 1
    # client-go tells the plugin which apiVersion it expects; answer in the same one
    api_version = API_VERSION
    info = env.get("KUBERNETES_EXEC_INFO")
    if info:
        with contextlib.suppress(ValueError):
            api_version = json.loads(info).get("apiVersion") or API_VERSION
    groups = [g for g in args.groups.split(",") if g]
    try:
        answer = mint(args.url, args.secret, args.user, args.ttl, groups, args.ca)
    except (urllib.error.URLError, OSError, ValueError) as e:
        print(f"bluegreen-sim-credential: cannot get a token from {args.url}: {e}", file=sys.stderr)
        return 1
    expires_in = answer["expiresIn"]
    assert isinstance(expires_in, (int, float))
    print(json.dumps(exec_credential(str(answer["token"]), float(expires_in), api_version)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
