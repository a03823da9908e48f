"""What a pod "runs" in the e2e lane, started by the fake kubelet inside the pod network namespace.

`pod ADDRESS PORT... POD_JSON`: the simulator's sample app for that pod (same image conventions, through
bluegreen.sim.apps.AppRegistry), so a colour answers with its pod, image and version.
`logs ADDRESS PORT CERT KEY PODS_DIR`: the kubelet's container-log endpoint that the API server's pods/log
proxies to, answering from the pod objects the fake kubelet writes into PODS_DIR.
"""

from __future__ import annotations

import json
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bluegreen.sim.apps import AppRegistry
from bluegreen.sim.errors import ApiError

APPS = AppRegistry()


def pod_handler(pod: dict[str, Any]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, payload = APPS.serve(
                pod, self.command, url.path, url.query, dict(self.headers), body
            )
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def logs_handler(pods_dir: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            parts = url.path.strip("/").split("/")
            if len(parts) != 4 or parts[0] != "containerLogs":
                self._send(404, b"not found\n")
                return
            _, ns, name, container = parts
            path = pods_dir / f"{ns}_{name}.json"
            if not path.exists():
                self._send(404, f'pod "{name}" not found\n'.encode())
                return
            pod = json.loads(path.read_text())
            query = parse_qs(url.query)
            tail = int(query["tailLines"][0]) if "tailLines" in query else None
            try:
                lines = APPS.logs(pod, container, tail)
            except ApiError as e:
                self._send(e.code, f"{e.message}\n".encode())
                return
            self._send(200, "".join(f"{line}\n" for line in lines).encode())

        def _send(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def main(argv: list[str]) -> None:
    mode, address = argv[0], argv[1]
    servers: list[ThreadingHTTPServer] = []
    if mode == "pod":
        *ports, pod_json = argv[2:]
        pod = json.loads(Path(pod_json).read_text())
        servers = [ThreadingHTTPServer((address, int(p)), pod_handler(pod)) for p in ports]
    elif mode == "logs":
        port, cert, key, pods_dir = argv[2:6]
        server = ThreadingHTTPServer((address, int(port)), logs_handler(Path(pods_dir)))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        servers = [server]
    else:
        raise SystemExit(f"unknown mode {mode}")
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
