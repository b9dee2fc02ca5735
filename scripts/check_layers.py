#!/usr/bin/env python3
"""check_layers.py (make lint): the crates are layers, and no crate hides a
module loop (issue 24, README "Layout").

1. LAYERS below lists our library crates bottom-up. A crate's `avatar-*`
   dependencies (normal, not dev) must all sit in lower layers: Cargo
   refuses a cycle, but not a lower crate naming a sibling or a new crate
   slotting in at the wrong height.
2. Inside every crate of ours, the modules' references to each other
   (`crate::m`, `super::m`, a parent's `m::`) form no loop. Test modules
   (from `#[cfg(test)]` on) and comments do not count.

Both checks run on a planted example first, so they can fail.
"""

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Bottom-up; crates in one tuple are one layer and may not name each other.
LAYERS = [
    ("avatar-pipeline",),
    ("avatar-domain",),
    ("avatar-telemetry",),
    ("avatar-adapters",),
    ("avatar-usecases",),
    ("avatar-http",),
    ("avatar-runtime",),
]


def layer_errors(manifests):
    """manifests: crate name -> its parsed Cargo.toml. Upward or sideways
    dependencies among the LAYERS crates."""
    height = {name: i for i, layer in enumerate(LAYERS) for name in layer}
    errors = []
    for name, manifest in manifests.items():
        if name not in height:
            continue
        for dep in manifest.get("dependencies", {}):
            if dep in height and height[dep] >= height[name]:
                errors.append(f"{name} depends on {dep}, which is not below it")
    return errors


def modules(src):
    """Module path ('' for the crate root) -> its code without comments and
    test modules."""
    out = {}
    for f in src.rglob("*.rs"):
        parts = list(f.relative_to(src).with_suffix("").parts)
        if parts[-1] in ("lib", "main", "mod"):
            parts.pop()
        if parts and parts[0] in ("tests", "testing", "bin"):
            continue
        code = f.read_text().split("#[cfg(test)]")[0]
        code = "\n".join(line.split("//")[0] for line in code.splitlines())
        out["::".join(parts)] = without_inline_super(code)
    return out


def without_inline_super(code):
    """`code` with `super::` inside inline modules (`mod x { ... }`) taken
    out: there it names the file's own module, not its parent."""
    out, depth_at_mod, depth, i = [], [], 0, 0
    for m in re.finditer(r"\bmod\s+\w+\s*\{|[{}]|\bsuper::", code):
        token = m.group(0)
        if token.startswith("mod"):
            depth += 1
            depth_at_mod.append(depth)
        elif token == "{":
            depth += 1
        elif token == "}":
            if depth_at_mod and depth_at_mod[-1] == depth:
                depth_at_mod.pop()
            depth -= 1
        elif depth_at_mod:
            out.append(code[i:m.start()])
            out.append("self::")
            i = m.end()
    out.append(code[i:])
    return "".join(out)


def parent_of(module):
    """The enclosing module's path ('' for a top-level module)."""
    return module.rsplit("::", 1)[0] if "::" in module else ""


def edges(mods):
    graph = {m: set() for m in mods}
    for m, code in mods.items():
        parent = parent_of(m)
        for ref in re.findall(r"\bcrate::((?:[a-z_][a-z0-9_]*::)*[A-Za-z_][A-Za-z0-9_]*)", code):
            parts = ref.split("::")
            # the longest prefix that is a module; else the root's item
            target = next(("::".join(parts[:n]) for n in range(len(parts), 0, -1)
                           if "::".join(parts[:n]) in mods), "")
            graph[m].add(target)
        if m:
            for ref in re.findall(r"\bsuper::([A-Za-z_][A-Za-z0-9_]*)", code):
                child = f"{parent}::{ref}" if parent else ref
                graph[m].add(child if child in mods else parent)
        for child in mods:
            if child and parent_of(child) == m and re.search(
                    r"(?<![\w:])" + child.rsplit("::", 1)[-1] + r"::", code):
                graph[m].add(child)
        graph[m].discard(m)
    return graph


def loops(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def self_test():
    planted = {"avatar-domain": {"dependencies": {"avatar-adapters": {}}},
               "avatar-http": {"dependencies": {"avatar-usecases": {}}}}
    assert layer_errors(planted) == ["avatar-domain depends on avatar-adapters, which is not below it"]
    looped = {"": "pub mod a; pub mod b; use a::X;", "a": "use crate::b::Y;",
              "b": "fn f() -> crate::Z {}",
              "c": without_inline_super("use super::a::X; mod d { use super::C; }")}
    assert loops(edges(looped)) == [["", "a", "b"]], loops(edges(looped))


def main():
    self_test()
    workspace = tomllib.loads((ROOT / "Cargo.toml").read_text())
    manifests, errors = {}, []
    for member in workspace["workspace"]["members"]:
        manifest = tomllib.loads((ROOT / member / "Cargo.toml").read_text())
        manifests[manifest["package"]["name"]] = manifest
        for component in loops(edges(modules(ROOT / member / "src"))):
            names = ", ".join(m or "(crate root)" for m in component)
            errors.append(f"{member}: modules in a loop: {names}")
    errors += layer_errors(manifests)
    for e in errors:
        print(f"check_layers: {e}", file=sys.stderr)
    if errors:
        sys.exit(1)
    print(f"check_layers: {len(manifests)} crates, layers kept, no module loop")


if __name__ == "__main__":
    main()
