"""The source layout keeps its promise (README "Architecture"): no file imports, directly or
through others, a file that imports it, in `src/` and in `core/src/`; and `src/` layers point
one way (module -> embedded/daemon -> request -> apache -> ffi). Pure: reads the sources."""
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATH = re.compile(r"\b(crate|super)::((?:[a-z_][a-z0-9_]*::)*)(\{[^}]*\}|[a-zA-Z_][a-zA-Z0-9_]*)")


def modules(root):
    """module path (tuple) -> file, for every .rs file under root."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(d, f), root)[:-3].split(os.sep)
            if rel[-1] in ("mod", "lib"):
                rel = rel[:-1]
            out[tuple(rel)] = os.path.join(d, f)
    return out


def strip_tests(text):
    """The text before the first `#[cfg(test)]` (test modules import their parent freely)."""
    i = text.find("#[cfg(test)]")
    return text if i < 0 else text[:i]


def edges(root):
    mods = modules(root)
    graph = {f: set() for f in mods.values()}
    for mod, f in mods.items():
        text = strip_tests(open(f).read())
        text = re.sub(r"//[^\n]*", "", text)
        here = mod if os.path.basename(f) in ("mod.rs", "lib.rs") else mod[:-1]
        for m in PATH.finditer(text):
            base = () if m.group(1) == "crate" else here[:-1] if os.path.basename(f) in ("mod.rs", "lib.rs") else here
            if m.group(1) == "super" and os.path.basename(f) not in ("mod.rs", "lib.rs"):
                base = mod[:-1]
            prefix = tuple(p for p in m.group(2).split("::") if p)
            tails = [t.strip().split("::")[0] for t in m.group(3).strip("{}").split(",")]
            for tail in tails or [""]:
                path = base + prefix + ((tail,) if tail and tail != "self" else ())
                while path and path not in mods:
                    path = path[:-1]
                target = mods.get(path)
                if target and target != f and path not in [mod[:i] for i in range(len(mod))]:
                    graph[f].add(target)
    return graph


def cycles(graph):
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(os.path.relpath(c, REPO) for c in comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


@pytest.mark.parametrize("root", ["src", "core/src"])
def test_no_import_cycles(root):
    found = cycles(edges(os.path.join(REPO, root)))
    assert not found, f"import cycles in {root}: {found}"


LAYERS = ["module", "embedded|daemon", "request", "apache", "ffi"]


def test_src_layers_point_one_way():
    root = os.path.join(REPO, "src")
    rank = {}
    for i, names in enumerate(LAYERS):
        for name in names.split("|"):
            rank[name] = i
    bad = []
    for f, targets in edges(root).items():
        top = os.path.relpath(f, root).split(os.sep)[0]
        for t in targets:
            ttop = os.path.relpath(t, root).split(os.sep)[0]
            if top in rank and ttop in rank and rank[ttop] < rank[top]:
                bad.append(f"{os.path.relpath(f, REPO)} -> {os.path.relpath(t, REPO)}")
    assert not bad, "imports against the layer order:\n" + "\n".join(sorted(bad))


def test_the_checker_sees_a_cycle(tmp_path):
    # The check itself can fail: a two-file cycle is found.
    (tmp_path / "a.rs").write_text("use crate::b::x;\n")
    (tmp_path / "b.rs").write_text("use crate::a::y;\n")
    (tmp_path / "lib.rs").write_text("mod a;\nmod b;\n")
    assert cycles(edges(str(tmp_path))) == [sorted([os.path.relpath(str(tmp_path / "a.rs"), REPO), os.path.relpath(str(tmp_path / "b.rs"), REPO)])]
