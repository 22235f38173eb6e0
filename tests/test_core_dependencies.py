"""What the server imports at module level must come from the core dependencies.

The dev extras install far more than the core, so a missing core dependency passes every other test and only
breaks `make demo` on a fresh machine (it happened with jinja2). Optional libraries are imported inside functions,
which this check leaves alone.
"""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "openclarify"


def module_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:  # top level only: imports inside functions are lazy on purpose
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.If | ast.Try):
            for child in ast.walk(node):
                if isinstance(child, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in child.names)
                elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                    names.add(child.module.split(".")[0])
    return names


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_module_level_import_is_a_core_dependency():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    core = {normalise(re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0]) for dep in pyproject["project"]["dependencies"]}
    provides = packages_distributions()
    # Packages the core's own dependencies bring and the code may use directly.
    transitive = {"botocore", "anyio", "markupsafe"}
    missing = {}
    for path in PACKAGE.rglob("*.py"):
        # The Ray mode is an optional extra: its package is only imported when `serve --ray` asks for it.
        if "serving" in path.relative_to(PACKAGE).parts and "ray" in path.relative_to(PACKAGE).parts:
            continue
        for name in module_level_imports(path):
            if name == "openclarify" or name in sys.stdlib_module_names or name in transitive:
                continue
            distributions = {normalise(d) for d in provides.get(name, [name])}
            if not distributions & core:
                missing.setdefault(name, []).append(str(path.relative_to(ROOT)))
    assert not missing, f"imported at module level but not a core dependency: {missing}"
