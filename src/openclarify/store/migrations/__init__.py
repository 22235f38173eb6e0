"""Versioned schema migrations, one directory per backend: ``sqlite/NNNN_name.sql`` and ``postgres/NNNN_name.sql``.

Both directories carry the same numbers for the same change; each store applies, at start, the scripts whose
number is not yet in its ``schema_migrations`` table, in order, each in the same transaction as its record.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def migrations(dialect: str) -> list[Migration]:
    """The numbered scripts for ``dialect`` (``"sqlite"`` or ``"postgres"``), in version order."""
    folder = resources.files(__name__) / dialect
    found = []
    for script in folder.iterdir():
        if not script.name.endswith(".sql"):
            continue
        version = int(script.name.split("_", 1)[0])
        found.append(Migration(version, script.name, tuple(_statements(script.read_text(encoding="utf-8")))))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two {dialect} migrations share a version: {versions}")
    return found


def _statements(script: str) -> list[str]:
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
