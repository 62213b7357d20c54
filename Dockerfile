# syntax=docker/dockerfile:1
# One Dockerfile for every CTP image; APP picks the service (apps/<APP>/src/main.ts), PORT its port.
# From the repository root:
#
#   docker build --build-arg APP=issuer                 --build-arg PORT=8001 -t ctp-issuer .
#   docker build --build-arg APP=introspector           --build-arg PORT=8002 -t ctp-introspector .
#   docker build --build-arg APP=revocation-broadcaster --build-arg PORT=8003 -t ctp-revocation-broadcaster .
#   docker build --build-arg APP=ledger-writer          --build-arg PORT=8004 -t ctp-ledger-writer .
#   docker build --build-arg APP=ctp                    --build-arg PORT=8000 -t ctp-ctp .   # `ctp up`, all-in-one demo
#   docker run --rm -p 8001:8001 --env-file issuer.env ctp-issuer                              # CTP_* settings: README.md
#
# Stages: manifests (only the package.json files, so `npm ci` stays cached until dependencies
# change), build (npm ci, then tools/build.mjs bundles apps/$APP/src/main.ts with esbuild into
# dist/apps/$APP/main.js, plus the ledger SQL migrations in dist/apps/migrations), prod-deps
# (production dependencies only: the bundle requires just the modules esbuild leaves external,
# PGlite among them), runtime (user 10001, no sources, no dev tools).
# Configuration is environment variables (README.md, Configuration); charts/<service> sets them on Kubernetes.

# Both are required: the build stops with a message when one is missing.
ARG APP
ARG PORT

FROM node:24-bookworm-slim AS manifests
WORKDIR /src
COPY package.json package-lock.json ./
COPY apps/ apps/
COPY libs/ libs/
RUN find apps libs -type f ! -name package.json -delete && find apps libs -depth -type d -empty -delete

FROM node:24-bookworm-slim AS build
ARG APP
ARG PORT
RUN test -n "${APP}" && test -n "${PORT}" || { echo 'build with --build-arg APP=<service> --build-arg PORT=<port> (see the top of Dockerfile)' >&2; exit 1; }
WORKDIR /src
COPY --from=manifests /src/ ./
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.base.json tsconfig.json ./
COPY libs/ libs/
COPY apps/ apps/
COPY tools/build.mjs tools/build.mjs
RUN node tools/build.mjs "${APP}"

FROM node:24-bookworm-slim AS prod-deps
WORKDIR /src
COPY --from=manifests /src/ ./
# The workspace links (node_modules/@ctp/*) point at sources the runtime does not have: the bundle holds them.
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/@ctp node_modules/.bin

FROM node:24-bookworm-slim AS runtime
ARG APP
ARG PORT
ENV NODE_ENV=production \
    CTP_HOST=0.0.0.0 \
    CTP_PORT=${PORT} \
    CTP_APP=${APP} \
    CTP_DATA_DIR=/app/var/ctp
WORKDIR /app
# User 10001 owns nothing but /app/var (default key and data directories when run without Kubernetes,
# and the embedded ledger of `ctp up`; mount a volume there to keep it); the code is root-owned and
# read-only to it. The charts also set readOnlyRootFilesystem.
RUN groupadd --system --gid 10001 ctp \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin ctp \
 && mkdir -p /app/var && chown 10001:10001 /app/var
COPY --from=prod-deps /src/node_modules ./node_modules
# The bundle goes to a fixed path so CMD needs no variable; libs/ledger reads its SQL migrations
# from <bundle dir>/../migrations.
COPY --from=build /src/dist/apps/${APP} ./dist/app
COPY --from=build /src/dist/apps/migrations ./dist/migrations
USER 10001:10001
EXPOSE ${PORT}
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.CTP_PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# `ctp` (the all-in-one image) runs `ctp up`; the services take no arguments and ignore it.
CMD ["node", "--enable-source-maps", "dist/app/main.js", "up"]
