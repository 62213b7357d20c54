#!/usr/bin/env bash
# Checks the alerting and dashboard artifacts with promtool (Debian's prometheus package ships it):
#   1. promtool check rules infra/prometheus_alerts_ctp_slos.yaml
#   2. promtool test rules infra/tests/*.test.yaml     (every alert fires / stays silent as specified)
#   3. every query of infra/grafana_ctp_revocation_dashboard.json parses as PromQL (written out as
#      recording rules, with Grafana's $__rate_interval, $__range and $namespace replaced)
#   4. the umbrella chart's copies in charts/ctp/files/ are byte-identical to infra/
# Installs promtool with apt when it is missing (as root, or through sudo).
#
#   tools/charts/check-rules.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v promtool >/dev/null 2>&1; then
  echo "check-rules: promtool not found; installing Debian's prometheus package (it ships promtool)"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
promtool --version 2>&1 | head -n 1

RULES=infra/prometheus_alerts_ctp_slos.yaml
DASHBOARD=infra/grafana_ctp_revocation_dashboard.json

echo "== promtool check rules $RULES"
promtool check rules "$RULES"

echo "== promtool test rules infra/tests/*.test.yaml"
promtool test rules infra/tests/*.test.yaml

echo "== dashboard queries ($DASHBOARD)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
node - "$DASHBOARD" > "$tmp/dashboard_queries.yaml" <<'JS'
const dashboard = JSON.parse(require('node:fs').readFileSync(process.argv[2], 'utf8'));
const queries = [];
const walk = (panels) => {
  for (const panel of panels ?? []) {
    for (const target of panel.targets ?? []) if (target.expr) queries.push(target.expr);
    walk(panel.panels);
  }
};
walk(dashboard.panels);
const grafanaVariables = (expr) =>
  expr.replaceAll('$__rate_interval', '5m').replaceAll('$__range', '1h').replaceAll('$namespace', '.*');
console.log('groups:\n  - name: dashboard-queries\n    rules:');
queries.forEach((expr, i) => console.log(`      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(grafanaVariables(expr))}`));
JS
promtool check rules "$tmp/dashboard_queries.yaml"

echo "== chart copies"
for f in prometheus_alerts_ctp_slos.yaml grafana_ctp_revocation_dashboard.json; do
  if ! cmp -s "infra/$f" "charts/ctp/files/$f"; then
    echo "check-rules: charts/ctp/files/$f differs from infra/$f; run tools/charts/sync-chart-files.sh" >&2
    exit 1
  fi
done
echo "charts/ctp/files/ matches infra/"
