"""Where the cluster is and who we are: kubeconfig (or in-cluster) loading, apart from the transport.

The official client does the hard parts (auth plugins, exec credentials, client certificates, proxies);
this module picks the source, turns its failures into lines that name the input to fix, keeps the
credentials current (``Credentials``) and settles the namespace. It never echoes a kubeconfig's content:
it holds credentials.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml

from bluegreen.errors import InputError
from bluegreen.settings import Connection

SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
DEFAULT_KUBECONFIG = "~/.kube/config"
# The README's section and the second action, named once for every message that points at them.
README_AUTH = "see README: Authentication"
HOST_ACTION = "uses: your-org/bluegreen/host@v1"
# An exec token is renewed this long before its expirationTimestamp: a request signed just before the
# expiry must not arrive just after it. (The client's own hook uses 5 minutes, which with short-lived
# tokens would run the plugin before every request.)
EXPIRY_MARGIN = datetime.timedelta(seconds=30)


# --------------------------------------------------------------------------------------------------------
# Credentials that stay current
# --------------------------------------------------------------------------------------------------------


class Credentials:
    """The bearer token a request should carry now, for the API client and our own HTTP sessions alike.

    ``due`` renews the token when its expiry has passed; it is installed as the client Configuration's
    ``refresh_api_key_hook``, which the client calls before every request. ``renew`` gets a new token
    regardless, after a 401. Both run under one lock, so threads that fail together run the plugin once:
    ``generation`` counts renewals, and a caller that saw an older generation just retries.
    """

    def __init__(
        self,
        configuration: Any,
        *,
        user: str = "",
        plugin: str | None = None,
        due: Callable[[], bool] | None = None,
        renew: Callable[[], None] | None = None,
    ) -> None:
        self.configuration = configuration
        self.user = user  # the kubeconfig user, for messages
        self.plugin = plugin  # the exec plugin's command, when the token comes from one
        self.generation = 0
        self.last_error = ""  # why the last renewal failed, for the 401 message
        self._due = due
        self._renew = renew
        self._lock = threading.RLock()
        configuration.refresh_api_key_hook = self._hook if (due or renew) else None

    @property
    def renewable(self) -> bool:
        return self._renew is not None

    def _hook(self, configuration: Any) -> None:
        with self._lock:
            if self._due is not None and self._due():
                self._run_renew()
            # The client's loaders re-install their own hook when they set a token; keep ours.
            configuration.refresh_api_key_hook = self._hook

    def token(self) -> str | None:
        """The current bearer token (renewed first when it has expired), without 'Bearer '."""
        return bearer_token(self.configuration)

    def renew(self, seen_generation: int) -> bool:
        """After a 401 with the token of ``seen_generation``: True when a different token is now there to
        retry with (renewed here, or meanwhile by another thread)."""
        with self._lock:
            if self.generation != seen_generation:
                return True
            if self._renew is None:
                return False
            before = self._stored_token()
            self._run_renew()
            self.configuration.refresh_api_key_hook = self._hook
            after = self._stored_token()
            return after is not None and after != before

    def _run_renew(self) -> None:
        assert self._renew is not None
        with capture_client_errors() as errors:
            self._renew()
        self.generation += 1
        self.last_error = errors[0] if errors else ""

    def _stored_token(self) -> str | None:
        key = self.configuration.api_key.get("BearerToken") or self.configuration.api_key.get("authorization")
        return str(key).removeprefix("Bearer ").strip() or None if key else None

    def rejected_message(self) -> tuple[str, str]:
        """(message, hint) for a 401 that a renewal did not cure."""
        who = f"kubeconfig user {self.user!r}" if self.user else "the service account"
        if self.plugin:
            failed = f"; the plugin failed: {self.last_error}" if self.last_error else ""
            return (
                f"the API server rejected the token from {who}'s exec plugin {self.plugin!r} "
                f"(401 Unauthorized), also after asking the plugin for a new one{failed}",
                f"check that the plugin is logged in as an identity the cluster maps to a user "
                f"(e.g. `aws sts get-caller-identity` for EKS); {README_AUTH}",
            )
        return (
            f"the API server rejected the credentials of {who} (401 Unauthorized)",
            f"the token may have expired or been revoked: give a fresh one (kubectl create token "
            f"--duration), or a kubeconfig with an exec plugin; {README_AUTH}",
        )


def bearer_token(configuration: Any) -> str | None:
    """The current bearer token (refreshed by the client's hook when it expires), without 'Bearer '."""
    value = configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
    return str(value).removeprefix("Bearer ").strip() or None if value else None


# --------------------------------------------------------------------------------------------------------
# The client library's log records
# --------------------------------------------------------------------------------------------------------


class _Forward(logging.Handler):
    def __init__(self, sink: Callable[[str], None]) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # a log line must never break a request
            self.sink(f"{record.name}: {record.getMessage()}")


_quiet: _Forward | None = None


def quiet_client_logs(debug: Callable[[str], None]) -> None:
    """Send the client library's own log records (it logs through the root logger, and
    `logging.error` there would otherwise install a handler printing 'ERROR:root:...' on stderr) to
    ``debug``. Call once, early; calling again replaces the destination."""
    global _quiet
    root = logging.getLogger()
    if _quiet is not None:
        root.removeHandler(_quiet)
    _quiet = _Forward(debug)
    root.addHandler(_quiet)
    for name in ("kubernetes", "urllib3"):
        logging.getLogger(name).propagate = True


@contextlib.contextmanager
def capture_client_errors() -> Iterator[list[str]]:
    """Collect what the client logs while loading credentials (an exec plugin's failure reaches us only
    as a `logging.error` line), and keep it off stderr."""
    found: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING and "kubernetes" in (record.pathname or ""):
                found.append(first_line(record.getMessage()))

    handler = _Collect(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)  # also: with a handler present, logging.error installs none of its own
    try:
        yield found
    finally:
        root.removeHandler(handler)


# --------------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------------


@dataclass
class ClientConfig:
    """A loaded client configuration: the official client's Configuration plus what we settled."""

    configuration: Any  # kubernetes.client.Configuration
    namespace: str
    in_cluster: bool
    credentials: Credentials | None = None
    context: str = ""  # the kubeconfig context used ("" in a cluster)
    source: str = "--kubeconfig"  # which input named the kubeconfig, for messages

    @property
    def host(self) -> str:
        return str(self.configuration.host).rstrip("/")


@dataclass(frozen=True)
class Source:
    """Where the kubeconfig comes from: the input to blame, and the files it names."""

    input_name: str  # "--kubeconfig", "$KUBECONFIG" or "~/.kube/config"
    paths: tuple[str, ...]


def kubeconfig_source(connection: Connection) -> Source | None:
    """The kubeconfig files to read, as kubectl picks them; None when there is none (maybe in-cluster)."""
    if connection.kubeconfig:
        return Source("--kubeconfig", (connection.kubeconfig,))
    env = os.environ.get("KUBECONFIG")
    if env:
        named = tuple(os.path.expanduser(p) for p in env.split(os.pathsep) if p)
        existing = tuple(p for p in named if os.path.exists(p))
        if not existing:
            raise InputError(
                "$KUBECONFIG",
                f"{env} does not exist" if len(named) == 1 else f"none of {env} exists",
                hint="fix or unset the KUBECONFIG variable, or pass --kubeconfig",
            )
        return Source("$KUBECONFIG", existing)  # kubectl skips the missing ones of a list too
    default = os.path.expanduser(DEFAULT_KUBECONFIG)
    return Source(DEFAULT_KUBECONFIG, (default,)) if os.path.exists(default) else None


def load(connection: Connection) -> ClientConfig:
    from kubernetes import client, config  # slow import: only commands that need the API pay for it

    configuration = client.Configuration()
    source = kubeconfig_source(connection)
    if source is None:
        if not os.environ.get("KUBERNETES_SERVICE_HOST"):
            raise InputError(
                "--kubeconfig",
                "no cluster configuration found ($KUBECONFIG is unset, there is "
                "no ~/.kube/config, and this is not a pod with a service account)",
                hint="pass --kubeconfig (the Action's `kubeconfig` input) or set KUBECONFIG",
            )
        try:
            config.load_incluster_config(client_configuration=configuration)
        except config.ConfigException as e:
            raise InputError(
                "in-cluster configuration", first_line(e), hint="check the pod's service account token"
            ) from None
        credentials = _in_cluster_credentials(configuration)
        loaded = ClientConfig(configuration, "", True, credentials, "", "in-cluster configuration")
    else:
        loaded = _load_file(source, connection, configuration)
    # urllib3 would retry 429/503 itself, sleeping a whole Retry-After; our own loop caps the wait.
    configuration.retries = False
    loaded.namespace = connection.namespace or default_namespace(connection, loaded.in_cluster)
    return loaded


def _load_file(source: Source, connection: Connection, configuration: Any) -> ClientConfig:
    from kubernetes import config
    from kubernetes.config.kube_config import _get_kube_config_loader

    doc = read_kubeconfig(source)
    context_name, user_name, user, user_file = chosen_user(doc, connection.context, source)
    command = missing_exec_plugin(user_name, user, user_file, source)
    try:
        # The loader, not load_kube_config: we keep it to renew exec tokens (see _file_credentials).
        loader = _get_kube_config_loader(
            filename=os.pathsep.join(source.paths), active_context=context_name, persist_config=False
        )
        with capture_client_errors() as errors:
            loader.load_and_set(configuration)
    except config.ConfigException as e:
        raise InputError(
            source.input_name,
            f"cannot load the cluster configuration: {first_line(e)}",
            hint="check the kubeconfig's current context, cluster and user entries",
        ) from None
    except (OSError, ValueError, TypeError, AttributeError, KeyError) as e:
        # Never echo the file's content: it holds credentials.
        raise InputError(
            source.input_name,
            f"context {context_name!r} cannot be loaded ({first_line(e)})",
            hint="check its cluster (server) and user entries; kubectl config view shows them",
        ) from None
    exec_cfg = user.get("exec") if isinstance(user.get("exec"), dict) else None
    if exec_cfg is not None and "token" not in loader.__dict__ and "cert_file" not in loader.__dict__:
        raise InputError(
            source.input_name,
            f"kubeconfig user {user_name!r} runs {command!r} (exec credential plugin), which failed: "
            f"{errors[0] if errors else 'it gave no token'}",
            hint=f"run the same command by hand to see why (is it logged in?); {README_AUTH}",
        )
    credentials = _file_credentials(configuration, loader, user_name, command if exec_cfg else None)
    return ClientConfig(configuration, "", False, credentials, context_name, source.input_name)


def _file_credentials(configuration: Any, loader: Any, user: str, plugin: str | None) -> Credentials:
    """Credentials renewed through the client's KubeConfigLoader, which re-runs the exec plugin (or
    re-reads a tokenFile) in `_load_authentication` and records the ExecCredential's expirationTimestamp
    as `expiry` (kubernetes 37; its own hook refreshes only 5 minutes before that and never on a 401)."""
    if "token" not in loader.__dict__:
        return Credentials(configuration, user=user, plugin=plugin)  # client certificates, or nothing
    renewable = plugin is not None or bool(loader._user.safe_get("tokenFile"))

    def due() -> bool:
        expiry = loader.__dict__.get("expiry")
        return bool(expiry) and expiry - EXPIRY_MARGIN <= datetime.datetime.now(tz=datetime.UTC)

    def renew() -> None:
        loader._load_authentication()
        configuration.api_key["BearerToken"] = loader.token

    return Credentials(
        configuration,
        user=user,
        plugin=plugin,
        due=due if plugin else None,
        renew=renew if renewable else None,
    )


def _in_cluster_credentials(configuration: Any) -> Credentials:
    from kubernetes import config

    periodic = configuration.refresh_api_key_hook  # re-reads the projected token file every minute

    def due() -> bool:
        if periodic is not None:
            periodic(configuration)
        return False

    def renew() -> None:
        config.load_incluster_config(client_configuration=configuration)

    return Credentials(configuration, due=due, renew=renew)


def read_kubeconfig(source: Source) -> dict[str, Any]:
    """The kubeconfig files merged as kubectl merges them (the first of each name wins); each user entry
    remembers its file, to resolve an exec command's relative path."""
    merged: dict[str, Any] = {"clusters": [], "contexts": [], "users": [], "current-context": ""}
    seen: set[tuple[str, str]] = set()
    for path in source.paths:
        doc = _read_one(path, source)
        if not merged["current-context"] and doc.get("current-context"):
            merged["current-context"] = str(doc["current-context"])
        for key in ("clusters", "contexts", "users"):
            items = doc.get(key) or []
            if not isinstance(items, list):
                raise InputError(source.input_name, f"{path}: '{key}' must be a list")
            for item in items:
                if not isinstance(item, dict) or (key, str(item.get("name"))) in seen:
                    continue
                seen.add((key, str(item.get("name"))))
                merged[key].append({**item, "_file": path})
    return merged


def _read_one(path: str, source: Source) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise InputError(source.input_name, f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(source.input_name, f"cannot read {path}: {first_line(e)}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        # The problem and the position only: the text around it may be a token.
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or "cannot be parsed"
        raise InputError(
            source.input_name,
            f"{path} is not valid YAML{where}: {problem}",
            hint="kubectl config view --raw prints a valid kubeconfig",
        ) from None
    if not isinstance(doc, dict):
        raise InputError(
            source.input_name,
            f"{path} is not a kubeconfig (expected a mapping with clusters, contexts and users)",
            hint="kubectl config view --raw prints one",
        )
    return doc


def chosen_user(
    doc: dict[str, Any], context: str | None, source: Source
) -> tuple[str, str, dict[str, Any], str]:
    """(context name, user name, user entry, the file defining it) for ``context`` or current-context."""
    names = [str(c.get("name", "")) for c in doc["contexts"]]
    name = context or doc["current-context"]
    if not name:
        raise InputError(
            source.input_name,
            "the kubeconfig has no current-context",
            hint=f"pass --context (one of: {', '.join(names) or '(none defined)'})",
        )
    entry = next((c for c in doc["contexts"] if c.get("name") == name), None)
    if entry is None:
        raise InputError(
            "--context" if context else source.input_name,
            f"context {name!r} is not in the kubeconfig",
            hint=f"pass one of: {', '.join(names) or '(none defined)'}",
        )
    user_name = str((entry.get("context") or {}).get("user") or "")
    user = next((u for u in doc["users"] if u.get("name") == user_name), None)
    if user is None:
        return name, user_name, {}, ""
    body = user.get("user") or {}
    return name, user_name, body if isinstance(body, dict) else {}, str(user["_file"])


def missing_exec_plugin(user_name: str, user: dict[str, Any], user_file: str, source: Source) -> str:
    """The exec plugin's command; raises the one line that says what to do when it is not installed.

    Checked before the client runs it, because the client only logs the failure and goes on without
    credentials (the user then reads a misleading 401)."""
    exec_cfg = user.get("exec")
    if not isinstance(exec_cfg, dict) or any(k in user for k in ("auth-provider", "token", "tokenFile")):
        return ""  # the client prefers those over exec
    command = str(exec_cfg.get("command") or "")
    if not command:
        raise InputError(
            source.input_name, f"kubeconfig user {user_name!r} has an exec entry without a command"
        )
    if os.sep in command:
        # The client runs it from the kubeconfig's directory.
        path = os.path.join(os.path.dirname(os.path.abspath(user_file)), command)
        found = os.path.isfile(path) and os.access(path, os.X_OK)
    else:
        found = shutil.which(command) is not None
    if found:
        return command
    if in_container():
        where = "this container"
        hint = f"run bluegreen on the runner (host mode: {HOST_ACTION}), or give a kubeconfig with a token"
    else:
        where = "this machine"
        hint = "install it (or put it on PATH), or give a kubeconfig with a token"
    raise InputError(
        source.input_name,
        f"kubeconfig user {user_name!r} runs {command!r} (exec credential plugin), which is not installed "
        f"in {where}",
        hint=f"{hint} ({README_AUTH})",
    )


def in_container() -> bool:
    return os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv")


def default_namespace(connection: Connection, in_cluster: bool) -> str:
    if in_cluster:
        try:
            with open(SERVICE_ACCOUNT_NAMESPACE) as f:
                return f.read().strip() or "default"
        except OSError:
            return "default"
    source = kubeconfig_source(connection)
    if source is None:
        return "default"
    doc = read_kubeconfig(source)
    name = connection.context or doc["current-context"]
    chosen = next((c for c in doc["contexts"] if c.get("name") == name), None)
    return str(((chosen or {}).get("context") or {}).get("namespace") or "default")


# --------------------------------------------------------------------------------------------------------
# TLS failures
# --------------------------------------------------------------------------------------------------------

_SSL_REASON = re.compile(r"(certificate verify failed: [^'\"()]+|\[SSL: [A-Z_]+\][^'\"()]*)")


def ssl_reason(text: str) -> str:
    """'certificate verify failed: self-signed certificate in certificate chain' out of the nested
    reprs urllib3 and requests wrap it in."""
    m = _SSL_REASON.search(text)
    return m.group(1).strip() if m else first_line(text)


def tls_hint(client_config: ClientConfig, reason: str = "") -> str:
    """What to fix when the API server's certificate is not trusted."""
    server = urlsplit(client_config.host).hostname or client_config.host
    if "mismatch" in reason or "not valid for" in reason or "match" in reason:
        hint = (
            f"the certificate is not for {server!r}: point the context's cluster at the name in the "
            f"certificate, or set the cluster's tls-server-name"
        )
    elif client_config.in_cluster:
        hint = "the service account's ca.crt does not sign this server's certificate"
    else:
        hint = (
            "give the cluster's CA as certificate-authority-data in the kubeconfig (kubectl config view "
            "--raw --minify shows it), and check that the context points at this cluster"
        )
    return f"{hint}; {README_AUTH}"


def tls_failure(client_config: ClientConfig, text: str) -> InputError:
    """The one line for a failed TLS handshake with the API server, naming what to fix."""
    reason = ssl_reason(text)
    where = f"context {client_config.context!r}" if client_config.context else client_config.source
    return InputError(
        client_config.source,
        f"cannot trust the API server {client_config.host} ({where}): {reason}",
        hint=tls_hint(client_config, reason),
    )


def first_line(e: BaseException | str) -> str:
    s = str(e).strip().splitlines()
    return s[0][:300] if s else (type(e).__name__ if isinstance(e, BaseException) else "")
