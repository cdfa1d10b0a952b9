#!/usr/bin/env python3
"""validate.py OPENAPI_YAML RECORD...: every answer recorded by ternd
(TERN_API_RECORD, src/api/record.c: one JSON line per answer, with method,
route pattern, status, content type and the body when JSON) is what the
OpenAPI document says: its route and method are an operation there, its
status is among that operation's responses, its content type is one the
response lists and its JSON body is valid against that response's schema.
An answer without a route (ternd matched none, or refused the client
before routing) must be the error object with 401, 403, 404, 405 or 413;
but a web console file (a GET outside /v1/ and /metrics) is not the API's,
and an answer forwarded from another host (/v1/hosts/NAME/...) is that
host's, checked where it was recorded: both pass unchecked.
Prints the first mismatches (each kind once) and "N passed, N failed"
last; exits 1 on any mismatch or an empty record."""
import json
import re
import sys

import jsonschema
import yaml

UNROUTED = ("401", "403", "404", "405", "413")
SHOW = 15


def resolve(node, spec, seen=()):
    """node with every local $ref replaced by what it points at."""
    if isinstance(node, list):
        return [resolve(v, spec, seen) for v in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            raise SystemExit(f"validate.py: recursive $ref {ref}")
        target = spec
        for part in ref.lstrip("#/").split("/"):
            target = target[part]
        return resolve(target, spec, seen + (ref,))
    return {k: resolve(v, spec, seen) for k, v in node.items()}


def operations(spec):
    ops = {}
    for path, item in spec["paths"].items():
        pattern = re.sub(r"\{[^}/]+\}", "*", path)
        for method, op in item.items():
            if isinstance(op, dict) and "responses" in op:
                ops[(method.upper(), pattern)] = op
    return ops


def check_body(rec, response, spec):
    """None when rec's content type and body fit response, else why."""
    ct = rec["content_type"].split(";")[0].strip()
    content = response.get("content")
    if not content:
        return None if ct in ("application/json", "") and rec.get(
            "body") in (None, {}) else f"content {ct} where the spec has none"
    if ct not in content:
        return f"content type {ct} not in {sorted(content)}"
    if rec.get("body_invalid"):
        return "the body is not valid JSON"
    if ct != "application/json" or "body" not in rec:
        return None
    schema = content[ct].get("schema")
    if schema is None:
        return None
    v = jsonschema.Draft202012Validator(resolve(schema, spec))
    err = jsonschema.exceptions.best_match(v.iter_errors(rec["body"]))
    if err is None:
        return None
    where = "/".join(str(p) for p in err.absolute_path) or "(body)"
    return f"body at {where}: {err.message[:300]}"


def check(rec, ops, spec):
    status = str(rec["status"])
    path = rec.get("path", "")
    if rec.get("route") is None and path.startswith("/v1/hosts/"):
        return None
    if (rec.get("route") is None and rec["method"] == "GET" and
            not path.startswith("/v1/") and path != "/metrics"):
        return None
    if rec.get("route") is None:
        if status not in UNROUTED:
            return f"no route, status {status}"
        return check_body(rec, spec["components"]["responses"]["Error"],
                          spec)
    op = ops.get((rec["method"], rec["route"]))
    if op is None:
        return "route and method not in the spec"
    responses = op["responses"]
    response = responses.get(status) or responses.get("default")
    if response is None:
        return f"status {status} not documented (has {sorted(responses)})"
    return check_body(rec, resolve(response, spec), spec)


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: validate.py OPENAPI_YAML RECORD...")
    with open(sys.argv[1]) as f:
        spec = yaml.safe_load(f)
    ops = operations(spec)
    passed = failed = 0
    kinds = {}
    for path in sys.argv[2:]:
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                why = check(rec, ops, spec)
                if why is None:
                    passed += 1
                    continue
                failed += 1
                key = (rec["method"], rec.get("route"), rec["status"], why)
                if key not in kinds:
                    kinds[key] = rec
    for (method, route, status, why), rec in list(kinds.items())[:SHOW]:
        body = json.dumps(rec.get("body"))[:300]
        print(f"not ok - {method} {route} {status}: {why}\n#   body: {body}")
    if len(kinds) > SHOW:
        print(f"# ... and {len(kinds) - SHOW} more kinds of mismatch")
    if passed + failed == 0:
        print("not ok - no answers recorded (TERN_API_RECORD unset?)")
        failed = 1
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
