"""The `bluegreen` command: parse, build settings, call the engine, map errors to exit codes, report.

Every flag can also come from the environment as BLUEGREEN_<FLAG> (the same name for every command), so
the container image works the same from GitHub inputs, GitLab variables or a Tekton step. The Kubernetes
client is imported only by commands that talk to a cluster, which keeps `--help` fast.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any

import click

from bluegreen import __version__
from bluegreen.errors import BluegreenError, ExitCode
from bluegreen.log import StepLog
from bluegreen.report import Outcome, emit, to_dict
from bluegreen.settings import (
    AFTER_SWITCH,
    DEFAULT_LOCK_SECONDS,
    DEFAULT_TIMEOUT,
    ON_FAILURE,
    SMOKE_VIA,
    Common,
    Connection,
    DeploySettings,
    RollbackSettings,
)

F = Callable[..., Any]


def opt(*decls: str, **kw: Any) -> Callable[[F], F]:
    """A click option whose environment variable is BLUEGREEN_<LONG_NAME>, for every command alike."""
    long = next(d for d in decls if d.startswith("--"))
    kw.setdefault("envvar", "BLUEGREEN_" + long[2:].upper().replace("-", "_"))
    kw.setdefault("show_envvar", True)
    return click.option(*decls, **kw)


def connection_options(f: F) -> F:
    for o in reversed(
        [
            opt(
                "--namespace",
                "-n",
                help="Namespace of the Service. Default: the kubeconfig context's, else 'default'.",
            ),
            opt(
                "--kubeconfig",
                type=click.Path(dir_okay=False),
                help="Path to a kubeconfig. Default: $KUBECONFIG, "
                "~/.kube/config, or the in-cluster service account.",
            ),
            opt("--context", help="kubeconfig context to use. Default: the current context."),
            opt(
                "--output-file",
                type=click.Path(dir_okay=False),
                help="Also write the outputs here as dotenv (ACTIVE_COLOR=green), e.g. a GitLab dotenv report.",
            ),
            opt("--json", "json_out", is_flag=True, help="Print the outcome as one JSON object on stdout."),
            opt(
                "--debug",
                is_flag=True,
                help="Log failed API calls and their retries, and show stack traces (never secrets).",
            ),
        ]
    ):
        f = o(f)
    return f


def release_options(f: F) -> F:
    for o in reversed(
        [
            opt("--service", "-s", required=True, help="The live Service whose selector bluegreen switches."),
            opt(
                "--timeout",
                type=float,
                default=DEFAULT_TIMEOUT,
                show_default=True,
                help="Seconds the new colour may take to become ready.",
            ),
            opt(
                "--dry-run",
                is_flag=True,
                help="Print what would be created, changed and switched; change nothing.",
            ),
            opt(
                "--force-unlock",
                is_flag=True,
                help="Take the release lock even if another run holds it (for humans who know that run is gone).",
            ),
            opt(
                "--lock-duration",
                type=float,
                default=DEFAULT_LOCK_SECONDS,
                show_default=True,
                help="Seconds the release lock lives without renewal; a crashed run's lock expires after this.",
            ),
        ]
    ):
        f = o(f)
    return f


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="bluegreen")
def cli() -> None:
    """Blue/green deployments for Kubernetes: deploy the new image beside the live one, verify it through a
    preview Service, switch the live Service's selector in one atomic request, roll back in one step.

    Exit codes: 0 ok; 1 failed before the switch (live traffic untouched); 2 bad input or nothing to roll
    back (nothing changed); 3 switched, verification failed, switched back; 4 another release holds the
    Service or changed it meanwhile (nothing switched); 5 traffic moved but could be neither verified nor
    switched back (look now).
    """


DEPLOY_EXAMPLES = """\b
Examples:
  bluegreen deploy --service web --image registry.example.com/web:1.4.2 --smoke-path /healthz
  bluegreen deploy -s web -n shop --image web:2.0 --smoke-file smoke.yaml --after-switch scale-to-zero
  BLUEGREEN_SERVICE=web BLUEGREEN_IMAGE=web:2.0 bluegreen deploy --dry-run
