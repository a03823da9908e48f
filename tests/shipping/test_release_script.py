""".github/scripts/release.py: the digest pin, the tags a release creates and moves, its notes."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / ".github" / "scripts" / "release.py"
DIGEST = "sha256:" + "ab12" * 16
IMAGE = "ghcr.io/acme/bluegreen"


@pytest.fixture(scope="module")
def release() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("bluegreen_release_script", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# --- pin ---------------------------------------------------------------------------------------------


def test_the_real_action_yml_is_pinned_by_digest_and_nothing_else_changes(release: types.ModuleType) -> None:
    source = (ROOT / "action.yml").read_text(encoding="utf-8")
    pinned = release.pin_image(source, IMAGE, DIGEST)
    assert yaml.safe_load(pinned)["runs"] == {"using": "docker", "image": f"docker://{IMAGE}@{DIGEST}"}
    changed = [(a, b) for a, b in zip(source.splitlines(), pinned.splitlines(), strict=True) if a != b]
    assert changed == [("  image: Dockerfile", f"  image: docker://{IMAGE}@{DIGEST}")]


def test_an_already_pinned_action_is_refused(release: types.ModuleType) -> None:
    pinned = release.pin_image((ROOT / "action.yml").read_text(encoding="utf-8"), IMAGE, DIGEST)
    with pytest.raises(release.ReleaseError, match="exactly one 'image: Dockerfile'"):
        release.pin_image(pinned, IMAGE, DIGEST)


def test_a_comment_mentioning_the_image_line_is_not_pinned(release: types.ModuleType) -> None:
    text = "runs:\n  using: docker\n  # image: Dockerfile on branches\n  image: 'Dockerfile'\n"
    assert release.pin_image(text, IMAGE, DIGEST).splitlines()[2:] == [
        "  # image: Dockerfile on branches",
        f"  image: docker://{IMAGE}@{DIGEST}",
    ]


@pytest.mark.parametrize(
    "digest",
    ["sha256:abc", "v1.2.3", "sha256:" + "AB12" * 16, "sha512:" + "ab12" * 16, ""],
)
def test_only_a_sha256_digest_is_accepted(release: types.ModuleType, digest: str) -> None:
    with pytest.raises(release.ReleaseError, match="digest"):
        release.pin_image("runs:\n  image: Dockerfile\n", IMAGE, digest)


@pytest.mark.parametrize(
    "image", ["ghcr.io/Acme/bluegreen", "ghcr.io/acme/bluegreen:v1", f"{IMAGE}@{DIGEST}", "bluegreen"]
)
def test_the_image_name_has_no_tag_digest_or_capitals(release: types.ModuleType, image: str) -> None:
    with pytest.raises(release.ReleaseError, match="image"):
        release.pin_image("runs:\n  image: Dockerfile\n", image, DIGEST)


def test_the_command_line_rewrites_the_file_in_place(release: types.ModuleType, tmp_path: Path) -> None:
    action = tmp_path / "action.yml"
    action.write_text("runs:\n  using: docker\n  image: Dockerfile\n", encoding="utf-8")
    assert release.main(["pin", IMAGE, DIGEST, str(action)]) == 0
    assert action.read_text(encoding="utf-8").endswith(f"  image: docker://{IMAGE}@{DIGEST}\n")
    assert release.main(["pin", IMAGE, DIGEST, str(action)]) == 1  # a second pin is refused


# --- tags --------------------------------------------------------------------------------------------


def test_a_release_creates_its_exact_tag_and_moves_minor_and_major(release: types.ModuleType) -> None:
    tags = release.release_tags("v1.4.2")
    assert tags.exact == "v1.4.2"
    assert tags.moving == ("v1.4", "v1")


def test_a_pre_release_moves_nothing(release: types.ModuleType) -> None:
    assert release.release_tags("v2.0.0-rc.1").moving == ()


@pytest.mark.parametrize("version", ["1.2.3", "v1.2", "v01.2.3", "v1.2.3.4", "main", "v1.2.3 "])
def test_versions_must_be_v_major_minor_patch(release: types.ModuleType, version: str) -> None:
    with pytest.raises(release.ReleaseError, match="vMAJOR.MINOR.PATCH"):
        release.release_tags(version)


# --- notes -------------------------------------------------------------------------------------------

CHANGELOG = """# Changelog

## [Unreleased]
- next thing

## [1.1.0] - 2026-12-20
### Added
- hold and promote

## 1.0.0 - 2026-11-01
- first

[Unreleased]: https://example.invalid/compare/v1.1.0...HEAD
[1.1.0]: https://example.invalid/releases/v1.1.0
"""


def test_notes_are_the_versions_section_only(release: types.ModuleType) -> None:
    assert release.changelog_notes(CHANGELOG, "v1.1.0") == "### Added\n- hold and promote\n"


def test_the_last_section_leaves_out_the_link_definitions(release: types.ModuleType) -> None:
    assert release.changelog_notes(CHANGELOG, "v1.0.0") == "- first\n"


def test_a_release_without_notes_is_refused(release: types.ModuleType) -> None:
    with pytest.raises(release.ReleaseError, match=r"no '## \[1.2.0\]' section"):
        release.changelog_notes(CHANGELOG, "v1.2.0")


def test_the_repositorys_changelog_has_the_first_release(release: types.ModuleType) -> None:
    notes = release.changelog_notes((ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), "v0.1.0")
    assert notes.strip()
