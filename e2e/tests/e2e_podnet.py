"""Pod hosts: a network namespace with a veth pair and a private /24 that this test run creates itself.

The API server refuses to proxy to loopback, and the EndpointSlice API refuses loopback addresses, so pods
need addresses of their own. Every address used here is created inside our own namespace (and the host
end of our own veth), so the only traffic is between this machine and itself.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from e2e_cluster import die_with_parent

SUBNET = "10.213.0"
HOST_IP = f"{SUBNET}.1"
NODE_IP = f"{SUBNET}.2"  # the fake kubelet's log endpoint lives here
FIRST_POD, LAST_POD = 10, 250
PODAPP = Path(__file__).with_name("e2e_podapp.py")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def why_unavailable() -> str | None:
    """None if this machine can create network namespaces, else the reason the proxy tests skip."""
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "creating a network namespace needs root (CAP_NET_ADMIN)"
    return None


@dataclass
class PodNetwork:
    name: str = field(default_factory=lambda: f"bge2e{os.getpid()}")
    free: list[int] = field(default_factory=lambda: list(range(FIRST_POD, LAST_POD + 1)))
    apps: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    log_dir: Path = Path("/tmp")

    @property
    def host_if(self) -> str:
        return f"bgh{os.getpid() % 100000}"

    @property
    def pod_if(self) -> str:
        return f"bgp{os.getpid() % 100000}"

    def create(self) -> PodNetwork:
        self.destroy()  # a crashed earlier run with the same pid would leave ours behind
        ip("netns", "add", self.name)
        try:
            ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.pod_if)
            ip("link", "set", self.pod_if, "netns", self.name)
            ip("addr", "add", f"{HOST_IP}/24", "dev", self.host_if)
            ip("link", "set", self.host_if, "up")
            ip("-n", self.name, "addr", "add", f"{NODE_IP}/24", "dev", self.pod_if)
            ip("-n", self.name, "link", "set", self.pod_if, "up")
            ip("-n", self.name, "link", "set", "lo", "up")
        except subprocess.CalledProcessError as e:
            self.destroy()
            raise RuntimeError(f"cannot set up the pod network: {e.stderr.strip()}") from e
        return self

    def destroy(self) -> None:
        for key in list(self.apps):
            self.stop(key)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)

    def allocate(self) -> str:
        octet = self.free.pop(0)
        address = f"{SUBNET}.{octet}"
        ip("-n", self.name, "addr", "add", f"{address}/24", "dev", self.pod_if)
        return address

    def release(self, address: str) -> None:
        subprocess.run(
            ["ip", "-n", self.name, "addr", "del", f"{address}/24", "dev", self.pod_if], capture_output=True
        )
        self.free.append(int(address.rsplit(".", 1)[1]))

    def start(self, key: str, args: list[str], address: str, port: int, timeout: float = 20.0) -> None:
        """Start e2e_podapp.py inside the namespace and wait until it accepts connections."""
        log = (self.log_dir / f"{key.replace('/', '_')}.log").open("wb")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.name, sys.executable, str(PODAPP), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        self.apps[key] = proc
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"pod app {key} exited with {proc.returncode}")
            try:
                with socket.create_connection((address, port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"pod app {key} did not listen on {address}:{port}")

    def stop(self, key: str) -> None:
        proc = self.apps.pop(key, None)
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