"""


@cli.command(epilog=DEPLOY_EXAMPLES)
@release_options
@opt("--image", "-i", required=True, help="The image to release, e.g. registry.example.com/web:1.4.2.")
@opt(
    "--deployment",
    help="Base name of the colour Deployments (<base>-blue, <base>-green). "
    "Default: the live Deployment's name without its colour suffix.",
)
@opt("--container", help="Container that gets the new image. Default: the only container.")
@opt(
    "--manifest",
    type=click.Path(dir_okay=False),
    help="Build the new colour from this Deployment YAML "
    "instead of copying the live one (colour and image are applied the same way).",
)
@opt("--color-label", default="version", show_default=True, help="The label key that carries the colour.")
@opt("--preview-service", help="Name of the internal preview Service. Default: <service>-preview.")
@opt(
    "--smoke-path",
    multiple=True,
    help="Path that must answer 2xx to GET through the preview Service "
    "(repeatable; in the environment, separate paths by whitespace).",
)
@opt(
    "--smoke-file",
    type=click.Path(dir_okay=False),
    help="YAML list of HTTP checks (method, headers, body, status, body-contains, json, retries, timeout).",
)
@opt(
    "--smoke-command",
    help="Your own end-to-end test command, run with BLUEGREEN_PREVIEW_URL pointing at "
    "the preview Service; it must exit 0.",
)
@opt(
    "--smoke-via",
    type=click.Choice(SMOKE_VIA),
    default="auto",
    show_default=True,
    help="Reach the preview through the API server's service proxy, or cluster DNS (direct); auto picks "
    "direct inside a cluster, proxy elsewhere.",
)
@opt(
    "--after-switch",
    type=click.Choice(AFTER_SWITCH),
    default="keep",
    show_default=True,
    help="What happens to the old colour after a verified switch; keep makes rollback instant.",
)
@opt(
    "--on-failure",
    type=click.Choice(ON_FAILURE),
    default="keep",
    show_default=True,
    help="Keep the failed new colour for debugging (it gets no traffic), or delete it.",
)
@connection_options
def deploy(**kw: Any) -> None:
    """Release an image: deploy the idle colour, verify it, switch the Service, verify again."""

    def body(log: StepLog, outcome: Outcome) -> None:
        from bluegreen.deploy import deploy as run_deploy

        s = DeploySettings(
            common=_common(kw),
            image=kw["image"],
            deployment=kw["deployment"] or None,
            container=kw["container"] or None,
            manifest=kw["manifest"] or None,
            color_label=kw["color_label"],
            preview_service=kw["preview_service"] or None,
            smoke_paths=tuple(kw["smoke_path"]),
            smoke_file=kw["smoke_file"] or None,
            smoke_command=kw["smoke_command"] or None,
            smoke_via=kw["smoke_via"],
            timeout=kw["timeout"],
            after_switch=kw["after_switch"],
            on_failure=kw["on_failure"],
            dry_run=kw["dry_run"],
            force_unlock=kw["force_unlock"],
            lock_duration=kw["lock_duration"],
        )
        outcome.image = s.image
        run_deploy(s, _kube(s.common, log), log, outcome)

    _run("deploy", kw, body)


ROLLBACK_EXAMPLES = """\b
Examples:
  bluegreen rollback --service web
  bluegreen rollback -s web -n shop --json
"""


@cli.command(epilog=ROLLBACK_EXAMPLES)
@release_options
@connection_options
def rollback(**kw: Any) -> None:
    """Switch the Service back to the previous colour (scaling it up first if it was scaled to zero)."""

    def body(log: StepLog, outcome: Outcome) -> None:
        from bluegreen.rollback import rollback as run_rollback

        s = RollbackSettings(
            common=_common(kw),
            timeout=kw["timeout"],
            dry_run=kw["dry_run"],
            force_unlock=kw["force_unlock"],
            lock_duration=kw["lock_duration"],
        )
        run_rollback(s, _kube(s.common, log), log, outcome)

    _run("rollback", kw, body)


STATUS_EXAMPLES = """\b
Examples:
  bluegreen status --service web
  bluegreen status -s web -n shop --json | jq .active_color
