"""The negative controls for ``serve``'s create-only check: real servers that ignore it."""

from ..support.negative_servers import gcp_emulator, s3rver

__all__ = ["gcp_emulator", "s3rver"]
