"""``rclone copy`` (Debian's rclone 1.60) onto a name already taken, with other bytes.

rclone compares size, then mtime; only when the mtimes differ does it compare
hashes (MD5 against the ETag). So a conflict is overwritten silently, exit 0,
unless the object has the same size and the very mtime of the source file
(recorded by an earlier ``rclone copy`` in ``X-Amz-Meta-Mtime``, or, with none
recorded, its LastModified): then it is skipped silently, and the bytes are
never compared.

``--immutable`` turns each overwrite into an error (``immutable file
modified``, exit 6) and leaves the target alone; the same-size, same-mtime
cases still pass as equal, exit 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ..support.servers import RealServer
from .helpers import Case, run_case

IMMUTABLE_ERROR = "Source and destination exist but do not match: immutable file modified"
# rclone's exit code for a "NoRetry" error, which --immutable's refusal is.
EXIT_NO_RETRY = 6

CASES = [
    pytest.param(Case(b"new bytes", b"old", "older"), id="other-size"),
    pytest.param(Case(b"AAAA", b"BBBB", "older"), id="same-size-source-older"),
    pytest.param(Case(b"AAAA", b"BBBB", "newer"), id="same-size-source-newer"),
    pytest.param(
        Case(b"AAAA", b"BBBB", "newer", placed_by="rclone"), id="same-size-other-mtime-recorded"
    ),
]
# Same size, and the source file's mtime equal to the one rclone compares:
# the mtime an earlier rclone copy recorded, or, with none recorded, the
# object's LastModified (whole seconds).
SAME_MTIME = [
    pytest.param(Case(b"AAAA", b"BBBB", "equal", placed_by="rclone"), id="recorded-mtime"),
    pytest.param(Case(b"AAAA", b"BBBB", "equal"), id="last-modified"),
]


@pytest.mark.parametrize("case", CASES)
def test_rclone_copy_overwrites_a_conflict_silently(
    case: Case, seaweedfs: RealServer, s3: Any, tmp_path: Path
) -> None:
    outcome = run_case("rclone", [], case, seaweedfs, s3, tmp_path)
    assert (outcome.exit_code, outcome.output) == (0, "")
    assert outcome.overwritten(case)


@pytest.mark.parametrize("case", CASES)
def test_rclone_copy_immutable_refuses_a_conflict_with_exit_6(
    case: Case, seaweedfs: RealServer, s3: Any, tmp_path: Path
) -> None:
    outcome = run_case("rclone", ["--immutable"], case, seaweedfs, s3, tmp_path)
    assert outcome.exit_code == EXIT_NO_RETRY, outcome.output
    assert IMMUTABLE_ERROR in outcome.output
    assert not outcome.overwritten(case)


@pytest.mark.parametrize("case", SAME_MTIME)
@pytest.mark.parametrize("flags", [[], ["--immutable"]], ids=["copy", "immutable"])
def test_rclone_skips_a_same_size_same_mtime_conflict_silently_even_immutable(
    flags: list[str], case: Case, seaweedfs: RealServer, s3: Any, tmp_path: Path
) -> None:
    outcome = run_case("rclone", flags, case, seaweedfs, s3, tmp_path)
    assert (outcome.exit_code, outcome.output) == (0, "")
    assert not outcome.overwritten(case)
