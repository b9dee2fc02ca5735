"""k8s-knative/ agrees with the code and keeps its rules.

* The HTTPRoute's matches equal the code's route table (in_code.py):
  each rule sends a method + path to one function (by the Host rewrite to
  `{function}.avatars.svc.cluster.local`) or to the web bucket, and for
  every route of the table a sample request matches exactly one match,
  which leads where the table says.
* One Knative Service per function binary, each with 2..10 autoscaling,
  readiness and liveness probes, CPU and memory requests and limits, a
  non-root read-only container, its settings from the ConfigMap and
  DATABASE_URL from the Secret, and its own binary as the command.
* The SQS IntegrationSources feed the thumbnail and purge functions, and a
  PingSource runs the hourly sweep.
* Every ConfigMap key is a setting the code reads (in_code.settings_read).
* The PodMonitor scrapes GET /metrics of every function's pods, and the
  HTTPRoute never routes /metrics to the public.

Schemas are validated separately (kubernetes-validate and
deploy-tests/validate-manifests.mjs). Run with the tools venv's Python.
"""

import re
import sys

import yaml
from in_code import ROOT, compare, function_binaries, function_routes, settings_read, web_routes

K8S = ROOT / "k8s-knative"
NAMESPACE = "avatars"
FUNCTION_HOST = re.compile(r"^([a-z0-9-]+)\.avatars\.svc\.cluster\.local$")


def manifests():
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path.name, doc


