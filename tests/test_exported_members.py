"""The public surface is ``eden_storage_async.__all__``, and nothing drifts."""

from __future__ import annotations

import importlib
import subprocess
import sys

import eden_storage_async


def test_all_names_exist_and_are_documented() -> None:
    for name in eden_storage_async.__all__:
        member = getattr(eden_storage_async, name)
        if name.startswith("__") or name == "Payload":
            continue
        assert member.__doc__, f"{name} has no docstring"


def test_every_public_attribute_is_exported() -> None:
    public = {
        name
        for name, value in vars(eden_storage_async).items()
        if not name.startswith("_") and not isinstance(value, type(importlib))
    }
    assert public == set(eden_storage_async.__all__) - {"__version__"}


def test_public_members_live_in_private_modules() -> None:
    # Private means under a private folder or module of the package
    # (eden_storage_async._s3.backend): only __init__ is public.
    for name in eden_storage_async.__all__:
        module = getattr(getattr(eden_storage_async, name), "__module__", None)
        if module is not None and module.startswith("eden_storage_async"):
            parts = module.split(".")
            assert len(parts) > 1, f"{name} is defined in eden_storage_async/__init__.py"
            assert parts[1].startswith("_"), f"{name} is defined in a public module {module}"


def test_base_import_needs_no_cloud_sdk() -> None:
    """The Protocol, the memory and file backends import with every SDK blocked."""
    code = (
        "import sys\n"
        "blocked = ('aiobotocore', 'botocore', 'boto3', 'gcloud', 'google', 'aiohttp')\n"
        "for m in blocked:\n"
        "    sys.modules[m] = None\n"
        "import eden_storage_async as e\n"
        "assert e.ArtifactBackend and e.FileArtifactBackend and e.InMemoryArtifactBackend\n"
        "loaded = [m for m in sys.modules if m.startswith(('aiobotocore', 'botocore', 'gcloud'))]\n"
        "assert all(sys.modules[m] is None for m in loaded), loaded\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
