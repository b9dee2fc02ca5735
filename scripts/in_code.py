"""What the code declares, as the deploy checks compare it.

* Function routes: the `cargo lambda watch` router table in Cargo.toml, as
  (METHOD, path, function); a Rust test keeps it equal to
  http/src/routes.rs ROUTES.
* Web page routes: the GETs of http/openapi.json that no function
  serves, as (METHOD, path); a Rust test keeps those equal to WEB_ROUTES.
* Routes that act for a user: the operations of http/openapi.json with
  a `security` requirement (X-User-ID or a bearer token), as
  (METHOD, path); a Rust test keeps those equal to the routes whose
  handlers take the acting user.
* Function binaries: the `[[bin]]` names of functions/*/Cargo.toml.
* Settings: the environment variables something in the service reads.
"""

import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def function_routes() -> set[tuple[str, str, str]]:
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    router = cargo["workspace"]["metadata"]["lambda"]["watch"]["router"]
    return {(entry["method"], path, entry["function"]) for path, entries in router.items() for entry in entries}


def web_routes() -> set[tuple[str, str]]:
    spec = json.loads((ROOT / "http/openapi.json").read_text())
    served = {(method, path) for method, path, _ in function_routes()}
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if (method.upper(), path) not in served
    }


def identity_routes() -> set[tuple[str, str]]:
    spec = json.loads((ROOT / "http/openapi.json").read_text())
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if operation.get("security")
    }


def function_binaries() -> set[str]:
    names = set()
    for manifest in ROOT.glob("functions/*/Cargo.toml"):
        names |= {b["name"] for b in tomllib.loads(manifest.read_text()).get("bin", [])}
    return names


def settings_read() -> set[str]:
    """Config::from_env's names (adapters/src/config.rs), plus those read by
    the runtime (HOST, PORT), avatar-local, the AWS SDK, tracing and the
    OpenTelemetry SDK (the standard OTEL_* variables)."""
    names = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', (ROOT / "adapters/src/config.rs").read_text()))
    return names | {
        "HOST", "PORT", "GATEWAY_ADDR", "SWEEP_INTERVAL_SECONDS", "BATCH_WINDOW_SECONDS", "WEB_STATIC_DIR",
        "METRICS_ADDR", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
        "RUST_LOG", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
    }


def compare(label: str, where: str, got: set, want: set) -> bool:
    """Prints how `got` (from `where`) differs from the code's `want`."""
    if got == want:
        print(f"{where} {label}: {len(got)} equal to the code")
        return True
    print(f"{where} {label} differ from the code:")
    for extra in sorted(got - want):
        print(f"  only in {where}:", extra)
    for missing in sorted(want - got):
        print(f"  missing from {where}:", missing)
    return False
