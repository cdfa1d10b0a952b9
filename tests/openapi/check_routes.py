#!/usr/bin/env python3
"""check_routes.py LIST_ROUTES OPENAPI_YAML: the routes ternd serves (printed
by LIST_ROUTES, "METHOD PATTERN" per line from src/api/api.c's table) and
the operations of docs/openapi.yaml are the same set: "{name}" in a spec
path stands for "*" in a pattern.  Prints one line per difference and
"N passed, N failed" last."""
import re
import subprocess
import sys

import yaml

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def served(prog):
    out = subprocess.run([prog], check=True, capture_output=True,
                         text=True).stdout
    return {tuple(line.split(" ", 1)) for line in out.splitlines() if line}


def documented(spec):
    ops = set()
    for path, item in spec.get("paths", {}).items():
        pattern = re.sub(r"\{[^}/]+\}", "*", path)
        for m in item:
            if m in METHODS:
                ops.add((m.upper(), pattern))
    return ops


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: check_routes.py LIST_ROUTES OPENAPI_YAML")
    with open(sys.argv[2]) as f:
        spec = yaml.safe_load(f)
    have, doc = served(sys.argv[1]), documented(spec)
    passed = failed = 0
    for m, p in sorted(have | doc, key=lambda r: (r[1], r[0])):
        if (m, p) not in doc:
            print(f"not ok - {m} {p}: served by ternd, missing from "
                  f"{sys.argv[2]} (add it there)")
            failed += 1
        elif (m, p) not in have:
            print(f"not ok - {m} {p}: in {sys.argv[2]}, not served by "
                  f"ternd (src/api/api.c has no such route)")
            failed += 1
        else:
            passed += 1
    print(f"ok - {passed} routes both served and documented")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
