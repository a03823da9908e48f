"""Entry point of the bluegreen container image, and of the host-mode action (host/action.yml).

As a GitHub Action the runner passes every input as INPUT_<NAME> (upper case, hyphens kept). We turn
each non-empty input into the BLUEGREEN_<NAME> variable the CLI reads, write the `kubeconfig` input to a
private temporary file, and run `bluegreen <command>` in this process. Without any INPUT_ variable the
image is the plain CLI (`docker run IMAGE deploy --image ...`), so any other CI runner can use it too.

Host mode runs this same file with the venv's Python on the runner; its composite action passes the
inputs as INPUT_* variables, so both actions share one mapping from inputs to the CLI.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import contextlib
import os
import re
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator, MutableMapping
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
SUMMARY_INPUT = "SUMMARY"
DEBUG_INPUT = "DEBUG"
OWN_INPUTS = frozenset({COMMAND_INPUT, KUBECONFIG_INPUT, SUMMARY_INPUT})
# users[].user and auth-provider config fields whose values are credentials. client-certificate-data is
# not among them: a certificate is public (its key, client-key-data, is masked), and every mask costs
# the rest of the job's log readability wherever that string appears.
SECRET_KEYS = frozenset(
    {
        "token",
        "password",
        "client-key-data",
        "access-token",
        "refresh-token",
        "id-token",
        "client-secret",
        "apiserver-secret",
    }
)
# exec plugins get credentials through env: [{name, value}]; mask the values whose names say secret.
SECRET_ENV_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL", re.IGNORECASE)
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


class KubeconfigInputError(ValueError):
    """The kubeconfig input is neither kubeconfig YAML nor base64 of it."""


def github_inputs(env: MutableMapping[str, str]) -> dict[str, str]:
    """The action's inputs by upper-case name as the runner spells them (hyphens kept)."""
    return {key[len(INPUT_PREFIX) :]: value for key, value in env.items() if key.startswith(INPUT_PREFIX)}


def env_name(input_name: str) -> str:
    """`SMOKE-PATH` -> `BLUEGREEN_SMOKE_PATH`: the variable the CLI reads for that flag."""
    return ENV_PREFIX + input_name.upper().replace("-", "_")


def is_false(value: str) -> bool:
    return value.strip().lower() in FALSE_WORDS


def inputs_to_env(inputs: dict[str, str], runner_debug: str = "") -> dict[str, str]:
    """BLUEGREEN_* variables for every non-empty input except those the entrypoint handles itself.

    RUNNER_DEBUG=1 (a re-run with debug logging) turns on --debug whatever the `debug` input says.
    """
    env = {
        env_name(name): value
        for name, value in inputs.items()
        if value.strip() and name.upper() not in OWN_INPUTS
    }
    if runner_debug.strip() == "1":
        env[env_name(DEBUG_INPUT)] = "true"
    return env


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
    """Every string to mask, and nothing else: the kubeconfig's credentials (tokens, passwords, client
    keys, auth-provider secrets, secret-like exec env values). A base64 input is masked whole and line
    by line too, since it is all secret. An input that is not a kubeconfig at all is masked line by
    line: we cannot tell its secrets apart, and it is about to be reported as bad input."""
    values: list[str] = []
    decoded = _base64_text(raw)
    if decoded is not None:
        values.append("".join(raw.split()))
        values.extend(raw.splitlines())
    try:
        config = _load_yaml(decode_kubeconfig(raw))
    except KubeconfigInputError:
        values.extend(raw.splitlines())
    else:
        values.extend(_credentials(config))
    unique: dict[str, None] = {}  # ordered set
    for value in values:
        # A multi-line value is masked line by line, as GitHub does with a multi-line secret.
        for line in value.splitlines():
            if line.strip():
                unique[line.strip()] = None
    return list(unique)


def _credentials(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in SECRET_KEYS and isinstance(value, str | int):
                yield str(value)
            elif key == "env" and isinstance(value, list):
                yield from _exec_env_secrets(value)
            else:
                yield from _credentials(value)
    elif isinstance(node, list):
        for item in node:
            yield from _credentials(item)


def _exec_env_secrets(env: list[Any]) -> Iterator[str]:
    for item in env:
        if isinstance(item, dict) and SECRET_ENV_NAME.search(str(item.get("name", ""))):
            value = item.get("value")
            if isinstance(value, str | int) and str(value):
                yield str(value)


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
    env.update(inputs_to_env(inputs, env.get("RUNNER_DEBUG", "")))
    if is_false(inputs.get(SUMMARY_INPUT, "")):
        # The CLI writes the job summary only where GitHub tells it to.
        env.pop("GITHUB_STEP_SUMMARY", None)
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
    """Run the CLI or the action; always ends in SystemExit (or the exception that stopped it)."""
    args = sys.argv[1:] if argv is None else argv
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt_on_signal)
    if not github_inputs(os.environ):
        run_cli(args)
        return
    # stderr, like the CLI's log: stdout stays for machine-readable output (--json). The runner reads
    # workflow commands from both.
    run_action(os.environ, sys.stderr)


def exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # what SystemExit("message") would print
    return 1


def finish(
    code: int,
    run_exit_handlers: Callable[[], None] = atexit._run_exitfuncs,
    hard_exit: Callable[[int], object] = os._exit,
) -> None:
    """Exit without interpreter teardown, which costs ~0.1 s per command with the kubernetes client
    loaded: by now the kubeconfig file is gone (run_action's `finally`); run what atexit holds
    (logging's flush) and flush our streams, then leave."""
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    hard_exit(code)


def run() -> None:
    # Anything but SystemExit (an engine bug, Ctrl-C escaping the CLI) leaves the normal way, with its
    # traceback.
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exit_code(exc)
    finish(code)


if __name__ == "__main__":
    run()
