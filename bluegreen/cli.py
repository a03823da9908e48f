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
from bluegreen.errors import BluegreenError, ExitCode, InputError
from bluegreen.log import StepLog
from bluegreen.report import emit, to_dict
from bluegreen.settings import (
    AFTER_SWITCH,
    DEFAULTS,
    ON_FAILURE,
    SMOKE_VIA,
    AbortSettings,
    Common,
    Connection,
    DeploySettings,
    Finish,
    Locking,
    PromoteSettings,
    RollbackSettings,
    Smoke,
)

F = Callable[..., Any]


def opt(*decls: str, **kw: Any) -> Callable[[F], F]:
    """A click option whose environment variable is BLUEGREEN_<LONG_NAME>, for every command alike."""
    long = next(d for d in decls if d.startswith("--"))
    kw.setdefault("envvar", "BLUEGREEN_" + long[2:].upper().replace("-", "_"))
    kw.setdefault("show_envvar", True)
    if long[2:] in DEFAULTS and "default" not in kw:
        kw["default"] = DEFAULTS[long[2:]]
        kw.setdefault("show_default", True)
    return click.option(*decls, **kw)


def options(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(f: F) -> F:
        for o in reversed(decorators):
            f = o(f)
        return f

    return apply


DURATION = "(seconds, or a duration such as 90s, 10m)"

connection_options = options(
    opt(
        "--namespace",
        "-n",
        help="Namespace of the Service. Default: the kubeconfig context's, else 'default'.",
    ),
    opt(
        "--kubeconfig",
        type=click.Path(dir_okay=False),
        help="Path to a kubeconfig. Default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account.",
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
)

service_option = opt(
    "--service",
    "-s",
    required=True,
    multiple=True,
    help="The live Service whose selector bluegreen switches. Repeat it for every Service that selects the "
    "colour (they switch together; the first holds the release state).",
)

write_options = options(
    service_option,
    opt("--dry-run", is_flag=True, help="Print what would be created, changed and switched; change nothing."),
    opt(
        "--force-unlock",
        is_flag=True,
        help="Take the release lock even if another run holds it (for humans who know that run is gone).",
    ),
    opt("--lock-duration", help=f"How long the release lock lives without renewal {DURATION}."),
    opt(
        "--lock-wait",
        help=f"Wait this long for another release's lock instead of failing at once {DURATION}.",
    ),
)

timeout_option = opt("--timeout", help=f"How long the new colour may take to become ready {DURATION}.")

smoke_options = options(
    opt(
        "--smoke-path",
        multiple=True,
        help="Path that must answer 2xx to GET through the preview Service (repeatable; in the environment, "
        "separate paths by whitespace).",
    ),
    opt(
        "--smoke-file",
        type=click.Path(dir_okay=False),
        help="YAML list of HTTP checks (method, headers, body, status, body-contains, json, retries, timeout).",
    ),
    opt(
        "--smoke-command",
        help="Your own end-to-end test command, run with BLUEGREEN_PREVIEW_URL pointing at the preview Service; "
        "it must exit 0.",
    ),
    opt(
        "--smoke-via",
        type=click.Choice(SMOKE_VIA),
        help="Reach the preview through the API server's service proxy, or cluster DNS (direct); auto picks "
        "direct inside a cluster, proxy elsewhere.",
    ),
    opt(
        "--smoke-port",
        help="The Service port (name or number) smoke checks use. Default: the port named http, else the first.",
    ),
)

finish_options = options(
    opt(
        "--after-switch",
        type=click.Choice(AFTER_SWITCH),
        help="What happens to the old colour after a verified switch; keep makes rollback instant.",
    ),
    opt(
        "--scale-down-delay",
        help=f"Wait between a verified switch and scale-to-zero/delete of the old colour, so load balancers "
        f"follow first {DURATION}; 0 turns it off.",
    ),
)


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
  bluegreen deploy -s web --image web:2.0 --hold      # verify, then wait for `bluegreen promote`
  BLUEGREEN_SERVICE=web BLUEGREEN_IMAGE=web:2.0 bluegreen deploy --dry-run
"""


@cli.command(epilog=DEPLOY_EXAMPLES)
@write_options
@timeout_option
@opt("--image", "-i", required=True, help="The image to release, e.g. registry.example.com/web:1.4.2.")
@opt(
    "--deployment",
    help="Base name of the colour Deployments (<base>-blue, <base>-green). Default: the live Deployment's name "
    "without its colour suffix.",
)
@opt(
    "--container", help="Container (or init container) that gets the new image. Default: the only container."
)
@opt(
    "--manifest",
    type=click.Path(dir_okay=False),
    help="Build the new colour from this Deployment YAML instead of copying the live one (colour and image are "
    "applied the same way).",
)
@opt("--color-label", help="The label key that carries the colour.")
@opt("--preview-service", help="Name of the internal preview Service. Default: <service>-preview.")
@smoke_options
@finish_options
@opt(
    "--on-failure",
    type=click.Choice(ON_FAILURE),
    help="Keep the failed new colour for debugging (it gets no traffic), or delete it.",
)
@opt(
    "--hold",
    is_flag=True,
    help="Stop after the smoke checks without switching; `bluegreen promote` switches later.",
)
@connection_options
def deploy(**kw: Any) -> None:
    """Release an image: deploy the idle colour, verify it, switch the Service, verify again."""

    def body(ctx: Any) -> Any:
        from bluegreen.deploy import deploy as run_deploy

        s = DeploySettings(
            common=_common(kw),
            image=kw["image"],
            deployment=kw["deployment"] or None,
            container=kw["container"] or None,
            manifest=kw["manifest"] or None,
            color_label=kw["color_label"],
            preview_service=kw["preview_service"] or None,
            smoke=_smoke(kw),
            finish=_finish(kw),
            locking=_locking(kw),
            timeout=kw["timeout"],
            on_failure=kw["on_failure"],
            hold=kw["hold"],
            dry_run=kw["dry_run"],
        )
        run = run_deploy(s, ctx)
        held = run.held
        result = "dry-run" if s.dry_run else "held" if held else "deployed" if run.switched else "unchanged"
        return result, s.image, s.color_label, run

    _run("deploy", kw, body)


@cli.command(
    epilog="\b\nExamples:\n  bluegreen promote --service web\n  bluegreen promote -s web --smoke-path /healthz"
)
@write_options
@timeout_option
@smoke_options
@finish_options
@connection_options
def promote(**kw: Any) -> None:
    """Switch to the release that `deploy --hold` verified and held (exactly that Deployment, or nothing)."""

    def body(ctx: Any) -> Any:
        from bluegreen.promote import promote as run_promote

        s = PromoteSettings(
            common=_common(kw),
            smoke=_smoke(kw),
            finish=_finish(kw),
            locking=_locking(kw),
            timeout=kw["timeout"],
            dry_run=kw["dry_run"],
        )
        run = run_promote(s, ctx)
        result = "dry-run" if s.dry_run else "deployed" if run.switched else "unchanged"
        return result, None, None, run

    _run("promote", kw, body)


@cli.command(epilog="\b\nExamples:\n  bluegreen abort --service web\n  bluegreen abort -s web --delete")
@write_options
@opt(
    "--delete",
    envvar=["BLUEGREEN_ABORT_DELETE", "BLUEGREEN_DELETE"],
    is_flag=True,
    help="Delete the held colour's Deployment instead of scaling it to zero.",
)
@connection_options
def abort(**kw: Any) -> None:
    """Discard a held release: scale its colour to zero (or delete it) and forget the hold. Live traffic is
    untouched."""

    def body(ctx: Any) -> Any:
        from bluegreen.promote import abort as run_abort

        s = AbortSettings(
            common=_common(kw), delete=kw["delete"], locking=_locking(kw), dry_run=kw["dry_run"]
        )
        run = run_abort(s, ctx)
        return ("dry-run" if s.dry_run else "aborted"), None, None, run

    _run("abort", kw, body)


ROLLBACK_EXAMPLES = """\b
Examples:
  bluegreen rollback --service web
  bluegreen rollback -s web --to registry.example.com/web:1.4.1
  bluegreen rollback -s web -n shop --json
"""


@cli.command(epilog=ROLLBACK_EXAMPLES)
@write_options
@timeout_option
@opt(
    "--to",
    envvar=["BLUEGREEN_ROLLBACK_TO", "BLUEGREEN_TO"],
    help="Roll back to this image from the history (its colour must still hold it). Default: the previous one.",
)
@connection_options
def rollback(**kw: Any) -> None:
    """Switch the Service back to the previous colour (scaling it up first if it runs fewer pods than serve now)."""

    def body(ctx: Any) -> Any:
        from bluegreen.rollback import rollback as run_rollback

        s = RollbackSettings(
            common=_common(kw),
            to=kw["to"] or None,
            locking=_locking(kw),
            timeout=kw["timeout"],
            dry_run=kw["dry_run"],
        )
        run = run_rollback(s, ctx)
        result = "dry-run" if s.dry_run else "rolled-back" if run.switched else "unchanged"
        return result, None, None, run

    _run("rollback", kw, body)


STATUS_EXAMPLES = """\b
Examples:
  bluegreen status --service web
  bluegreen status -s web -n shop --json | jq -r '.outputs["active-color"]'
  bluegreen status -s web --check     # exit 1 when a hold, a pending scale-down or a mismatch is found
"""


@cli.command(epilog=STATUS_EXAMPLES)
@opt("--service", "-s", required=True, help="The live Service.")
@opt(
    "--check",
    is_flag=True,
    help="Exit 1 when the Service's state needs attention (a hold, a pending "
    "scale-down, unready live pods, a selector that disagrees with bluegreen's record).",
)
@connection_options
def status(**kw: Any) -> None:
    """Show the live colour, each colour's Deployment, the preview Service, the lock and the history."""
    extra: dict[str, Any] = {}

    def body(ctx: Any) -> Any:
        from bluegreen.status import format_status
        from bluegreen.status import status as run_status

        report = run_status(_common(kw), ctx)
        extra["status"] = report
        if not kw["json_out"]:
            click.echo("\n".join(format_status(report)))
        if kw["check"] and report["problems"]:
            raise NeedsAttention(f"service/{report['service']} needs attention: {report['problems'][0]}")
        return "unchanged", None, report["color_label"], ctx.last

    _run("status", kw, body, extra_json=extra)


class NeedsAttention(BluegreenError):
    exit_code = ExitCode.FAILED


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

    sys.exit(run_demo(cli, ready_delay=ready_delay))


def _service_names(kw: dict[str, Any]) -> list[str]:
    """--service as given: repeated, or one value (an action input) separated by commas or whitespace."""
    given = kw.get("service") or ()
    return [
        n for v in ([given] if isinstance(given, str) else given) for n in str(v).replace(",", " ").split()
    ]


def _common(kw: dict[str, Any]) -> Common:
    names = _service_names(kw)
    if not names:
        raise InputError("--service", "is required")
    return Common(
        service=names[0],
        also=tuple(names[1:]),
        connection=Connection(
            kubeconfig=kw["kubeconfig"] or None,
            context=kw["context"] or None,
            namespace=kw["namespace"] or None,
        ),
        output_file=kw["output_file"] or None,
        json=kw["json_out"],
        debug=kw["debug"],
    )


def _smoke(kw: dict[str, Any]) -> Smoke:
    paths = tuple(p for v in kw["smoke_path"] for p in str(v).split())
    return Smoke(
        paths=paths,
        file=kw["smoke_file"] or None,
        command=kw["smoke_command"] or None,
        via=kw["smoke_via"],
        port=kw["smoke_port"] or None,
    )


def _finish(kw: dict[str, Any]) -> Finish:
    return Finish(after_switch=kw["after_switch"], scale_down_delay=kw["scale_down_delay"])


def _locking(kw: dict[str, Any]) -> Locking:
    return Locking(
        force_unlock=kw["force_unlock"], lock_duration=kw["lock_duration"], lock_wait=kw["lock_wait"]
    )


def _ctx(common: Common, log: StepLog) -> Any:
    from bluegreen.kube import Kube
    from bluegreen.kubeconfig import bearer_token, quiet_client_logs
    from bluegreen.release import Ctx

    quiet_client_logs(log.debug)  # the client library's own records: no stray `ERROR:root:` lines

    kube = Kube(common.connection, debug=log.debug)
    token = bearer_token(kube.configuration)
    if token:
        log.mask(token)
    return Ctx(kube, log, common.service)


def _run(
    command: str,
    kw: dict[str, Any],
    body: Callable[[Any], tuple[str, str | None, str | None, Any]],
    extra_json: dict[str, Any] | None = None,
) -> None:
    """Run a command's body and compute its outcome once, at the end, from what it observed."""
    from bluegreen.report import observed

    log = StepLog(debug=bool(kw.get("debug")))
    code, message, result, image, label, run, ctx = (
        ExitCode.OK,
        None,
        "failed",
        kw.get("image"),
        None,
        None,
        None,
    )
    try:
        common = _common(kw)
        ctx = _ctx(common, log)
        result, image, label, run = body(ctx)
        notes = list(getattr(run, "notes", ()) or ())
        if result == "dry-run":
            for line in notes:
                log.info(f"dry-run: {line}")
            log.info("dry-run: nothing was changed")
        message = _message(command, result, run, notes)
        if message and result != "dry-run":
            log.info(message)
    except BluegreenError as e:
        code, result, message = e.exit_code, "failed", str(e)
        if kw.get("debug"):
            log.debug(traceback.format_exc())
        log.error(str(e), file=getattr(e, "file", None), line=getattr(e, "line", None))
    except KeyboardInterrupt:
        code, result = ExitCode.FAILED, "failed"
        message = "interrupted; run `bluegreen status` to see where things stand"
        log.error(message)
    except Exception as e:  # a bug of ours: say so plainly, and how to get the details
        code, result = ExitCode.FAILED, "failed"
        message = f"unexpected error: {type(e).__name__}: {e}"
        log.error(message + ("" if kw.get("debug") else " (re-run with --debug for the stack trace)"))
        if kw.get("debug"):
            log.debug(traceback.format_exc())
    if ctx is not None:
        ctx.close()
    last = run if run is not None else (ctx.last if ctx is not None else None)
    primary = next(iter(_service_names(kw)), None)
    snap = getattr(last, "snap", None)
    outcome = observed(
        command,
        result,
        service=snap.service(primary) if snap is not None and primary else None,
        deployments=snap.deployments if snap is not None else {},
        color_label=label,
        image=image,
        switched=bool(getattr(last, "switched", False)),
    )
    outcome.service = outcome.service or primary
    outcome.namespace = outcome.namespace or (ctx.kube.namespace if ctx is not None else None)
    outcome.message, outcome.exit_code = message, int(code)
    outcome.smoke = list(getattr(last, "smoke", ()) or ())
    outcome.plan = list(getattr(last, "notes", ())) if result == "dry-run" else None
    outcome.run_url = ctx.run_url if ctx is not None else None
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
    if ctx is not None:
        ctx.join()  # the lock's release went out while we reported
    sys.exit(int(code))


def _message(command: str, result: str, run: Any, notes: list[str]) -> str | None:
    snap = getattr(run, "snap", None)
    if result == "unchanged" and notes:
        return notes[0]
    if result == "deployed" and notes:  # verified live, then a neighbour moved traffic: say what is true now
        return f"the release was verified live, but {notes[-1]}"
    if snap is None or result in ("dry-run",) or command == "status":
        return None
    return {
        "deployed": "release complete: the new colour is live and verified",
        "held": "release held: verified, not switched; promote or abort it",
        "aborted": "held release discarded; live traffic untouched",
        "rolled-back": "rolled back: the previous colour is live and serving",
        "unchanged": "nothing to do: the image is live and verified",
    }.get(result)


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
