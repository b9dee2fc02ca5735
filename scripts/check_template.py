"""The SAM template's routes equal the code's route table.

* Every HttpApi event of a function in template.yaml, as (method, path,
  binary), equals the function routes of in_code.py.
* The routes that act for a user (upload, delete) are
  `AWS::ApiGatewayV2::Route`s to a function's AWS_PROXY integration, so
  that the JWT authorizer is attached exactly when JwtIssuer is set: they
  count as that function's routes, must be the identity routes of the
  OpenAPI document, and each must carry the conditional authorizer; no
  other route may.
* Every other `AWS::ApiGatewayV2::Route` (the web pages, proxied to the
  web bucket) equals its web page routes.

Run with the tools venv's Python (cfn-lint's YAML loader understands the
CloudFormation short tags): python scripts/check_template.py
"""

import sys

from cfnlint.decode import decode
from in_code import ROOT, compare, function_routes, identity_routes, web_routes


def main() -> int:
    template, problems = decode(str(ROOT / "template.yaml"))
    if problems:
        print("template.yaml does not parse:", *problems, sep="\n  ")
        return 1
    resources = template["Resources"]
    binaries = {
        name: resource["Metadata"]["BuildProperties"]["Binary"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    in_template = set()
    web_in_template = set()
    authorized = set()
    problems = []
    for name, resource in resources.items():
        if resource["Type"] == "AWS::Serverless::Function":
            for event in resource["Properties"].get("Events", {}).values():
                if event["Type"] == "HttpApi":
                    props = event["Properties"]
                    in_template.add((props["Method"].upper(), props["Path"], binaries[name]))
        elif resource["Type"] == "AWS::ApiGatewayV2::Route":
            props = resource["Properties"]
            method, path = props["RouteKey"].split(" ", 1)
            integration = resources[props["Target"]["Fn::Sub"].split("${")[1].rstrip("}")]["Properties"]
            if integration["IntegrationType"] == "AWS_PROXY":
                function = integration["IntegrationUri"]["Fn::GetAtt"][0]
                in_template.add((method, path, binaries[function]))
            else:
                web_in_template.add((method, path))
            auth = props.get("AuthorizationType")
            if auth == {"Fn::If": ["HasJwtAuthorizer", "JWT", "NONE"]} and props.get("AuthorizerId") == {
                "Fn::If": ["HasJwtAuthorizer", {"Ref": "JwtAuthorizer"}, {"Ref": "AWS::NoValue"}]
            }:
                authorized.add((method, path))
            elif auth not in (None, "NONE"):
                problems.append(f"{name}: an authorizer other than the conditional JwtAuthorizer")

    ok = compare("function routes", "template.yaml", in_template, function_routes())
    ok &= compare("web page routes", "template.yaml", web_in_template, web_routes())
    ok &= compare("routes behind the JWT authorizer", "template.yaml", authorized, identity_routes())
    for problem in problems:
        print(problem)
    ok &= not problems
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
