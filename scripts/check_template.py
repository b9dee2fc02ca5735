"""The SAM template's routes equal the code's route table.

* Every HttpApi event of a function in template.yaml, as (method, path,
  binary), equals the function routes of in_code.py.
* Every `AWS::ApiGatewayV2::Route` (the web pages, proxied to the web
  bucket) equals its web page routes.

Run with the tools venv's Python (cfn-lint's YAML loader understands the
CloudFormation short tags): python scripts/check_template.py
"""

import sys

from cfnlint.decode import decode
from in_code import ROOT, compare, function_routes, web_routes


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

    ok = compare("function routes", "template.yaml", in_template, function_routes())
    ok &= compare("web page routes", "template.yaml", web_in_template, web_routes())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
