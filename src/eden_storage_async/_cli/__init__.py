"""The ``eden-blob`` command."""
