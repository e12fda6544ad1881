"""Every test function of the old tree stands, body unchanged, somewhere in the new tree."""
import ast, collections, pathlib, sys
def tests(root):
    out = collections.defaultdict(list)
    for p in pathlib.Path(root).rglob("test_*.py"):
        for node in ast.parse(p.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and (node.name.startswith("test_") or node.name.startswith("Test")):
                out[node.name].append((str(p), ast.dump(node)))
    return out
old, new = tests(sys.argv[1]), tests(sys.argv[2])
bad = 0
for name, places in old.items():
    for path, body in places:
        if not any(b == body for _, b in new.get(name, [])):
            bad += 1; print("CHANGED OR MISSING:", name, "from", path)
print(f"{sum(map(len, old.values()))} old test definitions, {sum(map(len, new.values()))} new, {bad} changed or missing")
