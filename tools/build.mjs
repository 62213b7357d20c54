#!/usr/bin/env node
// Bundles every app (apps/<name>/src/main.ts) into dist/apps/<name>/main.js with esbuild,
// so container images run plain `node dist/apps/<name>/main.js` without tsx or the sources.
// Beside each bundle: node_modules/ with only the packages the bundle loads at run time (and their
// dependencies), and sbom.cdx.json, the CycloneDX SBOM of that image (tools/image/sbom.mjs). The
// runtime stage of the Dockerfile copies dist/apps/<name> and nothing from the dependency tree.
//
//   node tools/build.mjs            # every app
//   node tools/build.mjs issuer ctp # only these
//
// What stays outside the bundle, and why:
//   @electric-sql/pglite, @electric-sql/pglite-socket: load their .wasm/.data assets relative to
//     their own module file, so they must be required from node_modules; the embedded PostgreSQL
//     worker (libs/ledger/src/embedded_worker.cjs) imports them, so bundles that start it ship them.
//   bufferutil, utf-8-validate: optional native add-ons of `ws`, not installed; ws falls back to JS.
//   pino-pretty: optional pretty-printer of pino, never used in production.
// libs/ledger reads its SQL migrations from `join(__dirname, '..', 'migrations')`; inside a bundle
// __dirname is dist/apps/<name>, so they are copied to dist/apps/migrations.
import { build } from 'esbuild';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cycloneDx } from './image/sbom.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outRoot = join(root, 'dist', 'apps');
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;

export const EXTERNAL = ['@electric-sql/pglite', '@electric-sql/pglite-socket', 'bufferutil', 'utf-8-validate', 'pino-pretty'];
const WORKER = join(root, 'libs', 'ledger', 'src', 'embedded_worker.cjs');
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
/** The base image of the runtime stage (the Dockerfile passes its pinned NODE_IMAGE). */
const baseImage = process.env.CTP_BASE_IMAGE ?? /^ARG NODE_IMAGE=(\S+)$/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'))?.[1] ?? 'node:24-bookworm-slim';

/** Node's resolution over package-lock.json: where `name` is found from the package at `fromKey`. */
function resolveLockKey(name, fromKey) {
  for (let dir = fromKey; ; dir = dir.slice(0, Math.max(0, dir.lastIndexOf('/node_modules/')))) {
    const key = dir ? `${dir}/node_modules/${name}` : `node_modules/${name}`;
    if (lock.packages[key]) return key;
    if (!dir) return undefined;
  }
}

/** An installed package and its production dependencies, transitively, as lock keys. */
function withDependencies(name) {
  const keys = new Set();
  const visit = (key) => {
    if (!key || keys.has(key)) return;
    keys.add(key);
    for (const dep of Object.keys(lock.packages[key].dependencies ?? {})) visit(resolveLockKey(dep, key));
  };
  visit(resolveLockKey(name, ''));
  return keys;
}

// The demo partner (`npm run demo`, it bundles the consent element at start) and the demo processor (`npm run demo:processor`) run from source; they are no images.
const NOT_IMAGES = ['demo-partner', 'demo-processor'];
const all = readdirSync(join(root, 'apps')).filter((name) => existsSync(join(root, 'apps', name, 'src', 'main.ts')) && !NOT_IMAGES.includes(name));
const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !all.includes(name));
if (unknown.length > 0) {
  console.error(`build: no app named ${unknown.join(', ')} (apps: ${all.join(', ')})`);
  process.exit(2);
}
const apps = wanted.length > 0 ? wanted : all;

for (const name of apps) {
  const outfile = join(outRoot, name, 'main.js');
  rmSync(dirname(outfile), { recursive: true, force: true });
  const result = await build({
    entryPoints: [join(root, 'apps', name, 'src', 'main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    sourcemap: true,
    external: EXTERNAL,
    // ctp_build_info{version} reads npm_package_version, which `node main.js` does not set.
    define: { 'process.env.npm_package_version': JSON.stringify(version) },
    legalComments: 'linked',
    logLevel: 'warning',
    metafile: true,
  });
  // The embedded PGlite runs on a worker thread from a file beside the code that starts it
  // (libs/ledger/src/embedded.ts: join(__dirname, 'embedded_worker.cjs')), so each bundle ships it.
  cpSync(WORKER, join(dirname(outfile), 'embedded_worker.cjs'));
  const bytes = statSync(outfile).size;
  const externals = new Set(
    Object.values(result.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external && !i.path.startsWith('node:') && !builtinModules.includes(i.path)).map((i) => i.path)),
  );
  // Packages the bundle loads at run time: its installed externals (optional ones such as bufferutil
  // are not installed, and the code falls back without them), and the worker's imports when the
  // bundle can start the embedded PostgreSQL.
  const startsWorker = Object.values(result.metafile.outputs).some((o) =>
    Object.entries(o.inputs).some(([input, { bytesInOutput }]) => input.endsWith('libs/ledger/src/embedded.ts') && bytesInOutput > 0),
  );
  const workerImports = startsWorker ? [...readFileSync(WORKER, 'utf8').matchAll(/import\('([^']+)'\)/g)].map((m) => m[1]) : [];
  const runtimeKeys = new Set([...externals, ...workerImports].filter((name) => resolveLockKey(name, '')).flatMap((name) => [...withDependencies(name)]));
  for (const key of runtimeKeys) cpSync(join(root, key), join(dirname(outfile), key), { recursive: true });
  const sbom = cycloneDx({
    app: name,
    version,
    metafile: result.metafile,
    lock,
    runtimeLockKeys: [...runtimeKeys],
    baseImage,
    revision: process.env.CTP_REVISION || undefined,
    timestamp: process.env.SOURCE_DATE_EPOCH ? new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000).toISOString() : undefined,
  });
  writeFileSync(join(dirname(outfile), 'sbom.cdx.json'), `${JSON.stringify(sbom, null, 2)}\n`);
  console.log(
    `${relative(root, outfile)}  ${(bytes / 1024).toFixed(0)} KiB  external: ${[...externals].sort().join(', ') || 'none'}  shipped beside it: ${[...runtimeKeys].sort().join(', ') || 'nothing'}  SBOM: ${sbom.components.length} components`,
  );
}

const migrations = join(root, 'libs', 'ledger', 'migrations');
if (existsSync(migrations)) {
  cpSync(migrations, join(outRoot, 'migrations'), { recursive: true });
  console.log(`${relative(root, join(outRoot, 'migrations'))}/  (ledger SQL migrations)`);
}
