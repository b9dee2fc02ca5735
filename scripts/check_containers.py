"""The container files agree with the code (no Docker engine needed).

Dockerfile (parsed with dockerfile-parse):
* multi-stage; the build stage compiles with `--locked --release` for the
  musl target (static binaries) and copies every function binary of the
  workspace plus avatar-local;
* the final stage is distroless/static or scratch, runs as a numeric
  non-root USER, and holds those binaries and the web pages;
* the `localstack` stage installs localstack/init/ready.d/, whose scripts
  run `avatar-local bootstrap` (the bootstrap of `make run`).

docker-compose.yml (valid against the Compose specification, checked by
check-jsonschema before this script):
* PostgreSQL, LocalStack and the service; build targets exist in the
  Dockerfile; one service per function binary, each running its binary;
* every environment variable set for the service is one the code reads.
"""

import re
import sys

import yaml
from dockerfile_parse import DockerfileParser
from in_code import ROOT, function_binaries, settings_read

# LocalStack's own settings the compose file gives its container (as
# scripts/stack.sh gives them under STACK=localstack).
LOCALSTACK_SETTINGS = {"SERVICES", "S3_SKIP_SIGNATURE_VALIDATION"}

def stages(parser):
    """[(name, base image, [instructions])] in order."""
    out = []
    for ins in parser.structure:
        if ins["instruction"] == "FROM":
            words = ins["value"].split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            out.append((name, words[0], []))
        elif out:
            out[-1][2].append(ins)
    return out


def check_dockerfile(problems):
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    staged = stages(parser)
    binaries = function_binaries() | {"avatar-local"}
    names = [n for n, _, _ in staged]
    if len(staged) < 2 or "build" not in names or "localstack" not in names:
        problems.append(f"Dockerfile stages {names}: expected build, localstack and a final stage")
        return names
    build = next(ins for n, _, ins in staged if n == "build")
    run = " ".join(i["value"] for i in build if i["instruction"] == "RUN")
    for needed in ("cargo build --release --locked", "unknown-linux-musl"):
        if needed not in run:
            problems.append(f"build stage does not run `{needed}`")
    for b in sorted(binaries):
        if not re.search(rf"(-p avatar-{b}\b|-p {b}\b)", run) or not re.search(rf"\b{b}\b", run.split("for bin in", 1)[-1]):
            problems.append(f"build stage does not build and copy {b}")
    final_name, final_base, final = staged[-1]
    if not (final_base.startswith("gcr.io/distroless/static") or final_base == "scratch"):
        problems.append(f"final stage is {final_base}, not distroless/static or scratch")
    users = [i["value"] for i in final if i["instruction"] == "USER"]
    if not users or not re.fullmatch(r"[1-9][0-9]*(:[1-9][0-9]*)?", users[-1]):
        problems.append(f"final stage USER {users}: expected a numeric non-root user")
    copies = " ".join(i["value"] for i in final if i["instruction"] == "COPY")
    if "--from=build /out/" not in copies or "web-static" not in copies:
        problems.append("final stage does not copy the binaries and web-static/")
    localstack = next(ins for n, _, ins in staged if n == "localstack")
    if not any("localstack/init/ready.d/" in i["value"] for i in localstack if i["instruction"] == "COPY"):
        problems.append("localstack stage does not install localstack/init/ready.d/")
    hooks = sorted((ROOT / "localstack/init/ready.d").glob("*.sh"))
    if not any(re.search(r"^\s*\S*avatar-local\S* bootstrap\s*$", h.read_text(), re.M) for h in hooks):
        problems.append("no localstack/init/ready.d/ script runs `avatar-local bootstrap`")
    print(f"Dockerfile: stages {names}, final {final_base} as {users[-1] if users else '?'}, {len(binaries)} binaries")
    return names


def check_compose(problems, stage_names):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for needed in ("postgres", "localstack", "avatars"):
        if needed not in services:
            problems.append(f"docker-compose.yml has no {needed} service")
    for name, svc in services.items():
        target = (svc.get("build") or {}).get("target")
        if target and target not in stage_names:
            problems.append(f"service {name} builds target {target}, not a Dockerfile stage")
        if target == "functions" or name == "localstack":
            unknown = set(svc.get("environment", {})) - settings_read() - LOCALSTACK_SETTINGS
            if unknown:
                problems.append(f"service {name} sets variables the code never reads: {sorted(unknown)}")
    observability = {n for n, svc in services.items() if "observability" in svc.get("profiles", [])}
    if observability != {"prometheus", "grafana", "jaeger"}:
        problems.append(f"observability profile is {sorted(observability)}, not prometheus, grafana, jaeger")
    for name in sorted(observability):
        for volume in services[name].get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and not (ROOT / source).exists():
                problems.append(f"service {name} mounts {source}, which does not exist")
    scrape = yaml.safe_load((ROOT / "observability/prometheus/prometheus.compose.yml").read_text())
    targets = [t for job in scrape["scrape_configs"] for c in job["static_configs"] for t in c["targets"]]
    metrics_port = services["avatars"]["environment"].get("METRICS_ADDR", "").rsplit(":", 1)[-1]
    if targets != [f"avatars:{metrics_port}"]:
        problems.append(f"compose Prometheus scrapes {targets}, not the avatars service's METRICS_ADDR")
    missing = sorted(f for f in function_binaries() if services.get(f, {}).get("command") != [f"/usr/local/bin/{f}"])
    if missing:
        problems.append(f"functions without their own compose service running their binary: {missing}")
    print(f"docker-compose.yml: {len(services)} services ({', '.join(services)})")


def main() -> int:
    problems = []
    names = check_dockerfile(problems)
    check_compose(problems, names)
    for p in problems:
        print("  problem:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
