"""`bluegreen demo`: a whole blue/green cycle against the simulated cluster, with the output a real run prints.

It starts the simulator in this process, seeds a blue app behind a Service, then runs the real CLI
commands: a release with smoke tests and the switch, a release whose smoke tests fail (live traffic
untouched), and a rollback.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from bluegreen.errors import ExitCode


def _banner(text: str) -> None:
    click.echo("")
    click.secho(f"==> {text}", bold=True)


_MEANING = {
    ExitCode.OK: "ok",
    ExitCode.FAILED: "failed before the switch: live traffic untouched",
    ExitCode.USAGE: "bad input or nothing to do: nothing changed",
    ExitCode.SWITCHED_BACK: "switched, verification failed, switched back",
    ExitCode.CONCURRENT: "another release or a neighbour changed things: nothing switched",
    ExitCode.UNVERIFIED: "traffic moved but could not be verified: look now",
}


def _run(cli: click.Group, args: list[str]) -> int:
    click.secho("$ bluegreen " + " ".join(args), fg="cyan")
    code = 0
    try:
        cli.main(args=args, prog_name="bluegreen", standalone_mode=False)
    except SystemExit as e:
        code = int(e.code or 0)
    click.secho(
        f"  -> exit {code}: {_MEANING.get(ExitCode(code), '')}", fg="green" if code == 0 else "yellow"
    )
    return code


def _live(sim: object, namespace: str = "default") -> str:
    from bluegreen.sim import SimCluster

    assert isinstance(sim, SimCluster)
    svc = sim.get("services", namespace, "web")
    return ",".join(f"{k}={v}" for k, v in svc["spec"]["selector"].items())


def run_demo(cli: click.Group, ready_delay: float = 0.4) -> int:
    """``cli``: the command group to run (passed in, so this module needs no import of cli.py)."""
    from bluegreen.sim import SimCluster

    sim = SimCluster(ready_delay=ready_delay).start()
    workdir = Path(tempfile.mkdtemp(prefix="bluegreen-demo-"))
    kubeconfig = sim.write_kubeconfig(workdir / "kubeconfig")
    saved = {k: os.environ.get(k) for k in ("KUBECONFIG", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")}
    os.environ["KUBECONFIG"] = str(kubeconfig)
    for k in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        os.environ.pop(k, None)  # the demo must not write into a real job's outputs
    failures: list[str] = []

    def expect(step: str, want: int, *args: str) -> None:
        """Run one bluegreen command as a user would type it; note it when its exit code surprises."""
        got = _run(cli, list(args))
        if got != want:
            failures.append(f"{step}: exit code {got}, expected {want}")

    web, smoke = ("--service", "web"), ("--smoke-path", "/healthz")
    try:
        _banner(
            f"A simulated cluster is running at {sim.url}; seeding app 'web' (3 replicas, blue, image web:1.0)"
        )
        sim.seed_app(name="web", image="registry.example/web:1.0", replicas=3, color="blue")
        click.echo(f"service/web selects {_live(sim)}")

        _banner("Release web:1.1 as green: deploy, verify through the preview Service, switch, verify again")
        expect(
            "release 1.1",
            ExitCode.OK,
            "deploy",
            *web,
            "--image",
            "registry.example/web:1.1",
            *smoke,
            "--smoke-path",
            "/",
        )
        click.echo(f"service/web now selects {_live(sim)}")

        _banner("Release web:1.2-smokefail: its smoke tests fail, so live traffic is never touched")
        expect(
            "failing release",
            ExitCode.FAILED,
            "deploy",
            *web,
            "--image",
            "registry.example/web:1.2-smokefail",
            *smoke,
            "--smoke-path",
            "/api/orders",
        )
        click.echo(f"service/web still selects {_live(sim)}")

        _banner("Release web:1.3: blue is reused and updated in place, then traffic switches back to blue")
        expect("release 1.3", ExitCode.OK, "deploy", *web, "--image", "registry.example/web:1.3", *smoke)

        _banner(
            "Something is wrong with 1.3 in production: roll back in one step (what the 3 a.m. button runs)"
        )
        expect("rollback", ExitCode.OK, "rollback", *web)
        click.echo(f"service/web selects {_live(sim)}")

        _banner(
            "A gated release: verify 1.4 on the idle colour and hold it for a human (or an environment approval)"
        )
        expect(
            "held release",
            ExitCode.OK,
            "deploy",
            *web,
            "--image",
            "registry.example/web:1.4",
            *smoke,
            "--hold",
        )
        click.echo(f"service/web still selects {_live(sim)} while 1.4 awaits promotion")
        expect("status while held", ExitCode.OK, "status", *web)
        _banner("Approved: promote switches to exactly the Deployment that was verified")
        expect("promote", ExitCode.OK, "promote", *web)
        click.echo(f"service/web now selects {_live(sim)}")

        _banner("Where things stand")
        expect("status", ExitCode.OK, "status", *web)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        sim.stop()
    click.echo("")
    if failures:
        click.secho("demo did not go as expected: " + "; ".join(failures), fg="red")
        return 1
    click.secho(
        "Demo complete: two releases, a failed release that left live traffic alone, a rollback, and a "
        "held release promoted after approval.",
        fg="green",
    )
    click.echo("Try it by hand, in a second terminal: .venv/bin/python -m bluegreen.sim --port 8001")
    return 0
