"""A fake kubelet (and scheduler): one Node, pods bound through the binding subresource, status written the
way the real kubelet writes it, and the simulator's image conventions (bluegreen.sim.apps) given the same
meaning: ``pullfail`` -> ErrImagePull, ``crashloop`` -> CrashLoopBackOff after an exit 1, ``never-ready`` ->
running but never Ready, ``smokefail`` -> ready, serving 500s.

It talks to the real API server only through its REST API, with the admin token.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from e2e_podnet import NODE_IP, PodNetwork

from bluegreen.sim.apps import behaviour_of

Obj = dict[str, Any]
NODE = "e2e-node"
KUBELET_PORT = 10250


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Runtime:
    address: str
    key: str


class FakeKubelet:
    def __init__(self, url: str, session: requests.Session, net: PodNetwork, work: Path) -> None:
        self.url = url
        self.http = session
        self.net = net
        self.pods_dir = work / "pods"
        self.pods_dir.mkdir(parents=True, exist_ok=True)
        self.runtimes: dict[str, Runtime] = {}  # by pod uid
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-kubelet", daemon=True)

    # ---- life cycle ----------------------------------------------------------------------------

    def start(self, cert: Path, key: Path) -> FakeKubelet:
        # The API server's pods/log proxies to the node's InternalIP:10250; serve it from the pod network.
        self.net.start(
            "kubelet-logs",
            ["logs", NODE_IP, str(KUBELET_PORT), str(cert), str(key), str(self.pods_dir)],
            NODE_IP,
            KUBELET_PORT,
        )
        self._register_node()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _register_node(self) -> None:
        resources = {"cpu": "32", "memory": "64Gi", "pods": "250"}
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": NODE, "labels": {"kubernetes.io/hostname": NODE}},
            "spec": {},
        }
        r = self.http.post(f"{self.url}/api/v1/nodes", json=node, timeout=10)
        if r.status_code not in (201, 409):
            raise RuntimeError(f"register node: {r.status_code} {r.text}")
        status = {
            "capacity": resources,
            "allocatable": resources,
            "addresses": [{"type": "InternalIP", "address": NODE_IP}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": KUBELET_PORT}},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": now(),
                    "lastTransitionTime": now(),
                }
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.37.2",
                "containerRuntimeVersion": "fake://1",
                "architecture": "amd64",
                "operatingSystem": "linux",
                "osImage": "e2e",
                "kernelVersion": "",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kubeProxyVersion": "",
            },
        }
        r = self.http.patch(
            f"{self.url}/api/v1/nodes/{NODE}/status",
            data=json.dumps({"status": status}),
            headers={"Content-Type": "application/merge-patch+json"},
            timeout=10,
        )
        r.raise_for_status()

    # ---- the watch loop ------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                listed = self.http.get(f"{self.url}/api/v1/pods", timeout=30)
                listed.raise_for_status()
                body = listed.json()
                for pod in body["items"]:
                    self._handle(pod)
                self._watch(body["metadata"]["resourceVersion"])
            except (requests.RequestException, ValueError, KeyError) as e:
                if not self._stop.is_set():
                    self.errors.append(repr(e))
                    self._stop.wait(0.5)

    def _watch(self, rv: str) -> None:
        params = {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "60", "allowWatchBookmarks": "true"}
        with self.http.get(f"{self.url}/api/v1/pods", params=params, stream=True, timeout=90) as r:
            r.raise_for_status()
            for line in r.iter_lines():
                if self._stop.is_set():
                    return
                if not line:
                    continue
                event = json.loads(line)
                if event["type"] == "ERROR":
                    return  # 410 Gone and friends: list again
                if event["type"] in ("ADDED", "MODIFIED"):
                    self._handle(event["object"])
                elif event["type"] == "DELETED":
                    self._forget(event["object"])

    def _handle(self, pod: Obj) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        try:
            if meta.get("deletionTimestamp"):
                self._finish_deletion(pod)
            elif not spec.get("nodeName"):
                self._bind(pod)
            elif spec["nodeName"] == NODE and meta["uid"] not in self.runtimes:
                self._run_pod(pod)
        except (requests.RequestException, RuntimeError, TimeoutError) as e:
            self.errors.append(f"{meta['namespace']}/{meta['name']}: {e!r}")

    # ---- what the scheduler and the kubelet do -------------------------------------------------

    def _pod_url(self, pod: Obj) -> str:
        meta = pod["metadata"]
        return f"{self.url}/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"

    def _bind(self, pod: Obj) -> None:
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": NODE},
        }
        r = self.http.post(self._pod_url(pod) + "/binding", json=binding, timeout=10)
        if r.status_code in (404, 409) or "is being terminated" in r.text:
            return  # gone, already bound, or its namespace is going away: the watch brings the news
        if r.status_code != 201:
            raise RuntimeError(f"bind: {r.status_code} {r.text}")

    def _run_pod(self, pod: Obj) -> None:
        meta = pod["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        containers = pod["spec"]["containers"]
        address = self.net.allocate()
        self.runtimes[meta["uid"]] = Runtime(address, key)
        # What the log endpoint answers from (it cannot reach the API server from inside the namespace).
        status = self._status(pod, address)
        pod_file = self.pods_dir / f"{meta['namespace']}_{meta['name']}.json"
        pod_file.write_text(json.dumps({**pod, "status": status}))
        b = behaviour_of(containers[0].get("image", ""))
        if not (b.pull_fails or b.crash_loops):
            ports = sorted(
                {int(p["containerPort"]) for c in containers for p in c.get("ports") or []} or {8080}
            )
            self.net.start(key, ["pod", address, *map(str, ports), str(pod_file)], address, ports[0])
        r = self.http.patch(
            self._pod_url(pod) + "/status",
            data=json.dumps({"status": status}),
            headers={"Content-Type": "application/merge-patch+json"},
            timeout=10,
        )
        if r.status_code == 404 or "is being terminated" in r.text:
            self._forget(pod)
        elif not r.ok:
            raise RuntimeError(f"pod status: {r.status_code} {r.text}")

    def _status(self, pod: Obj, address: str) -> Obj:
        t = now()
        statuses, all_ready, phase = [], True, "Running"
        for c in pod["spec"]["containers"]:
            image = c.get("image", "")
            b = behaviour_of(image)
            cs: Obj = {
                "name": c["name"],
                "image": image,
                "imageID": "",
                "restartCount": 0,
                "ready": False,
                "started": False,
                "state": {},
            }
            if b.pull_fails:
                phase = "Pending"
                cs["state"] = {
                    "waiting": {
                        "reason": "ErrImagePull",
                        "message": (
                            f'failed to pull and unpack image "{image}": failed to resolve reference "{image}": '
                            f"{image}: not found"
                        ),
                    }
                }
            elif b.crash_loops:
                cs["restartCount"] = 1
                cs["lastState"] = {
                    "terminated": {
                        "exitCode": 1,
                        "reason": "Error",
                        "startedAt": t,
                        "finishedAt": t,
                        "containerID": f"fake://{c['name']}",
                    }
                }
                cs["state"] = {
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": (
                            f"back-off 10s restarting failed container={c['name']} pod={pod['metadata']['name']}_"
                            f"{pod['metadata']['namespace']}({pod['metadata']['uid']})"
                        ),
                    }
                }
                cs["containerID"] = f"fake://{c['name']}"
            else:
                cs["state"] = {"running": {"startedAt": t}}
                cs["started"] = True
                cs["ready"] = not b.never_ready
                cs["containerID"] = f"fake://{c['name']}"
            all_ready = all_ready and cs["ready"]
            statuses.append(cs)

        def cond(type_: str, ok: bool) -> Obj:
            c: Obj = {
                "type": type_,
                "status": "True" if ok else "False",
                "lastProbeTime": None,
                "lastTransitionTime": t,
            }
            if not ok:
                c["reason"] = "ContainersNotReady"
                names = " ".join(s["name"] for s in statuses if not s["ready"])
                c["message"] = f"containers with unready status: [{names}]"
            return c

        return {
            "phase": phase,
            "conditions": [
                cond("PodReadyToStartContainers", True),
                cond("Initialized", True),
                cond("Ready", all_ready),
                cond("ContainersReady", all_ready),
                cond("PodScheduled", True),
            ],
            "hostIP": NODE_IP,
            "hostIPs": [{"ip": NODE_IP}],
            "podIP": address,
            "podIPs": [{"ip": address}],
            "startTime": t,
            "containerStatuses": statuses,
            "qosClass": "BestEffort",
        }

    def _finish_deletion(self, pod: Obj) -> None:
        """The kubelet's part of a graceful deletion: stop the containers, then delete for good."""
        self._forget(pod)
        meta = pod["metadata"]
        opts = {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}}
        r = self.http.delete(self._pod_url(pod), json=opts, timeout=10)
        if r.status_code not in (200, 404, 409):
            raise RuntimeError(f"finish deletion: {r.status_code} {r.text}")

    def _forget(self, pod: Obj) -> None:
        rt = self.runtimes.pop(pod["metadata"]["uid"], None)
        if rt is not None:
            self.net.stop(rt.key)
            self.net.release(rt.address)
            (self.pods_dir / f"{rt.key.replace('/', '_')}.json").unlink(missing_ok=True)


def wait(condition: Any, timeout: float, what: str) -> None:
    """For fixtures only: poll an awaited condition with a deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)
