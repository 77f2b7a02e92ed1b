"""The folders are the layers (README, "How it works"): each may import only what is below
it, so a read model cannot start talking MQTT and the service cannot reach up into its
clients. Read from the source (the import statements), so it fails the moment someone adds
an upward import, wherever in a module it is."""
from __future__ import annotations

import ast

from harness import ROOT

OURS = ("kefu_floor", "kernels", "dashboards", "simulators", "benchmarks")
SUBPACKAGES = ("views", "live", "store", "close", "bridge", "cli")


def layer(module: str) -> str:
    """kefu_floor.views.report -> views; kefu_floor.engine -> core; simulators.acd ->
    simulators."""
    parts = module.split(".")
    if parts[0] != "kefu_floor":
        return parts[0]
    if len(parts) > 1 and parts[1] in SUBPACKAGES:
        return parts[1]
    return "core"


def imports() -> dict[str, set[str]]:
    """Each of our modules -> the layers of ours it imports."""
    out: dict[str, set[str]] = {}
    for top in OURS:
        for path in sorted((ROOT / top).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            used = set()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                else:
                    continue
                used |= {layer(n) for n in names if n.split(".")[0] in OURS}
            out[module] = used
    return out


# what each layer may import (itself always); anything of ours not listed is a layer above it
ALLOWED = {
    "kernels": set(),
    "core": {"kernels"},
    "views": {"core", "kernels", "close"},  # the table shows the close's pay sheet
    "close": {"core", "kernels", "views"},
    "store": {"core", "kernels", "views", "live"},
    "live": {"core", "kernels", "views", "store"},
    "bridge": {"core", "kernels", "live"},
    "dashboards": {"core", "kernels", "views"},
    "simulators": {"core", "kernels", "views", "live", "store"},
}


def test_each_layer_imports_only_what_is_below_it():
    wrong = []
    for module, used in imports().items():
        own = layer(module)
        if module == "kefu_floor.__main__" or own in ("cli", "benchmarks"):
            continue  # the composition root and the benchmarks may use everything
        for other in sorted(used - {own} - ALLOWED[own]):
            wrong.append(f"{module} ({own}) imports {other}")
    assert not wrong, "\n".join(wrong)


def test_only_the_composition_root_knows_the_clients_and_simulators():
    """dashboards and simulators are named by kefu_floor.cli (and the benchmarks) only."""
    for module, used in imports().items():
        if module.startswith("kefu_floor.") and layer(module) != "cli" and \
                module != "kefu_floor.__main__":
            assert not used & {"dashboards", "simulators", "benchmarks", "cli"}, module


def test_readme_folder_table_names_every_module():
    """The README's folder table ("How it works") names each module of each folder it
    lists, and lists each package folder of ours: a new module means a new word there."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        if line.startswith("| `") and "/` |" in line:
            folder = line.split("`")[1].rstrip("/")
            rows[folder] = line
    missing = []
    for top in OURS:
        for init in sorted((ROOT / top).rglob("__init__.py")):
            folder = init.parent.relative_to(ROOT).as_posix()
            owner = folder
            while owner not in rows and "/" in owner:  # dashboards/tui is in dashboards' row
                owner = owner.rsplit("/", 1)[0]
            if owner not in rows:
                missing.append(f"{folder}/ has no row")
                continue
            for f in sorted(init.parent.glob("*.py")):
                if f.stem != "__init__" and f"`{f.stem}`" not in rows[owner]:
                    missing.append(f"{folder}/{f.name} not named in the {owner}/ row")
    assert not missing, "\n".join(missing)
