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
# dist/apps/$APP/main.js, copies beside it the few packages the bundle loads at run time (PGlite for
# `ctp up`, nothing for the services) and writes its CycloneDX SBOM, sbom.cdx.json), runtime (the
# bundle directory and the migrations only: user 10001, no node_modules tree, no sources, no tools).
#
# The base image is pinned by digest (NODE_IMAGE). To move to a newer node:24-bookworm-slim, read its
# digest with `docker buildx imagetools inspect node:24-bookworm-slim` (or let Renovate/Dependabot
# propose it) and change the default below; the SBOM records the digest the image was built from.
# Labels: pass --build-arg REVISION=$(git rev-parse HEAD) (and VERSION for a release build).
# Configuration is environment variables (README.md, Configuration); charts/<service> sets them on Kubernetes.

# Both are required: the build stops with a message when one is missing.
ARG APP
ARG PORT
# node:24-bookworm-slim (Node.js 24.18.0), pinned by digest.
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=https://github.com/ctp/ctp

FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY package.json package-lock.json ./
COPY apps/ apps/
COPY libs/ libs/
RUN find apps libs -type f ! -name package.json -delete && find apps libs -depth -type d -empty -delete

FROM ${NODE_IMAGE} AS build
ARG APP
ARG PORT
ARG NODE_IMAGE
ARG REVISION
RUN test -n "${APP}" && test -n "${PORT}" || { echo 'build with --build-arg APP=<service> --build-arg PORT=<port> (see the top of Dockerfile)' >&2; exit 1; }
WORKDIR /src
COPY --from=manifests /src/ ./
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
# The one install step scripts would have run: the postgres.js closed-socket guard (tools/patches).
COPY tools/patches/ tools/patches/
RUN node tools/patches/postgres-closed-socket.cjs
COPY tsconfig.base.json tsconfig.json ./
COPY libs/ libs/
COPY apps/ apps/
COPY tools/build.mjs tools/build.mjs
COPY tools/image/sbom.mjs tools/image/sbom.mjs
RUN CTP_BASE_IMAGE="${NODE_IMAGE}" CTP_REVISION="${REVISION}" node tools/build.mjs "${APP}"

FROM ${NODE_IMAGE} AS runtime
ARG APP
ARG PORT
ARG VERSION
ARG REVISION
ARG SOURCE
ARG NODE_IMAGE
LABEL org.opencontainers.image.title="ctp-${APP}" \
      org.opencontainers.image.description="Consent Token Protocol: ${APP}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="UNLICENSED" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"
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
# The bundle directory goes to a fixed path so CMD needs no variable: main.js, the packages it loads
# at run time (dist/app/node_modules), and the SBOM (/app/dist/app/sbom.cdx.json). libs/ledger reads
# its SQL migrations from <bundle dir>/../migrations.
COPY --from=build /src/dist/apps/${APP} ./dist/app
COPY --from=build /src/dist/apps/migrations ./dist/migrations
USER 10001:10001
EXPOSE ${PORT}
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.CTP_PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# `ctp` (the all-in-one image) runs `ctp up`; the services take no arguments and ignore it.
CMD ["node", "--enable-source-maps", "dist/app/main.js", "up"]
