"""Configuration: ``build_artifact_backend`` and the ``--blob-backend`` flags
with their environment variables.
"""
