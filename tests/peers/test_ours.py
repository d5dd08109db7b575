"""``eden-blob migrate`` on the same conflicts as the peers: reported, never overwritten, exit 1.

It compares size and CRC32C, never times: a same-size object with other bytes
is a conflict whatever the mtimes, whether the target object carries a CRC32C
(stored by ``S3Backend``) or not (a plain PutObject: the command then streams
it to compute one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ..support.servers import RealServer
from .helpers import Case, run_case

EXIT_CONFLICT = 1

CASES = [
    pytest.param(Case(b"new bytes", b"old", "older"), id="other-size"),
    pytest.param(Case(b"AAAA", b"BBBB", "older"), id="same-size-source-older"),
    pytest.param(Case(b"AAAA", b"BBBB", "newer"), id="same-size-source-newer"),
    pytest.param(Case(b"AAAA", b"BBBB", "equal"), id="same-size-same-mtime"),
    pytest.param(Case(b"AAAA", b"BBBB", "newer", placed_by="ours"), id="same-size-with-crc32c"),
]


@pytest.mark.parametrize("case", CASES)
def test_migrate_reports_a_conflict_never_overwrites_it_and_exits_1(
    case: Case, seaweedfs: RealServer, s3: Any, tmp_path: Path
) -> None:
    outcome = run_case("ours", [], case, seaweedfs, s3, tmp_path)
    assert outcome.exit_code == EXIT_CONFLICT, outcome.output
    assert not outcome.overwritten(case)
    assert outcome.report is not None
    assert len(outcome.report["conflicts"]) == 1, outcome.report
    assert (outcome.report["copied"], outcome.report["ok"]) == (0, False)
    assert "conflicts 1" in outcome.output
