"""The ``eden-blob`` command: ``main.py`` parses and dispatches put, get, stat, check
and serve; ``serve.py`` runs the create-only check before the server listens;
``local_files.py`` reads and writes the user's own files."""
