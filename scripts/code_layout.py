"""Print docs/operations.md's code-layout table from the package itself: each room of fer_core and each module,
with the first line of its docstring. tests/test_architecture.py checks the doc holds exactly this table.

    python scripts/code_layout.py          # print the table
    python scripts/code_layout.py --write  # rewrite it in docs/operations.md, between its markers
"""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "operations.md"
MARKERS = re.compile(r"(<!-- code-layout: python scripts/code_layout.py -->\n)(.*?)(\n<!-- /code-layout -->)", re.S)


def summary(path: Path) -> str:
    """The first line of a module's docstring, with table pipes escaped."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return doc.strip().splitlines()[0].replace("|", "\\|") if doc.strip() else ""


def layout_table() -> str:
    """The table: fer_core's top-level modules, then each room and its modules."""
    package = ROOT / "fer_core"
    rows = ["| path | what |", "|---|---|"]
    rows += [f"| `fer_core/{p.name}` | {summary(p)} |" for p in sorted(package.glob("*.py"))]
    for room in sorted(p for p in package.iterdir() if (p / "__init__.py").exists()):
        rows.append(f"| **`fer_core/{room.name}/`** | **{summary(room / '__init__.py')}** |")
        rows += [f"| `fer_core/{room.name}/{p.name}` | {summary(p)} |" for p in sorted(room.glob("*.py"))
                 if p.name != "__init__.py"]
    return "\n".join(rows)


def main() -> int:
    if "--write" in sys.argv:
        text = DOC.read_text()
        if not MARKERS.search(text):
            print(f"{DOC}: no code-layout markers", file=sys.stderr)
            return 1
        DOC.write_text(MARKERS.sub(lambda m: m[1] + layout_table() + m[3], text))
    else:
        print(layout_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
