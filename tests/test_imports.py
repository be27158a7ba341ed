"""Import rules: the core imports none of training, serving, evaluation; serving and evaluation need no torch;
no import cycles between the packages or between the core's modules; the apps go only by their xinfang.* names."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# the top-level folders and the module names they install as (pyproject.toml's package-dir)
FOLDERS = {"xinfang": "xinfang", "training": "xinfang.training", "serving": "xinfang.serving",
           "evaluation": "xinfang.evaluation"}
PACKAGES = tuple(FOLDERS.values())
APPS = ("xinfang.training", "xinfang.serving", "xinfang.evaluation")
OLD_NAMES = ("training", "serving", "evaluation")  # the folders' own names: never a module name
TORCH = ("torch", "transformers", "datasets", "accelerate", "safetensors")


@dataclass(frozen=True)
class Import:
    """One import statement: the importing module, the module it names, and whether it runs inside a function."""

    module: str
    target: str
    lazy: bool
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    parts = [*FOLDERS.get(parts[0], parts[0]).split("."), *parts[1:]]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports_of(path: Path, module: str | None = None) -> list[Import]:
    module = module or _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                found.extend(Import(module, a.name, lazy, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    up = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*up, base] if base else up)
                found.append(Import(module, base, lazy, child.lineno))
                found.extend(Import(module, f"{base}.{a.name}", lazy, child.lineno) for a in child.names
                            if _is_module(f"{base}.{a.name}"))
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)), False)
    return found


def _path_of(name: str) -> Path:
    """Where a module name lies in the checkout: xinfang.training.data -> training/data."""
    for folder, package in sorted(FOLDERS.items(), key=lambda kv: -len(kv[1])):
        if name == package or name.startswith(package + "."):
            return ROOT.joinpath(folder, *name[len(package):].split(".")[1:])
    return ROOT.joinpath(*name.split("."))


def _is_module(name: str) -> bool:
    p = _path_of(name)
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def all_imports() -> list[Import]:
    out: list[Import] = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            out += _imports_of(path)
    return out


def _top(name: str) -> str:
    return name.split(".")[0]


def _package(name: str) -> str:
    """Which of PACKAGES a module belongs to (an app, else the core), or its top-level name outside them."""
    return next((app for app in APPS if name == app or name.startswith(app + ".")), _top(name))


def _cli_lazy(imp: Import) -> bool:
    """cli.py and its command modules (xinfang/cli_*.py) may import training, serving and evaluation inside a
    command: they are the entry point above all."""
    return (imp.module == "xinfang.cli" or imp.module.startswith("xinfang.cli_")) and imp.lazy


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := dfs(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := dfs(node)):
            return cycle
    return None


def test_core_imports_no_training_serving_or_evaluation() -> None:
    bad = [f"{i.module}:{i.line} imports {i.target}" for i in all_imports()
           if _package(i.module) == "xinfang" and _package(i.target) in APPS and not _cli_lazy(i)]
    assert bad == []


def test_core_is_numpy_only() -> None:
    """No torch, scikit-learn or scipy in the core: serving, evaluation and the batch job stand on it."""
    banned = {*TORCH, "sklearn", "scipy"}
    bad = [f"{i.module}:{i.line} imports {i.target}" for i in all_imports()
           if _package(i.module) == "xinfang" and _top(i.target) in banned]
    assert bad == []


def test_serving_and_evaluation_import_no_torch() -> None:
    bad = [f"{i.module}:{i.line} imports {i.target}" for i in all_imports()
           if _package(i.module) in {"xinfang.serving", "xinfang.evaluation"} and _top(i.target) in TORCH]
    assert bad == []


def test_no_import_cycle_between_packages() -> None:
    edges: dict[str, set[str]] = {}
    for i in all_imports():
        a, b = _package(i.module), _package(i.target)
        if a != b and b in PACKAGES and not _cli_lazy(i):
            edges.setdefault(a, set()).add(b)
    assert find_cycle(edges) is None, edges
    assert "xinfang.evaluation" not in edges.get("xinfang.training", set())  # one way: evaluation on training


def _core_unit(name: str) -> str:
    """xinfang's modules, with each subpackage (xinfang.signals, xinfang.batch…) counted as one unit."""
    return ".".join(name.split(".")[:2])


def test_no_import_cycle_between_core_modules() -> None:
    """Late imports count too: a loop hidden inside a function is still a loop."""
    edges: dict[str, set[str]] = {}
    for i in all_imports():
        if _package(i.module) != "xinfang" or _package(i.target) != "xinfang" or i.module == "xinfang.cli":
            continue
        a, b = _core_unit(i.module), _core_unit(i.target)
        if a != b and b != "xinfang":
            edges.setdefault(a, set()).add(b)
    assert find_cycle(edges) is None


# a module named by a folder's own name: `training.data`, `from serving import`, `python -m training.generator`
_OLD = "|".join(OLD_NAMES)
OLD_NAME = re.compile(rf"(?<![\w./-])(?:{_OLD})\.[a-z_]|(?:^|;)\s*(?:from|import) (?:{_OLD})\b", re.M)


def _old_names_in(path: Path) -> list[str]:
    """Imports of, and strings naming (loggers, resources, `-m`, monkeypatch targets), a folder's own name."""
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    if path.suffix != ".py":
        return [f"{rel}:{n}" for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if OLD_NAME.search(line)]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    strings = [f"{rel}:{node.lineno} names {node.value[:60]!r}" for node in ast.walk(tree)
               if isinstance(node, ast.Constant) and isinstance(node.value, str) and OLD_NAME.search(node.value)]
    imports = [f"{rel}:{i.line} imports {i.target}" for i in _imports_of(path, "planted")
               if _top(i.target) in OLD_NAMES]
    return imports + strings


