"""Kubeconfig messages name the file, the line and the input to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from bluegreen import kubeconfig
from bluegreen.errors import InputError
from bluegreen.settings import Connection

BROKEN = """apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://example.invalid
  token: abc: def
"""


def test_yaml_error_names_the_file_and_the_line_not_an_exception_class(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(BROKEN)
    with pytest.raises(InputError) as e:
        kubeconfig.load(Connection(kubeconfig=str(path)))
    line = str(e.value)
    assert line.startswith(f"--kubeconfig: {path} is not valid YAML at line 7, column ")
    assert "Error" not in line and "abc" not in line  # no class name, and none of the content


def test_yaml_error_in_kubeconfig_variable_blames_kubeconfig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(BROKEN)
    monkeypatch.setenv("KUBECONFIG", str(path))
    with pytest.raises(InputError) as e:
        kubeconfig.load(Connection())
    assert str(e.value).startswith(f"$KUBECONFIG: {path} is not valid YAML at line 7")


def test_missing_file_named_by_kubeconfig_variable_is_blamed_on_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nope"))
    with pytest.raises(InputError) as e:
        kubeconfig.load(Connection())
    assert e.value.input_name == "$KUBECONFIG"
    assert str(e.value).startswith(f"$KUBECONFIG: {tmp_path / 'nope'} does not exist")
    assert "--kubeconfig" in str(e.value)  # only as a way forward


def test_not_a_mapping_is_said_so(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text("- just\n- a list\n")
    with pytest.raises(InputError) as e:
        kubeconfig.load(Connection(kubeconfig=str(path)))
    assert "is not a kubeconfig (expected a mapping" in str(e.value)


def test_unknown_context_names_the_known_ones(sim_kubeconfig: Path) -> None:
    with pytest.raises(InputError) as e:
        kubeconfig.load(Connection(kubeconfig=str(sim_kubeconfig), context="prod"))
    assert str(e.value) == "--context: context 'prod' is not in the kubeconfig; pass one of: sim"


@pytest.fixture
def sim_kubeconfig(kubeconfig: Path) -> Path:
    return kubeconfig
