#!/usr/bin/env bash
# Offline checks of what deploys:
#   * template.yaml (SAM): cfn-lint, and its routes against the code's route
#     table (scripts/check_template.py);
#   * k8s-knative/: core kinds against the Kubernetes schema
#     (kubernetes-validate --strict), every kind, CRDs included, against the
#     Knative and Gateway API schemas (deploy-tests/, npm @kubernetes-models),
#     and its routes, services and sources against the code
#     (scripts/check_k8s.py). Both validators must also reject
#     deploy-tests/invalid/;
#   * docker-compose.yml against the Compose specification (check-jsonschema's
#     vendored schema), the LocalStack init hooks' syntax, and the Dockerfile
#     and compose file against the code (scripts/check_containers.py).
set -euo pipefail
source "$(dirname "$0")/stack.sh"
need tools deploy-tests
KUBERNETES_VERSION="${KUBERNETES_VERSION:-1.33}"

"$TOOLS_VENV/bin/cfn-lint" "$ROOT/template.yaml"
log "cfn-lint template.yaml: clean"
"$TOOLS_VENV/bin/python" "$ROOT/scripts/check_template.py"

"$TOOLS_VENV/bin/kubernetes-validate" --strict --quiet --no-warn -k "$KUBERNETES_VERSION" "$ROOT"/k8s-knative/*.yaml
log "kubernetes-validate --strict (Kubernetes $KUBERNETES_VERSION) k8s-knative/: clean"
node "$ROOT/deploy-tests/validate-manifests.mjs" "$ROOT/k8s-knative"
# A validator that accepts anything would pass the above; both must reject this.
if "$TOOLS_VENV/bin/kubernetes-validate" --strict --quiet --no-warn -k "$KUBERNETES_VERSION" \
  "$ROOT/deploy-tests/invalid/broken.yaml" >/dev/null 2>&1; then
  log "kubernetes-validate accepted deploy-tests/invalid/"; exit 1
fi
if node "$ROOT/deploy-tests/validate-manifests.mjs" "$ROOT/deploy-tests/invalid" >/dev/null 2>&1; then
  log "validate-manifests.mjs accepted deploy-tests/invalid/"; exit 1
fi
log "both validators reject deploy-tests/invalid/"
"$TOOLS_VENV/bin/python" "$ROOT/scripts/check_k8s.py"

"$TOOLS_VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$ROOT/docker-compose.yml"
for hook in "$ROOT"/localstack/init/ready.d/*.sh; do bash -n "$hook"; done
"$TOOLS_VENV/bin/python" "$ROOT/scripts/check_containers.py"
