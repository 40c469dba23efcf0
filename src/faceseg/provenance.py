"""What code made a result: a fingerprint of the library code a stage runs, and the library versions.

Snakemake's ``code`` trigger sees a rule's script, and every script is a few
lines around a function of :mod:`faceseg`. So each rule gets, as a parameter,
:func:`stage_provenance` of the functions its script calls: the definitions
they reach in ``faceseg``, followed by name through imports, modules and
classes (a class counts whole, a module referred to as a whole counts whole),
hashed on the syntax tree without docstrings, so that comments, docstrings and
formatting do not count and any other change does; and the versions of the
computing libraries those definitions use. Snakemake's ``params`` trigger then
reruns exactly the stages a change reaches, and what follows them.

Feature groups are looked up by name (:data:`faceseg.features.GROUPS`), so a
stage reaches every group's module through the registry; ``feature_groups``
narrows that to the groups an experiment uses.

Results record :func:`stage_provenance` with :func:`package_fingerprint`, the
fingerprint of the whole package: two results made by different code differ in it.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "faceseg"
PACKAGE_DIR = Path(__file__).resolve().parent

#: The libraries whose versions change computed numbers, by import name -> distribution.
COMPUTE_LIBRARIES = {
    "numpy": "numpy",
    "scipy": "scipy",
    "skimage": "scikit-image",
    "sklearn": "scikit-learn",
    "cv2": "opencv-python-headless",
    "torch": "torch",
    "zarr": "zarr",
    "dlib": "dlib-bin",
}

_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, *_DEFINITIONS)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _dump(node: ast.AST) -> str:
    return ast.dump(node, annotate_fields=False, include_attributes=False)


def _module_path(name: str) -> Path | None:
    """The source file of a ``faceseg`` module or package (None: not one)."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    parts = name.split(".")[1:]
    base = PACKAGE_DIR.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if base.is_dir():
        return base  # a namespace package: no code of its own
    return None


@dataclass
class _Module:
    name: str
    defs: dict  # top-level name -> its definition or assignment node (docstrings stripped)
    imports: dict  # top-level name -> ("module", faceseg module) | ("symbol", module, name) | ("external", root)
    effects: list  # top-level statements other than definitions and imports (run at import time)


def _resolve_import(module: str, node, is_package: bool) -> dict:
    """Local name -> target of one import statement (faceseg modules and symbols, external roots)."""
    out = {}
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.split(".")[0] == PACKAGE:
                # ``import faceseg.a.b`` binds ``faceseg``; ``as x`` binds the module itself.
                out[alias.asname or PACKAGE] = ("module", alias.name if alias.asname else PACKAGE)
            else:
                out[alias.asname or alias.name.split(".")[0]] = ("external", alias.name.split(".")[0])
        return out
    base = node.module or ""
    if node.level:
        package = module if is_package else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    for alias in node.names:
        local = alias.asname or alias.name
        if base.split(".")[0] != PACKAGE:
            out[local] = ("external", base.split(".")[0])
        elif _module_path(f"{base}.{alias.name}") is not None:
            out[local] = ("module", f"{base}.{alias.name}")
        else:
            out[local] = ("symbol", base, alias.name)
    return out


def _is_type_checking(node) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in _dump(node.test)


