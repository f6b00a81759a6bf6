#!/usr/bin/env python3
"""Structure check: no import loops between modules of a crate, no .rs file over the line limit.

Only code that is built outside tests counts: `#[cfg(test)]` (or `#[cfg(all(test, …))]`) inline
modules are left out, and so
are files declared as `#[cfg(test)] mod name;` (with everything under them).

A module is one file under src (`a/b.rs`, `a/b/mod.rs` or `a.rs`); its name is its path
(`a::b`). Edges come from `crate::…`, `super::…` and `self::…` paths anywhere in the code
(`use` trees with braces included), resolved to the deepest module that exists. A module
naming one of its own descendants (declaring and calling its children) is containment, not an
edge; a child naming its parent or a sibling is. Every strongly connected component of more than
one module is a loop and is reported with its files.

Usage: check_structure.py [--max-lines N] CRATE_DIR...   (exit 1 on any finding)
"""
import os
import re
import sys

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip_comments(text):
    """Drops // and /* */ comments and the contents of string literals."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 40]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            close = '"' + m.group(1)
            j = text.find(close, i + len(m.group(0)))
            out.append('""')
            i = n if j < 0 else j + len(close)
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""')
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]) or text.startswith("'\\u{", i):
            j = text.find("'", i + 1 if text[i + 1] != "\\" else i + 2)
            out.append("' '")
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


TEST_MOD = re.compile(r"#\[cfg\((?:all\()?test\b[^\]]*\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(" + IDENT + r")\s*([;{])")


def drop_test_code(text):
    """Blanks `#[cfg(test)] mod x { … }` blocks; returns (text, names of `#[cfg(test)] mod x;`)."""
    test_children = set()
    while True:
        for m in TEST_MOD.finditer(text):
            if m.group(2) == ";":
                test_children.add(m.group(1))
                continue
            depth, i = 1, m.end()
            while i < len(text) and depth:
                depth += text[i] == "{"
                depth -= text[i] == "}"
                i += 1
            text = text[:m.start()] + text[i:]
            break
        else:
            return text, test_children


def expand_use(tree):
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e']."""
    tree = re.sub(r"\s+", "", tree)
    depth, start, parts = 0, None, []
    brace = tree.find("{")
    if brace < 0:
        return [re.sub(r"\bas\b.*", "", tree)]
    prefix, inner = tree[:brace], tree[brace + 1:tree.rfind("}")]
    items, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    items.append(cur)
    for item in items:
        if item:
            parts.extend(prefix + p for p in expand_use(item))
    return parts


def module_of(rel):
    """`http/api.rs` -> ('http', 'api'); `http/mod.rs` -> ('http',); lib.rs/main.rs -> ()."""
    parts = rel[:-3].split(os.sep)
    if parts[-1] == "mod":
        parts = parts[:-1]
    if parts in (["lib"], ["main"]):
        parts = []
    return tuple(parts)


def paths_in(text):
    """Every module path the code names: use trees expanded, plus inline crate/super/self paths."""
    found = []
    for m in re.finditer(r"\buse\s+([^;]*);", text):
        found.extend(expand_use(m.group(1)))
    for m in re.finditer(r"\b((?:crate|super|self)(?:::(?:super|" + IDENT + r"))+)", text):
        found.append(m.group(1))
    return found


def resolve(path, here, modules):
    """The deepest existing module a path names, or None (external crates, locals)."""
    segs = [s for s in path.split("::") if s]
    if not segs:
        return None
    if segs[0] == "crate":
        base, segs = (), segs[1:]
    elif segs[0] in ("super", "self"):
        base = here
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                base = base[:-1]
            segs = segs[1:]
    else:
        return None
    best = base if base in modules else None
    cur = base
    for s in segs:
        cur = cur + (s,)
        if cur in modules:
            best = cur
        else:
            break
    return best


def crate_graph(src):
    modules, files = set(), {}
    for root, _, names in os.walk(src):
        for name in names:
            if name.endswith(".rs"):
                rel = os.path.relpath(os.path.join(root, name), src)
                mod = module_of(rel)
                modules.add(mod)
                files[mod] = os.path.join(root, name)
    # Inline `mod x { … }` blocks belong to their file: nothing to add.
    texts, test_only = {}, set()
    for mod, path in files.items():
        with open(path, encoding="utf-8") as f:
            texts[mod], children = drop_test_code(strip_comments(f.read()))
        test_only.update(mod + (c,) for c in children)
    test_only = {m for m in modules if any(m[:len(t)] == t for t in test_only)}
    modules -= test_only
    files = {m: f for m, f in files.items() if m in modules}
    edges = {m: {} for m in modules}
    for mod in modules:
        for p in paths_in(texts[mod]):
            target = resolve(p, mod, modules)
            if target is None or target == mod or target[:len(mod)] == mod:
                continue  # itself, or one of its own descendants (containment)
            edges[mod].setdefault(target, p)
    return files, edges


def cycles(edges):
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(edges[nxt]))))
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def name(mod):
    return "::".join(mod) or "crate"


def main(argv):
    max_lines, crates = 1000, []
    args = iter(argv)
    for a in args:
        if a == "--max-lines":
            max_lines = int(next(args))
        else:
            crates.append(a)
    problems = 0
    for crate in crates:
        src = os.path.join(crate, "src")
        files, edges = crate_graph(src)
        for comp in cycles(edges):
            problems += 1
            print(f"import loop in {crate}: {' <-> '.join(name(m) for m in comp)}")
            members = set(comp)
            for m in comp:
                for t, via in sorted(edges[m].items()):
                    if t in members:
                        print(f"  {files[m]} -> {name(t)}  (via {via})")
    for crate in crates:
        for root, _, names in os.walk(os.path.join(crate, "src")):
            for n in sorted(names):
                if n.endswith(".rs"):
                    p = os.path.join(root, n)
                    with open(p, encoding="utf-8") as f:
                        count = sum(1 for _ in f)
                    if count > max_lines:
                        problems += 1
                        print(f"file too long: {p} has {count} lines (limit {max_lines})")
    if problems:
        print(f"structure: {problems} problem(s)")
        return 1
    print("structure: no import loop, no file over the limit")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
