"""Entry point of the bluegreen container image.

As a GitHub Action the runner passes every input as INPUT_<NAME> (upper case, hyphens kept). We turn
each non-empty input into the BLUEGREEN_<NAME> variable the CLI reads, write the `kubeconfig` input to a
private temporary file, and run `bluegreen <command>` in this process. Without any INPUT_ variable the
image is the plain CLI (`docker run IMAGE deploy --image ...`), so any other CI runner can use it too.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import yaml

from bluegreen.errors import ExitCode

INPUT_PREFIX = "INPUT_"
ENV_PREFIX = "BLUEGREEN_"
DEFAULT_COMMAND = "deploy"
# Inputs the entrypoint handles itself instead of forwarding as BLUEGREEN_<NAME>.
COMMAND_INPUT = "COMMAND"
KUBECONFIG_INPUT = "KUBECONFIG"
# Kubeconfig fields whose values are credentials (users[].user and auth-provider config).
SECRET_KEYS = frozenset(
    {"token", "client-key-data", "password", "access-token", "refresh-token", "id-token", "client-secret"}
)


class KubeconfigInputError(ValueError):
    """The kubeconfig input is neither kubeconfig YAML nor base64 of it."""


def github_inputs(env: MutableMapping[str, str]) -> dict[str, str]:
    """The action's inputs by upper-case name as the runner spells them (hyphens kept)."""
    return {key[len(INPUT_PREFIX) :]: value for key, value in env.items() if key.startswith(INPUT_PREFIX)}


def env_name(input_name: str) -> str:
    """`SMOKE-PATH` -> `BLUEGREEN_SMOKE_PATH`: the variable the CLI reads for that flag."""
    return ENV_PREFIX + input_name.upper().replace("-", "_")


def inputs_to_env(inputs: dict[str, str]) -> dict[str, str]:
    """BLUEGREEN_* variables for every non-empty input except the command and the kubeconfig."""
    return {
        env_name(name): value
        for name, value in inputs.items()
        if value.strip() and name not in (COMMAND_INPUT, KUBECONFIG_INPUT)
    }


def _base64_text(raw: str) -> str | None:
    """The decoded text when the input is base64 (wrapped or not), else None."""
    try:
        # validate=True rejects ':' and spaces, so plain YAML never decodes by accident.
        return base64.b64decode("".join(raw.split()), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def decode_kubeconfig(raw: str) -> str:
    """The kubeconfig YAML from the input, which may be the YAML itself or base64 of it."""
    for candidate in (_base64_text(raw), raw.strip()):
        if candidate and isinstance(_load_yaml(candidate), dict):
            return candidate
    raise KubeconfigInputError(
        "the kubeconfig input is neither a kubeconfig (YAML) nor base64 of one; pass the file's "
        "contents, e.g. kubeconfig: ${{ secrets.KUBECONFIG }}"
    )


def _load_yaml(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def secret_values(raw: str) -> list[str]:
    """Every string to mask: each line of the input as given, base64 also in one piece, and the
    credentials inside the kubeconfig (tokens, client keys, passwords)."""
    values = raw.splitlines()
    if _base64_text(raw) is not None:
        values.append("".join(raw.split()))
    with contextlib.suppress(KubeconfigInputError):
        values.extend(_credentials(_load_yaml(decode_kubeconfig(raw))))
    unique: dict[str, None] = {}  # ordered set
    for value in values:
        for line in value.splitlines():
            if line.strip():
                unique[line.strip()] = None
    return list(unique)


def _credentials(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in SECRET_KEYS and isinstance(value, str | int):
                yield str(value)
            else:
                yield from _credentials(value)
    elif isinstance(node, list):
        for item in node:
            yield from _credentials(item)


def _escape_command_data(value: str) -> str:
    # The runner unescapes these in workflow command data; escaping keeps the mask the literal value.
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def print_masks(raw: str, out: TextIO) -> None:
    for value in secret_values(raw):
        out.write(f"::add-mask::{_escape_command_data(value)}\n")
    out.flush()


def write_private_file(content: str) -> Path:
    """Write the kubeconfig where only this user can read it (mkstemp creates it 0600)."""
    fd, name = tempfile.mkstemp(prefix="bluegreen-kubeconfig-", suffix=".yaml")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
    return Path(name)


def _interrupt_on_signal(signum: int, _frame: FrameType | None) -> None:
    # As PID 1 of a container, Python ignores SIGTERM unless it has a handler. Treat it like Ctrl-C
    # (what the runner sends first on cancel): the CLI stops the release cleanly, writes its outputs,
    # and `finally` removes the kubeconfig file.
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run_cli(argv: list[str]) -> None:
    # Imported late and looked up on every call: tests swap in a fake, and the masks go out first.
    from bluegreen.cli import main as cli_main

    cli_main(argv)


def run_action(env: MutableMapping[str, str], out: TextIO) -> None:
    """Run the command named by the action's inputs; raises SystemExit with the CLI's exit code."""
    inputs = github_inputs(env)
    raw_kubeconfig = inputs.get(KUBECONFIG_INPUT, "")
    # Masks first: nothing may reach the log before the runner knows what to hide.
    if raw_kubeconfig.strip():
        print_masks(raw_kubeconfig, out)
    env.update(inputs_to_env(inputs))
    command = inputs.get(COMMAND_INPUT, "").strip() or DEFAULT_COMMAND
    if not raw_kubeconfig.strip():
        run_cli([command])
        return
    try:
        kubeconfig = decode_kubeconfig(raw_kubeconfig)
    except KubeconfigInputError as err:
        out.write(f"::error title=bluegreen::{_escape_command_data(str(err))}\n")
        out.flush()
        raise SystemExit(ExitCode.USAGE) from None
    path = write_private_file(kubeconfig)
    try:
        env[env_name(KUBECONFIG_INPUT)] = str(path)
        run_cli([command])
    finally:
        path.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt_on_signal)
    if not github_inputs(os.environ):
        run_cli(args)
        return
    # stderr, like the CLI's log: stdout stays for machine-readable output (--json). The runner reads
    # workflow commands from both.
    run_action(os.environ, sys.stderr)


if __name__ == "__main__":
    main()
