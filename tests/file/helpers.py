"""Temp files, shared by the FileArtifactBackend tests: every writer stages an object
under ``TMP_PREFIX`` before linking it into place, and none may be left behind."""

from __future__ import annotations

from pathlib import Path

TMP_PREFIX = ".eden-tmp."


def temp_files(root: Path) -> list[str]:
    return [p.name for p in root.iterdir() if p.name.startswith(TMP_PREFIX)]


def flip_byte(path: Path, offset: int) -> None:
    # r+b rewrites in place: the inode, and so its checksum attribute, stays.
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x01]))
