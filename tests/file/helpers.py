"""Temp files, shared by the FileArtifactBackend tests: every writer stages an object
under ``TMP_PREFIX`` before linking it into place, and none may be left behind."""

from __future__ import annotations

from pathlib import Path

TMP_PREFIX = ".eden-tmp."


def temp_files(root: Path) -> list[str]:
    return [p.name for p in root.iterdir() if p.name.startswith(TMP_PREFIX)]