def normalize(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def sample(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", path)


def path_matches(kind: str, value: str, path: str) -> bool:
    if kind == "Exact":
        return path == value
    if kind == "PathPrefix":
        return path == value or path.startswith(value.rstrip("/") + "/")
    if kind == "RegularExpression":
        return re.fullmatch(value, path) is not None
    raise ValueError(f"unknown path match type {kind}")


def as_template(kind: str, value: str) -> str:
    """The route-table path a match stands for."""
    if kind == "Exact":
        return value
    if kind == "PathPrefix":
        return value.rstrip("/") + "/{}"
    return value.replace("[^/]+", "{}")


def check_routes(docs) -> bool:
    routes = [d for _, d in docs if d["kind"] == "HTTPRoute"]
    if len(routes) != 1:
        print(f"expected one HTTPRoute, found {len(routes)}")
        return False
    matches = []  # (method, type, value, target) where target = function name or "web"
    for rule in routes[0]["spec"]["rules"]:
        hostnames = [f["urlRewrite"].get("hostname", "") for f in rule.get("filters", []) if f["type"] == "URLRewrite"]
        function = next((m.group(1) for h in hostnames if (m := FUNCTION_HOST.match(h))), None)
        backends = {b["name"] for b in rule["backendRefs"]}
        target = function if function else ("web" if backends == {"avatar-web-bucket"} else None)
        if target is None:
            print(f"rule with backends {backends} reaches neither a function nor the web bucket")
            return False
        for m in rule["matches"]:
            matches.append((m["method"], m["path"]["type"], m["path"]["value"], target))

    got_functions = {(meth, as_template(t, v), target) for meth, t, v, target in matches if target != "web"}
    got_web = {(meth, as_template(t, v)) for meth, t, v, target in matches if target == "web"}
    want_functions = {(meth, normalize(p), f) for meth, p, f in function_routes()}
    want_web = {(meth, normalize(p)) for meth, p in web_routes()}
    ok = compare("function routes", "httproute.yaml", got_functions, want_functions)
    ok &= compare("web page routes", "httproute.yaml", got_web, want_web)

    expected = [(meth, p, f) for meth, p, f in function_routes()] + [(meth, p, "web") for meth, p in web_routes()]
    private = [m for m in matches if path_matches(m[1], m[2], "/metrics")]
    if private:
        print(f"httproute.yaml routes /metrics to the public: {private}")
        ok = False
    for method, path, target in expected:
        hits = [m for m in matches if m[0] == method and path_matches(m[1], m[2], sample(path))]
        if len(hits) != 1 or hits[0][3] != target:
            print(f"{method} {sample(path)} should reach {target} by one match; matches: {hits}")
            ok = False
    if ok:
        print(f"httproute.yaml: each of {len(expected)} sample requests matches one rule, to the right backend")
    return ok


# Functions that decode images, whose concurrency the memory budget sets.
DECODING = {"upload", "get", "thumbnail"}


def check_services(docs) -> bool:
    ok = True
    services = {d["metadata"]["name"]: d for _, d in docs if d["kind"] == "Service" and d["apiVersion"].startswith("serving.knative.dev/")}
    ok &= compare("Knative Services", "k8s-knative", set(services), function_binaries())
    for name, svc in sorted(services.items()):
        template = svc["spec"]["template"]
        notes = template["metadata"].get("annotations", {})
        container = template["spec"]["containers"][0]
        security = container.get("securityContext", {})
        resources = container.get("resources", {})
        env = {e["name"]: e for e in container.get("env", [])}
        problems = [
            what
            for what, good in [
                ("min-scale 2", notes.get("autoscaling.knative.dev/min-scale") == "2"),
                ("max-scale 10", notes.get("autoscaling.knative.dev/max-scale") == "10"),
                ("readiness probe on /health", container.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/health"),
                ("liveness probe", "livenessProbe" in container),
                ("cpu and memory requests", {"cpu", "memory"} <= set(resources.get("requests", {}))),
                ("cpu and memory limits", {"cpu", "memory"} <= set(resources.get("limits", {}))),
                ("runAsNonRoot", security.get("runAsNonRoot") is True and security.get("runAsUser", 0) != 0),
                ("readOnlyRootFilesystem", security.get("readOnlyRootFilesystem") is True),
                ("no privilege escalation", security.get("allowPrivilegeEscalation") is False),
                ("all capabilities dropped", security.get("capabilities", {}).get("drop") == ["ALL"]),
                ("settings from the ConfigMap", {"configMapRef": {"name": "avatar-config"}} in container.get("envFrom", [])),
                ("DATABASE_URL from the Secret", env.get("DATABASE_URL", {}).get("valueFrom", {}).get("secretKeyRef", {}).get("name") == "avatar-secrets"),
                ("its own binary", container.get("command", [""])[0].endswith(f"/{name}")),
                # The functions that decode bound their requests in flight
                # (the decode budget; README "Security").
                ("containerConcurrency", name not in DECODING or template["spec"].get("containerConcurrency", 0) > 0),
            ]
            if not good
        ]
        if problems:
            ok = False
            print(f"Knative Service {name} lacks: {', '.join(problems)}")
    if ok:
        print(f"Knative Services: {len(services)}, each with 2..10 scaling, probes, limits, non-root read-only, ConfigMap + Secret")
    return ok


def check_sources(docs) -> bool:
    sinks = lambda kind: sorted(d["spec"]["sink"]["ref"]["name"] for _, d in docs if d["kind"] == kind)  # noqa: E731
    ok = True
    if sinks("IntegrationSource") != ["purge", "thumbnail"]:
        print(f"SQS IntegrationSources should feed purge and thumbnail, feed {sinks('IntegrationSource')}")
        ok = False
    pings = [d for _, d in docs if d["kind"] == "PingSource"]
    if [p["spec"]["sink"]["ref"]["name"] for p in pings] != ["purge"] or '"sweep": true' not in pings[0]["spec"].get("data", ""):
        print("a PingSource should post {\"sweep\": true} to purge")
        ok = False
    if ok:
        print("event sources: upload queue -> thumbnail, delete queue -> purge, hourly sweep -> purge")
    return ok


def check_config(docs) -> bool:
    read = settings_read()
    keys = set()
    for _, d in docs:
        if d["kind"] == "ConfigMap":
            keys |= set(d["data"])
    unknown = keys - read
    if unknown:
        print(f"ConfigMap keys the code never reads: {sorted(unknown)}")
        return False
    print(f"ConfigMap: {len(keys)} keys, all read by the code")
    return True


def check_monitoring(docs) -> bool:
    """The PodMonitor scrapes GET /metrics of every function's pods."""
    monitors = [d for _, d in docs if d["kind"] == "PodMonitor"]
    if len(monitors) != 1:
        print(f"expected one PodMonitor, found {len(monitors)}")
        return False
    spec = monitors[0]["spec"]
    selector = spec["selector"]["matchLabels"]
    services = [d for _, d in docs if d["kind"] == "Service" and d["apiVersion"].startswith("serving.knative.dev")]
    unselected = [
        s["metadata"]["name"] for s in services
        if not selector.items() <= s["spec"]["template"]["metadata"]["labels"].items()
    ]
    paths = {e.get("path") for e in spec["podMetricsEndpoints"]}
    ok = not unselected and paths == {"/metrics"}
    if not ok:
        print(f"PodMonitor misses {unselected} or scrapes {paths} instead of /metrics")
    else:
        print(f"PodMonitor: GET /metrics of all {len(services)} functions")
    return ok


def main() -> int:
    docs = list(manifests())
    wrong_namespace = [
        f"{f}: {d['kind']} {d['metadata']['name']}"
        for f, d in docs
        if d["kind"] not in ("Namespace", "ReferenceGrant") and d["metadata"].get("namespace") != NAMESPACE
    ]
    ok = not wrong_namespace
    if wrong_namespace:
        print("outside the avatars namespace:", *wrong_namespace, sep="\n  ")
    for check in (check_routes, check_services, check_sources, check_config, check_monitoring):
        ok &= check(docs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
