"""The negative controls, session-scoped: real servers that ignore create-only."""

from ..support.negative_servers import gcp_emulator, s3rver

__all__ = ["gcp_emulator", "s3rver"]
