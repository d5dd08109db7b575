"""The ``eden-blob`` command: ``main.py`` parses and dispatches put, get, stat and
serve; ``local_files.py`` reads and writes the user's own files."""
