#!/usr/bin/env bash
# Offline checks of what deploys: cfn-lint on template.yaml, and its routes
# against the code's route table (scripts/check_template.py).
set -euo pipefail
source "$(dirname "$0")/stack.sh"
ensure_tools
"$TOOLS_VENV/bin/cfn-lint" "$ROOT/template.yaml"
log "cfn-lint template.yaml: clean"
"$TOOLS_VENV/bin/python" "$ROOT/scripts/check_template.py"
