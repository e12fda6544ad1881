"""Prove a reorganisation of the tests lost nothing: every test function or class of the OLD tree
stands, with the same syntax tree, somewhere in the NEW tree.

    git archive REV tests | tar -x -C /tmp/old && python scripts/compare_test_bodies.py /tmp/old/tests tests
"""

from __future__ import annotations

import ast
import collections
import pathlib
import sys


def definitions(root: str) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = collections.defaultdict(list)
    for path in sorted(pathlib.Path(root).rglob("test_*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name.startswith(("test_", "Test")):
                found[node.name].append((str(path), ast.dump(node)))
    return found


def main(old_root: str, new_root: str) -> int:
    old, new = definitions(old_root), definitions(new_root)
    changed = 0
    for name, places in sorted(old.items()):
        for path, tree in places:
            if not any(tree == other for _, other in new.get(name, [])):
                changed += 1
                print(f"changed or missing: {name} (from {path})")
    print(
        f"{sum(map(len, old.values()))} test definitions before, {sum(map(len, new.values()))} after, "
        f"{changed} changed or missing"
    )
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
