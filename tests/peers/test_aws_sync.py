"""``aws s3 sync`` (Debian's awscli 2.9) onto a name already taken, with other bytes.

It compares size and mtime only, never the bytes: a different size is
overwritten, and so is the same size when the local file is newer than the
object; the same size and a local file no newer than it is skipped. Either way
the exit code is 0 and nothing says that the target held something else: an overwrite
prints the ordinary ``upload:`` line of a fresh copy, a skip prints nothing.
``--size-only`` skips every same-size conflict, whatever the times.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ..support.servers import RealServer
from .helpers import Case, run_case

# (case, flags, overwritten)
CASES = [
    pytest.param(Case(b"new bytes", b"old", "older"), [], True, id="other-size"),
    pytest.param(Case(b"AAAA", b"BBBB", "newer"), [], True, id="same-size-source-newer"),
    pytest.param(Case(b"AAAA", b"BBBB", "older"), [], False, id="same-size-source-older"),
    pytest.param(Case(b"AAAA", b"BBBB", "equal"), [], False, id="same-size-same-mtime"),
    pytest.param(
        Case(b"new bytes", b"old", "older"), ["--size-only"], True, id="size-only-other-size"
    ),
    pytest.param(
        Case(b"AAAA", b"BBBB", "newer"),
        ["--size-only"],
        False,
        id="size-only-same-size-source-newer",
    ),
]


@pytest.mark.parametrize(("case", "flags", "overwritten"), CASES)
def test_aws_s3_sync_overwrites_or_skips_a_conflict_and_exits_0(
    case: Case, flags: list[str], overwritten: bool, seaweedfs: RealServer, s3: Any,
    tmp_path: Path,
) -> None:  # fmt: skip
    outcome = run_case("aws", flags, case, seaweedfs, s3, tmp_path)
    assert outcome.exit_code == 0, outcome.output
    assert outcome.overwritten(case) is overwritten
    if overwritten:
        # Reported as an ordinary copy, nothing more.
        assert "upload:" in outcome.output
        assert "warning" not in outcome.output.lower()
    else:
        assert outcome.output == ""
