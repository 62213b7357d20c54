#!/usr/bin/env bash
# Copies the alert rules and the Grafana dashboard from infra/ (the sources) into the umbrella chart,
# which can only read files inside itself (.Files.Get). Run after editing either file; the chart
# checks (tests/repo, tools/charts/check-rules.sh) fail while the copies differ.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p charts/ctp/files
cp infra/prometheus_alerts_ctp_slos.yaml infra/grafana_ctp_revocation_dashboard.json charts/ctp/files/
echo "synced charts/ctp/files/ from infra/"
