"""s3rver, a real server that ignores create-only, for the facade's check."""

from ..support.negative_servers import s3rver

__all__ = ["s3rver"]
