"""The progress bar of ``migrate(progress=True)``: one tqdm line on stderr.

One bar, not two: it counts artifacts (the listing streams, so there is no
total to show) and carries the bytes copied and the per-outcome counts as its
postfix, so a log that captures stderr gets one line per refresh, not two.
"""

from __future__ import annotations

from typing import Any

from .report import Tally

__all__ = ["Progress"]


class Progress:
    """A tqdm bar over artifacts; every method is a no-op when ``enabled`` is false."""

    def __init__(self, *, enabled: bool, dry_run: bool) -> None:
        self._bar: Any = None
        self._dry_run = dry_run
        if enabled:
            from tqdm import tqdm

            # disable=False: the caller asked for the bar, so show it even when
            # stderr is not a terminal (tqdm's own default would hide it).
            self._bar = tqdm(
                desc="migrate (dry run)" if dry_run else "migrate",
                unit="obj",
                disable=False,
                leave=True,
                dynamic_ncols=True,
            )

    def advance(self, tally: Tally) -> None:
        """Count one more artifact handled, and show the tallies so far."""
        if self._bar is None:
            return
        from tqdm import tqdm

        size = tqdm.format_sizeof(tally.bytes_copied, "B", 1024)
        done = f"would copy={tally.would_copy}" if self._dry_run else f"copied={tally.copied}"
        self._bar.set_postfix_str(
            f"{done} present={tally.already_present} conflicts={len(tally.conflicts)} "
            f"failed={len(tally.failed)} {size}",
            refresh=False,
        )
        self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
