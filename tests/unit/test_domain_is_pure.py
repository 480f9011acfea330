"""domain/ must stay standard library only: rules that do not depend on frameworks."""

import ast
import sys
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "src" / "forever" / "domain"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_domain_imports_only_the_standard_library_and_itself() -> None:
    files = sorted(DOMAIN.rglob("*.py"))
    assert files, "domain/ has no modules"
    offenders = {}
    for path in files:
        outside = {
            name
            for name in _imports(path)
            if name not in sys.stdlib_module_names and name not in ("forever", "__future__")
        }
        # Inside forever, only forever.domain is allowed.
        text = path.read_text(encoding="utf-8")
        if "from forever." in text or "import forever." in text:
            for line in text.splitlines():
                stripped = line.strip()
                if stripped.startswith(
                    ("from forever.", "import forever.")
                ) and not stripped.split()[1].startswith("forever.domain"):
                    outside.add(stripped)
        if outside:
            offenders[path.name] = sorted(outside)
    assert offenders == {}
