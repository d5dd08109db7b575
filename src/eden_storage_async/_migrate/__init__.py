"""``migrate`` and its ``MigrationReport``: move artifacts between backends,
create-only, verified and resumable (``eden-blob migrate`` is a thin layer on it).

* ``run``: the copy loop, a fixed pool of workers over one streamed listing.
* ``report``: ``MigrationReport``, its JSON and its one-line summary.
* ``progress``: the tqdm bar.
"""

from .report import MigrationReport
from .run import migrate

__all__ = ["MigrationReport", "migrate"]