@functools.cache
def _module(name: str) -> _Module:
    path = _module_path(name)
    if path.is_dir():
        return _Module(name, {}, {}, [])
    tree = _strip_docstrings(ast.parse(path.read_text(), filename=str(path)))
    is_package = path.name == "__init__.py"
    defs, imports, effects = {}, {}, []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.update(_resolve_import(name, node, is_package))
        elif isinstance(node, _DEFINITIONS):
            defs[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
            for target in names:
                defs[target] = node
        elif _is_type_checking(node) or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            continue  # imports for type checkers only; a lone string
        elif isinstance(node, ast.If) and "__main__" in _dump(node.test):
            continue  # what runs as a script is not what a stage calls
        else:
            effects.append(node)
    return _Module(name, defs, imports, effects)


def _local_imports(node) -> dict:
    """Imports inside a function body (lazy imports): they resolve names of that body."""
    out = {}
    for child in ast.walk(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            out.update(_resolve_import("", child, False) if not getattr(child, "level", 0) else {})
    return out


def _names(node) -> list[tuple[str, str | None]]:
    """``(name, attribute)`` of every name a node reads: ``x`` -> (x, None), ``x.y`` -> (x, y)."""
    found = []
    attributed = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Attribute) and isinstance(child.value, ast.Name):
            found.append((child.value.id, child.attr))
            attributed.add(id(child.value))
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and id(child) not in attributed:
            found.append((child.id, None))
    return found


class _Reach:
    """The faceseg definitions reached from some entry symbols, and the external libraries they use."""

    def __init__(self, skip_modules=frozenset()):
        self.skip_modules = skip_modules  # whole-module references not to follow (unused feature groups)
        self.symbols: set[tuple[str, str]] = set()
        self.modules: set[str] = set()  # modules counted whole
        self.visited_modules: set[str] = set()  # modules whose import-time statements count
        self.external: set[str] = set()

    def module(self, name: str) -> None:
        """A module referred to as a whole: every definition of it (a package: what it binds)."""
        if name in self.modules or name in self.skip_modules:
            return
        self.modules.add(name)
        self._enter(name)
        mod = _module(name)
        for symbol in mod.defs:
            self.symbol(name, symbol)

    def _enter(self, name: str) -> None:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a, a.b and a.b.c
            prefix = ".".join(parts[:i])
            if prefix in self.visited_modules:
                continue
            self.visited_modules.add(prefix)
            mod = _module(prefix)
            for node in mod.effects:
                self._follow(mod, node, {})

    def symbol(self, module: str, name: str) -> None:
        if (module, name) in self.symbols:
            return
        self.symbols.add((module, name))
        self._enter(module)
        mod = _module(module)
        if name in mod.defs:
            node = mod.defs[name]
            self._follow(mod, node, _local_imports(node))
        elif name in mod.imports:  # a re-export
            self._target(mod.imports[name], None)
        elif _module_path(f"{module}.{name}") is not None:
            self.module(f"{module}.{name}")

    def _follow(self, mod: _Module, node, local_imports: dict) -> None:
        for name, attr in _names(node):
            target = local_imports.get(name) or mod.imports.get(name)
            if target is not None:
                self._target(target, attr)
            elif name in mod.defs:
                self.symbol(mod.name, name)

    def _target(self, target, attr) -> None:
        kind = target[0]
        if kind == "external":
            self.external.add(target[1])
        elif kind == "symbol":
            self.symbol(target[1], target[2])
        elif attr is not None and (_module_path(f"{target[1]}.{attr}") is not None
                                   or attr in _module(target[1]).defs or attr in _module(target[1]).imports):
            self.symbol(target[1], attr)
        else:
            self.module(target[1])

    def digest(self) -> str:
        h = hashlib.sha256()
        for module, name in sorted(self.symbols):
            mod = _module(module)
            node = mod.defs.get(name)
            h.update(f"{module}:{name}\n".encode())
            if node is not None:
                h.update(_dump(node).encode())
        for module in sorted(self.visited_modules):
            for node in _module(module).effects:
                h.update(_dump(node).encode())
        return h.hexdigest()[:16]


def _entries_of_script(script: Path) -> list[tuple[str, str]]:
    """The faceseg functions a rule's script imports: what the rule runs."""
    tree = ast.parse(Path(script).read_text())
    entries = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == PACKAGE:
            entries += [(node.module, alias.name) for alias in node.names]
    return entries


def library_versions(import_names) -> dict[str, str]:
    """``{distribution: version}`` of the computing libraries among ``import_names``."""
    out = {}
    for name in sorted(set(import_names) & set(COMPUTE_LIBRARIES)):
        dist = COMPUTE_LIBRARIES[name]
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def faceseg_version() -> str:
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@functools.cache
def _stage(entries: tuple, skip_modules: frozenset) -> dict:
    reach = _Reach(skip_modules)
    for module, name in entries:
        if _module_path(f"{module}.{name}") is not None:
            reach.module(f"{module}.{name}")
        else:
            reach.symbol(module, name)
    return {"code": reach.digest(), "libraries": library_versions(reach.external)}


def unused_group_modules(feature_groups) -> frozenset:
    """The modules of the feature groups an experiment does not use (``None``: it uses them all)."""
    if feature_groups is None:
        return frozenset()
    from faceseg.features import GROUPS

    return frozenset(g.module.__name__ for name, g in GROUPS.items() if name not in set(feature_groups))


@functools.cache
def package_fingerprint() -> str:
    """The fingerprint of every ``faceseg`` module (docstrings, comments and formatting left out)."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        h.update(str(path.relative_to(PACKAGE_DIR)).encode())
        h.update(_dump(_strip_docstrings(ast.parse(path.read_text()))).encode())
    return h.hexdigest()[:16]


def stage_provenance(script=None, entries=(), feature_groups=None) -> dict:
    """What a stage's results are made by, as a rule's parameter and a result's record.

    ``script``: a rule's script (its ``faceseg`` imports are the entries);
    ``entries``: ``"module:function"`` strings, for rules without a script;
    ``feature_groups``: the groups of the stage's experiment (None: not an
    experiment's stage). Returns ``{"code", "libraries", "faceseg"}``: the
    stage's fingerprint, the computing libraries it uses with their versions
    and the faceseg version. Results add the whole package's fingerprint
    (:func:`record`), which is no trigger: it changes with any module.
    """
    groups = None if feature_groups is None else tuple(sorted(feature_groups))
    found = _provenance(None if script is None else str(script), tuple(entries), groups)
    return {**found, "libraries": dict(found["libraries"])}


@functools.cache
def _provenance(script, entries, groups) -> dict:
    """:func:`stage_provenance`, once per stage and experiment's groups: Snakemake asks for it per job."""
    found = list(_entries_of_script(script)) if script is not None else []
    found += [tuple(e.split(":")) for e in entries]
    if not found:
        raise ValueError(f"no faceseg function found to fingerprint in {script or entries}")
    stage = _stage(tuple(sorted(found)), unused_group_modules(groups))
    return {"code": stage["code"], "libraries": stage["libraries"], "faceseg": faceseg_version()}


def record(stage: dict | None = None) -> dict:
    """What a result records of the code that made it.

    ``{"faceseg", "package", "libraries", "stage_code"}``: the faceseg version,
    the whole package's fingerprint (two results made by different code differ
    in it), the versions of every computing library installed, and the
    fingerprint of the stage that wrote the result (its rule's parameter).
    """
    return {"faceseg": faceseg_version(), "package": package_fingerprint(),
            "libraries": library_versions(COMPUTE_LIBRARIES), "stage_code": (stage or {}).get("code")}


def describe(provenance: dict | None) -> str:
    """One line for people: ``faceseg 0.1.0, code 0123abcd...; numpy 2.4.6, ...`` ("not recorded" without one)."""
    if not provenance:
        return "not recorded"
    libraries = ", ".join(f"{k} {v}" for k, v in sorted(provenance.get("libraries", {}).items()))
    return f"faceseg {provenance.get('faceseg')}, code {provenance.get('package')}; {libraries}"
