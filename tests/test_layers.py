"""The layers read top-down: no module imports from a layer above its own (see the README's
Architecture). Apps below learn about apps above through signals and registries only."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Bottom first. ``config`` is the top (settings, URLs, health), except for its job machinery.
LAYERS = (
    "core",
    "config.jobs",
    "accounts",
    "interactions",
    "artifacts",
    "policies",
    "ingestion",
    "workspace",
    "evidence",
    "exports",
    "config",
)


def layer_of(module):
    for name in ("config.jobs", *LAYERS):
        if module == name or module.startswith(name + "."):
            return LAYERS.index(name)
    return None


def imports_of(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from config import jobs`` is the job machinery, not the top layer.
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def module_name(path):
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def test_no_module_imports_from_a_layer_above_its_own():
    upward = []
    for package in (
        "core",
        "config",
        "accounts",
        "interactions",
        "artifacts",
        "policies",
        "ingestion",
        "workspace",
        "evidence",
        "exports",
    ):
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts or path.name == "test_settings.py":
                continue
            own = layer_of(module_name(path))
            for imported in imports_of(path):
                theirs = layer_of(imported)
                if theirs is not None and own is not None and theirs > own:
                    upward.append(f"{module_name(path)} imports {imported}")
    assert upward == []


def test_the_vocabulary_and_the_job_machinery_import_no_app():
    for path in (ROOT / "core" / "vocabulary.py", ROOT / "config" / "jobs.py"):
        apps = [name for name in imports_of(path) if layer_of(name) not in (None, 0, 1)]
        assert apps == [], f"{path.name} imports {apps}"
