"""Refresh the "library behind this chapter" box at the end of every chapter: links to the API page.

Run after adding a chapter or changing what a chapter imports: `.venv/bin/python tools/chapter_links.py .`
(`make links`). Markdown only: the chapters need not be re-executed.
"""
import ast
import importlib
import inspect
import json
import sys
from pathlib import Path

MARK = "<!-- library-functions -->"
root = Path(sys.argv[1])
for path in sorted((root / "chapters").glob("[0-9][0-9]_*.ipynb")):
    nb = json.loads(path.read_text())
    aliases, used = {}, {}
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        try:
            tree = ast.parse("\n".join(l for l in src.splitlines() if not l.lstrip().startswith(("%", "!"))))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("course_lib"):
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    try:
                        importlib.import_module(full)
                        aliases[a.asname or a.name] = full  # a module
                    except ImportError:
                        used[full] = None  # a function imported by name
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("course_lib"):
                        aliases[a.asname or a.name] = a.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                used[f"{aliases[node.value.id]}.{node.attr}"] = None
    targets = {}
    for name in used:
        module, _, attr = name.rpartition(".")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            continue
        if inspect.ismodule(obj) or not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        where = f"{obj.__module__}.{obj.__qualname__}"
        role = "py:class" if inspect.isclass(obj) else "py:func"
        targets[where] = (role, name.replace("course_lib.", "", 1))
    old = [c for c in nb["cells"] if c["cell_type"] == "markdown" and MARK in "".join(c["source"])]
    cells = [c for c in nb["cells"] if c not in old]
    if targets:
        items = [f"{{{role}}}`{shown} <{where}>`" for where, (role, shown) in sorted(targets.items(), key=lambda t: t[1][1])]
        text = (f"{MARK}\n```{{admonition}} The library behind this chapter\n:class: seealso\n\n"
                "The `course_lib` functions and classes this chapter calls, each linked to its entry on "
                "{doc}`the library's page <api>` (with its docstring and a link to its source): "
                + ", ".join(items) + ".\n```")
        # nbformat 4.5 cells carry an id: keep the box's, or give it a fixed one.
        cell_id = old[0].get("id", "library-functions") if old else "library-functions"
        cells.append({"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": text.splitlines(keepends=True)})
    nb["cells"] = cells
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    print(path.name, len(targets))
