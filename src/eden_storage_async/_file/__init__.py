"""The local-filesystem backend, ``FileArtifactBackend``: its syscalls and the
CRC32C attribute, group-committed directory fsyncs, the temp-file sweep and its
thread pools.
"""
