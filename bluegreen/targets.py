"""Where smoke checks reach a Service: through the API server's service proxy (any runner that reaches
the API), or through cluster DNS (a runner inside the cluster). Built from the loaded client
configuration, so kube.py never needs the smoke module.

A proxy request goes where API calls go, the same way: the kubeconfig's CA (never a CA bundle from the
environment), the same HTTP proxy or none (NO_PROXY as the API client reads it), and the current token
on every request.
"""

from __future__ import annotations

from typing import Any

import requests

from bluegreen import plan as pl
from bluegreen.errors import InputError
from bluegreen.kube import SERVICES, Kube
from bluegreen.kubeconfig import Credentials, tls_hint
from bluegreen.smoke import HttpTarget

Obj = dict[str, Any]

VIAS = ("auto", "proxy", "direct")


def check_reach(via: str, in_cluster: bool) -> None:
    """Before anything is written: can the smoke checks reach the Service the way ``via`` asks?"""
    if via not in VIAS:
        raise InputError("--smoke-via", f"{via!r} is not one of {', '.join(VIAS)}")
    if via == "direct" and not in_cluster:
        raise InputError(
            "--smoke-via",
            "direct reaches the Service through cluster DNS, which only works from a pod in the cluster, "
            "and bluegreen is running outside one",
            hint="use --smoke-via proxy (the API server's service proxy) or auto",
        )


def smoke_port(service: Obj, wanted: str | None = None) -> Obj:
    """The Service port smoke checks use: ``wanted`` (a name or number), else the one named `http`, else
    the first."""
    ports = (service.get("spec") or {}).get("ports") or []
    if not ports:
        raise InputError(
            "--smoke-path",
            f"service {pl.name_of(service)!r} has no ports to smoke-test",
            hint="give the Service a port, or run without smoke checks",
        )
    if wanted:
        found = next((p for p in ports if p.get("name") == wanted or str(p.get("port")) == wanted), None)
        if found is None:
            names = ", ".join(str(p.get("name") or p.get("port")) for p in ports)
            raise InputError(
                "--smoke-port",
                f"service {pl.name_of(service)!r} has no port {wanted!r}",
                hint=f"its ports: {names}",
            )
        return dict(found)
    return dict(next((p for p in ports if p.get("name") == "http"), ports[0]))


def speaks_https(port: Obj) -> bool:
    """Whether the backend behind this Service port expects TLS: its appProtocol says so, or by the
    conventions people name ports with."""
    proto = str(port.get("appProtocol") or "").lower()
    if proto:
        return proto in ("https", "kubernetes.io/https") or proto.endswith("/https")
    name = str(port.get("name") or "").lower()
    return name == "https" or name.startswith("https-") or port.get("port") == 443


def proxy_id(service: str, port: Obj) -> str:
    """The service proxy's `[scheme:]name[:port]`: the port by name (an unnamed port by number), and
    `https:` when the backend speaks TLS (the API server then dials it with TLS, unverified)."""
    ref = str(port.get("name") or port["port"])
    return f"https:{service}:{ref}" if speaks_https(port) else f"{service}:{ref}"


class KubeAuth(requests.auth.AuthBase):
    """The API server's current bearer token on every request (an exec token renews itself when it
    expires); after a 401, a renewed token once more."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        generation = self.credentials.generation
        self._set(r)
        r.register_hook("response", lambda resp, **kw: self._on_response(resp, generation, **kw))
        return r

    def _set(self, r: requests.PreparedRequest) -> None:
        token = self.credentials.token()
        if token:
            r.headers["Authorization"] = f"Bearer {token}"
        else:
            r.headers.pop("Authorization", None)

    def _on_response(self, resp: requests.Response, generation: int, **kwargs: Any) -> requests.Response:
        if resp.status_code != 401 or not self.credentials.renew(generation):
            return resp
        if resp.request.body is not None and not isinstance(resp.request.body, bytes | str):
            return resp  # a streamed body cannot be sent twice
        resp.content  # noqa: B018 - read it, so the connection goes back to the pool
        resp.close()
        retry = resp.request.copy()
        retry.hooks = {"response": []}
        self._set(retry)
        again = resp.connection.send(retry, **kwargs)
        again.history.append(resp)
        again.request = retry
        return again


def api_server_route(kube: Kube) -> tuple[bool | str, dict[str, str]]:
    """(verify, proxies) for requests to the API server, exactly as the API client sends them."""
    from kubernetes.client.rest import should_bypass_proxies

    cfg = kube.configuration
    verify: bool | str = (cfg.ssl_ca_cert or True) if cfg.verify_ssl else False
    proxy = cfg.proxy
    if proxy and should_bypass_proxies(kube.host, cfg.no_proxy or ""):
        proxy = None
    return verify, ({"http": proxy, "https": proxy} if proxy else {})


def proxy_target(kube: Kube, service: str, port: Obj) -> HttpTarget:
    """Through the API server's service proxy: works from any runner that reaches the API."""
    cfg = kube.configuration
    session = requests.Session()
    # The route is ours to decide (api_server_route), not the environment's: with trust_env, requests
    # lets REQUESTS_CA_BUNDLE override the CA (psf/requests#3829) and reads .netrc and proxies itself.
    session.trust_env = False
    session.auth = KubeAuth(kube.credentials)
    if cfg.cert_file and cfg.key_file:
        session.cert = (cfg.cert_file, cfg.key_file)
    verify, proxies = api_server_route(kube)
    session.proxies = proxies
    base = f"{kube.host}{kube.path(SERVICES, proxy_id(service, port), 'proxy')}"
    ref = port.get("name") or port["port"]
    scheme = " (https)" if speaks_https(port) else ""
    return HttpTarget(
        base_url=base,
        session=session,
        description=f"service/{service} port {ref}{scheme} via the API server proxy",
        verify=verify,
        tls_hint=tls_hint(kube.client_config),
    )


def direct_target(kube: Kube, service: str, port: Obj) -> HttpTarget:
    """Through cluster DNS, for runners inside the cluster (the environment's proxy settings apply)."""
    scheme = "https" if speaks_https(port) else "http"
    return HttpTarget(
        base_url=f"{scheme}://{service}.{kube.namespace}.svc:{int(port['port'])}",
        session=requests.Session(),
        description=f"service/{service} port {port.get('name') or port['port']} via cluster DNS",
        # The backend's own certificate is for its public name, not the .svc one: a smoke check asks
        # whether it answers, not whether it is who it says it is.
        verify=scheme == "http",
    )


def smoke_target(kube: Kube, service: Obj, via: str, port: str | None = None) -> HttpTarget:
    chosen = smoke_port(service, port)
    check_reach(via, kube.in_cluster)
    if via == "direct" or (via == "auto" and kube.in_cluster):
        return direct_target(kube, pl.name_of(service), chosen)
    return proxy_target(kube, pl.name_of(service), chosen)