"""


@cli.command(epilog=STATUS_EXAMPLES)
@opt("--service", "-s", required=True, help="The live Service.")
@connection_options
def status(**kw: Any) -> None:
    """Show the live colour, each colour's Deployment, the preview Service, the lock and the history."""
    extra: dict[str, Any] = {}

    def body(log: StepLog, outcome: Outcome) -> None:
        from bluegreen.status import format_status
        from bluegreen.status import status as run_status

        common = _common(kw)
        report = run_status(common, _kube(common, log), log, outcome)
        extra["status"] = report
        if not kw["json_out"]:
            click.echo("\n".join(format_status(report)))

    _run("status", kw, body, extra_json=extra)


@cli.command(epilog="\b\nExample:\n  bluegreen demo --ready-delay 0.5")
@click.option(
    "--ready-delay",
    type=float,
    default=0.4,
    show_default=True,
    help="Seconds a simulated pod takes to become ready.",
)
def demo(ready_delay: float) -> None:
    """Run a whole blue/green cycle against a simulated cluster: no cluster or Docker needed."""
    from bluegreen.demo import run_demo

    sys.exit(run_demo(ready_delay=ready_delay))


def _common(kw: dict[str, Any]) -> Common:
    return Common(
        service=kw["service"],
        connection=Connection(
            kubeconfig=kw["kubeconfig"] or None,
            context=kw["context"] or None,
            namespace=kw["namespace"] or None,
        ),
        output_file=kw["output_file"] or None,
        json=kw["json_out"],
        debug=kw["debug"],
    )


def _kube(common: Common, log: StepLog) -> Any:
    from bluegreen.kube import Kube

    kube = Kube(common.connection, debug=log.debug)
    token = kube.configuration.api_key.get("BearerToken") or ""
    if token:
        log.mask(token.removeprefix("Bearer "))
    return kube


def _run(
    command: str,
    kw: dict[str, Any],
    body: Callable[[StepLog, Outcome], None],
    extra_json: dict[str, Any] | None = None,
) -> None:
    log = StepLog(debug=bool(kw.get("debug")))
    outcome = Outcome(command=command, result="failed", service=kw.get("service"))
    code = ExitCode.OK
    try:
        body(log, outcome)
    except BluegreenError as e:
        code = e.exit_code
        outcome.result, outcome.message = "failed", str(e)
        if kw.get("debug"):
            log.debug(traceback.format_exc())
        log.error(str(e))
    except KeyboardInterrupt:
        code = ExitCode.FAILED
        outcome.result, outcome.message = (
            "failed",
            "interrupted; run `bluegreen status` to see where things stand",
        )
        log.error(outcome.message)
    except Exception as e:  # a bug of ours: say so plainly, and how to get the details
        code = ExitCode.FAILED
        outcome.result = "failed"
        outcome.message = f"unexpected error: {type(e).__name__}: {e}"
        log.error(outcome.message + ("" if kw.get("debug") else " (re-run with --debug for the stack trace)"))
        if kw.get("debug"):
            log.debug(traceback.format_exc())
    outcome.exit_code = int(code)
    outcome.timings = list(log.timings)
    json_out = bool(kw.get("json_out"))
    emit(
        outcome,
        output_file=kw.get("output_file") or None,
        json_out=json_out and extra_json is None,
        stdout=sys.stdout,
        env=os.environ,
    )
    if json_out and extra_json is not None:
        click.echo(json.dumps({**to_dict(outcome), **extra_json}, indent=2))
    sys.exit(int(code))


def _terminated(signum: int, frame: Any) -> None:
    # CI runners cancel jobs with SIGTERM: unwind like Ctrl-C, so the lock is released, outputs are
    # written and the client's temporary credential files are removed at exit.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _terminated)
    cli.main(args=argv, prog_name="bluegreen")


def run() -> None:
    """The console script: main(), then exit without the interpreter's slow teardown of the loaded
    Kubernetes client (~0.1 s). Exit handlers still run first: the client removes its temporary
    credential files in one of them."""
    try:
        main()
        code = 0
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
