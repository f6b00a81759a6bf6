#!/usr/bin/env python3
"""Self-test of check_structure.py on small made-up crates: a loop through `use crate::` and
`super::` (braces included) is found, test-only code and parent-to-child paths are not loops,
and a file over the limit is reported."""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def crate(root, files):
    for rel, text in files.items():
        p = os.path.join(root, "src", rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)


def check(root, *extra):
    r = subprocess.run([sys.executable, os.path.join(HERE, "check_structure.py"), *extra, root],
                       capture_output=True, text=True, check=False)
    return r.returncode, r.stdout


def main():
    failures = []
    with tempfile.TemporaryDirectory() as t:
        loop = os.path.join(t, "loop")
        crate(loop, {
            "lib.rs": "pub mod a;\npub mod b;\npub mod http;\n",
            "a.rs": "use crate::{b::{self, B}};\npub struct A;\n",
            "b.rs": "// use crate::a; is a comment\npub fn f() { let _ = crate::http::api::X; }\npub struct B;\n",
            "http/mod.rs": "mod api;\nmod admin;\npub use api::X;\n",
            "http/api.rs": "pub struct X;\nfn g() { super::admin::h(); }\n",
            "http/admin.rs": "pub fn h() { let _ = crate::a::A; }\n",
        })
        code, out = check(loop)
        if code != 1 or "a <-> b <-> http::admin <-> http::api" not in out:
            failures.append(f"loop through braces and super:: not found:\n{out}")
        clean = os.path.join(t, "clean")
        crate(clean, {
            "lib.rs": "pub mod a;\npub mod b;\n",
            "a.rs": "mod inner;\npub fn f() { inner::g(); self::inner::g(); }\n"
                    "#[cfg(test)]\nmod tests {\n    use crate::b::*;\n    fn t() { let s = \"crate::b\"; }\n}\n",
            "a/inner.rs": "pub fn g() { super::f(); }\n",
            "b.rs": "use crate::a;\n#[cfg(test)]\nmod helpers;\n" + "// filler\n" * 20,
            "b/helpers.rs": "use crate::b;\n",
        })
        code, out = check(clean)
        if code != 0:
            failures.append(f"a crate without loops was refused:\n{out}")
        code, out = check(clean, "--max-lines", "10")
        if code != 1 or "b.rs has 23 lines" not in out:
            failures.append(f"a file over the limit was not reported:\n{out}")
    for f in failures:
        print("check_structure self-test:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
