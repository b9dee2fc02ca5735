"""The SAM template's routes equal the code's route table.

* Every HttpApi event of a function in template.yaml, as (method, path,
  binary), equals the `cargo lambda watch` router table in Cargo.toml, which
  a Rust test keeps equal to shared/src/routes.rs ROUTES.
* Every `AWS::ApiGatewayV2::Route` (the web pages, proxied to the web
  bucket) is a GET of shared/openapi.json that no function serves; a Rust
  test keeps those equal to WEB_ROUTES.

Run with the tools venv's Python (cfn-lint's YAML loader understands the
CloudFormation short tags): python scripts/check_template.py
"""

import json
import sys
import tomllib
from pathlib import Path

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    template, problems = decode(str(ROOT / "template.yaml"))
    if problems:
        print("template.yaml does not parse:", *problems, sep="\n  ")
        return 1
    resources = template["Resources"]
    in_template = set()
    web_in_template = set()
    for name, resource in resources.items():
        if resource["Type"] == "AWS::Serverless::Function":
            binary = resource["Metadata"]["BuildProperties"]["Binary"]
            for event in resource["Properties"].get("Events", {}).values():
                if event["Type"] == "HttpApi":
                    props = event["Properties"]
                    in_template.add((props["Method"].upper(), props["Path"], binary))
        elif resource["Type"] == "AWS::ApiGatewayV2::Route":
            method, path = resource["Properties"]["RouteKey"].split(" ", 1)
            web_in_template.add((method, path))

    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    router = cargo["workspace"]["metadata"]["lambda"]["watch"]["router"]
    in_code = {
        (entry["method"], path, entry["function"])
        for path, entries in router.items()
        for entry in entries
    }
    spec = json.loads((ROOT / "shared/openapi.json").read_text())
    function_paths = {(m, p) for m, p, _ in in_code}
    web_in_code = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if (method.upper(), path) not in function_paths
    }

    ok = True
    for label, got, want in [
        ("function routes", in_template, in_code),
        ("web page routes", web_in_template, web_in_code),
    ]:
        if got != want:
            ok = False
            print(f"template.yaml {label} differ from the code:")
            for extra in sorted(got - want):
                print("  only in template.yaml:", extra)
            for missing in sorted(want - got):
                print("  missing from template.yaml:", missing)
        else:
            print(f"template.yaml {label}: {len(got)} equal to the code")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
