"""Release helpers for .github/workflows/publish.yml, small enough to test locally (tests/shipping/).

    python .github/scripts/release.py pin IMAGE DIGEST [action.yml]   point the action at IMAGE@DIGEST
    python .github/scripts/release.py tags vX.Y.Z                     the tags a release creates / moves
    python .github/scripts/release.py notes vX.Y.Z [CHANGELOG.md]     the release notes for vX.Y.Z

Why a digest: a tag in a registry can be re-pushed, a digest cannot. The published commit's action.yml
names the exact image bytes that were built, attested and signed for it, so pinning the action's commit
SHA pins the image too.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

# `  image: Dockerfile` under `runs:`; source commits always carry this line (CI builds from it).
SOURCE_IMAGE_LINE = re.compile(r"^(?P<indent>[ \t]+)image:[ \t]*['\"]?Dockerfile['\"]?[ \t]*$", re.MULTILINE)
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# registry/path, lower case, no tag or digest: ghcr.io/acme/bluegreen
IMAGE_NAME = re.compile(
    r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$"
)
VERSION = re.compile(
    r"^v(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)(?P<pre>-[0-9A-Za-z.-]+)?$"
)
CHANGELOG_HEADING = re.compile(r"^## \[?(?P<name>[^\]\s]+)\]?(?:\s.*)?$")


class ReleaseError(ValueError):
    """Input the release cannot go on with; the message says what to fix."""


def pin_image(action_yml: str, image: str, digest: str) -> str:
    """action.yml with `image: Dockerfile` replaced by `image: docker://IMAGE@DIGEST`."""
    if not IMAGE_NAME.match(image):
        raise ReleaseError(f"image {image!r} is not a lower-case registry/path without tag or digest")
    if not DIGEST.match(digest):
        raise ReleaseError(f"digest {digest!r} is not sha256:<64 hex digits>")
    matches = SOURCE_IMAGE_LINE.findall(action_yml)
    if len(matches) != 1:
        raise ReleaseError(
            f"action.yml must have exactly one 'image: Dockerfile' line to pin, found {len(matches)}; "
            "publish from a source commit, not from an already pinned one"
        )
    return SOURCE_IMAGE_LINE.sub(
        lambda m: f"{m.group('indent')}image: docker://{image}@{digest}", action_yml, count=1
    )


@dataclass(frozen=True)
class ReleaseTags:
    exact: str  # created once, never moved
    moving: tuple[str, ...]  # vX.Y and vX follow the newest release


def release_tags(version: str) -> ReleaseTags:
    match = VERSION.match(version)
    if not match:
        raise ReleaseError(f"version {version!r} is not vMAJOR.MINOR.PATCH (e.g. v1.2.3)")
    if match.group("pre"):
        # A pre-release never becomes what @v1 users get.
        return ReleaseTags(exact=version, moving=())
    major, minor = match.group("major"), match.group("minor")
    return ReleaseTags(exact=version, moving=(f"v{major}.{minor}", f"v{major}"))


def changelog_notes(changelog: str, version: str) -> str:
    """The body of the `## [X.Y.Z]` (or `## X.Y.Z`, with or without the v) section of CHANGELOG.md."""
    wanted = version.removeprefix("v")
    lines = changelog.splitlines()
    start = None
    for number, line in enumerate(lines):
        heading = CHANGELOG_HEADING.match(line)
        if not heading:
            continue
        if start is not None:
            return _body(lines[start:number], version)
        if heading.group("name").removeprefix("v") == wanted:
            start = number + 1
    if start is None:
        raise ReleaseError(
            f"CHANGELOG.md has no '## [{wanted}]' section; write the release notes there first"
        )
    return _body(lines[start:], version)


def _body(lines: list[str], version: str) -> str:
    # Link reference definitions ([0.1.0]: https://...) at the end belong to the whole file.
    kept = [line for line in lines if not re.match(r"^\[[^\]]+\]:\s", line)]
    body = "\n".join(kept).strip()
    if not body:
        raise ReleaseError(f"CHANGELOG.md's section for {version} is empty")
    return body + "\n"


def main(argv: list[str]) -> int:
    try:
        match argv:
            case ["pin", image, digest, *rest]:
                path = Path(rest[0] if rest else "action.yml")
                path.write_text(pin_image(path.read_text(encoding="utf-8"), image, digest), encoding="utf-8")
            case ["tags", version]:
                tags = release_tags(version)
                print(f"exact={tags.exact}")
                print(f"moving={' '.join(tags.moving)}")
            case ["notes", version, *rest]:
                path = Path(rest[0] if rest else "CHANGELOG.md")
                sys.stdout.write(changelog_notes(path.read_text(encoding="utf-8"), version))
            case _:
                print(__doc__, file=sys.stderr)
                return 2
    except ReleaseError as err:
        print(f"::error title=release::{err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