def test_the_folders_go_only_by_their_xinfang_names() -> None:
    """training/, serving/ and evaluation/ install as xinfang.training, xinfang.serving and xinfang.evaluation:
    no code, test, benchmark or document names them as top-level modules, so each module exists once."""
    files = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), ROOT / "models" / "README.md"]
    for folder in (*FOLDERS, "tests", "benchmarks"):
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in {".py", ".md"}]
    files.remove(Path(__file__).resolve())  # its planted violations below
    bad = [hit for path in sorted(set(files)) if path.is_file() for hit in _old_names_in(path)]
    assert bad == []


def test_the_rules_see_a_planted_violation(tmp_path: Path) -> None:
    """The parser finds late and relative imports, so the rules above cannot pass by not looking."""
    src = tmp_path / "planted.py"
    src.write_text("import os\nfrom . import pii\n\n\ndef f():\n    from xinfang.training.data import build_corpus\n"
                   "    import torch.nn\n", encoding="utf-8")
    found = {(i.target, i.lazy) for i in _imports_of(src, "xinfang.planted")}
    assert {("os", False), ("xinfang.pii", False), ("xinfang.training.data", True), ("torch.nn", True)} <= found
    old = tmp_path / "old.py"
    old.write_text("import logging\n\nimport training.data\n\nlog = logging.getLogger('serving.app')\n\n\n"
                   "def f():\n    from evaluation import review\n\n\nDOC = 'cli.py may import training, serving'\n",
                   encoding="utf-8")
    assert {int(hit.split(":")[1].split()[0]) for hit in _old_names_in(old)} == {3, 5, 9}
    doc = tmp_path / "old.md"
    doc.write_text("python -m training.generator --n 5\nthe `training/` folder, after training.\n", encoding="utf-8")
    assert len(_old_names_in(doc)) == 1
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) is None


BLOCK_TORCH = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
        return None
sys.meta_path.insert(0, _Block())
"""


def _python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def test_evaluate_and_serve_modules_load_no_torch() -> None:
    """Every module `xinfang evaluate` and `xinfang serve` may load, imported at once: torch stays out."""
    pytest.importorskip("fastapi")
    code = (
        "import importlib, pkgutil, sys\n"
        "import xinfang.cli, xinfang.evaluation, xinfang.serving\n"
        "for pkg in (xinfang.evaluation, xinfang.serving):\n"
        "    for m in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        f"print(sorted(m for m in {TORCH!r} if m in sys.modules))\n"
    )
    done = _python(code)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_evaluate_default_sets_run_without_torch(tiny_model_dir: Path, tmp_path: Path) -> None:
    """`xinfang evaluate --default` (real sets read from data files, generated test letters, the TF-IDF
    baseline on the model's rebuilt training data) with torch, transformers and datasets unimportable."""
    pytest.importorskip("sklearn")
    data = tmp_path / "data"
    (data / "tipdm2020").mkdir(parents=True)
    (data / "cold").mkdir()
    sectors = ["城乡建设", "环境保护", "交通运输"]
    (data / "tipdm2020" / "labeled.jsonl").write_text("".join(
        f'{{"id": "t{i}", "title": "留言{i}", "text": "小区道路问题反映第{i}次", "sector": "{sectors[i % 3]}"}}\n'
        for i in range(30)), encoding="utf-8")
    for name in ("train.csv", "dev.csv"):
        rows = ["Unnamed: 0,split,topic,label,TEXT"] + [f"{i},x,race,{i % 2},评论文本{i}" for i in range(40)]
        (data / "cold" / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "report"
    code = BLOCK_TORCH.format(blocked=set(TORCH)) + (
        "from xinfang.cli import app\n"
        "try:\n"
        f"    app(['evaluate', '--default', '--model', {str(tiny_model_dir)!r}, '--out', {str(out)!r},\n"
        "         '--no-fp32', '--folds', '2'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        f"print(sorted(m for m in {TORCH!r} if m in sys.modules))\n"
    )
    done = _python(code, {"XINFANG_DATA_DIR": str(data), "XINFANG_SHARED_DATA_DIR": str(tmp_path / "none"),
                          "XINFANG_MODELS_DIR": str(tmp_path / "models"), "XINFANG_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert (out / "report.html").is_file() and (out / "metrics.json").is_file()


def test_serve_scores_a_letter_without_torch(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The API app as `xinfang serve` builds it (model loaded from settings) scores with torch unimportable."""
    pytest.importorskip("fastapi")
    code = BLOCK_TORCH.format(blocked=set(TORCH)) + (
        "from fastapi.testclient import TestClient\n"
        "from xinfang.serving.app import create_app\n"
        "from xinfang.config import Settings\n"
        f"settings = Settings(state_dir={str(tmp_path)!r}, models_dir={str(tmp_path / 'models')!r},\n"
        f"                    serve_model={str(tiny_model_dir)!r}, auth_enabled=False, threads=1)\n"
        "with TestClient(create_app(settings)) as client:\n"
        "    r = client.post('/v1/letters:score', json={'id': 'a', 'text': '某局长收受红包五万元，请调查。'})\n"
        "    assert r.status_code == 200, r.text\n"
        f"print(sorted(m for m in {TORCH!r} if m in sys.modules))\n"
    )
    done = _python(code)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
