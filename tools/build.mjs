#!/usr/bin/env node
// Bundles every app (apps/<name>/src/main.ts) into dist/apps/<name>/main.js with esbuild,
// so container images run plain `node dist/apps/<name>/main.js` without tsx or the sources.
//
//   node tools/build.mjs            # every app
//   node tools/build.mjs issuer ctp # only these
//
// What stays outside the bundle, and why:
//   @electric-sql/pglite, @electric-sql/pglite-socket: load their .wasm/.data assets relative to
//     their own module file, so they must be required from node_modules (production dependency).
//   bufferutil, utf-8-validate: optional native add-ons of `ws`, not installed; ws falls back to JS.
//   pino-pretty: optional pretty-printer of pino, never used in production.
// libs/ledger reads its SQL migrations from `join(__dirname, '..', 'migrations')`; inside a bundle
// __dirname is dist/apps/<name>, so they are copied to dist/apps/migrations.
import { build } from 'esbuild';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outRoot = join(root, 'dist', 'apps');
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;

export const EXTERNAL = ['@electric-sql/pglite', '@electric-sql/pglite-socket', 'bufferutil', 'utf-8-validate', 'pino-pretty'];

// The demo partner app runs from source (`npm run demo`, it bundles the consent element at start); it is no image.
const NOT_IMAGES = ['demo-partner'];
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
  cpSync(join(root, 'libs', 'ledger', 'src', 'embedded_worker.cjs'), join(dirname(outfile), 'embedded_worker.cjs'));
  const bytes = statSync(outfile).size;
  const externals = new Set(
    Object.values(result.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external && !i.path.startsWith('node:') && !builtinModules.includes(i.path)).map((i) => i.path)),
  );
  console.log(`${relative(root, outfile)}  ${(bytes / 1024).toFixed(0)} KiB  external: ${[...externals].sort().join(', ') || 'none'}`);
}

const migrations = join(root, 'libs', 'ledger', 'migrations');
if (existsSync(migrations)) {
  cpSync(migrations, join(outRoot, 'migrations'), { recursive: true });
  console.log(`${relative(root, join(outRoot, 'migrations'))}/  (ledger SQL migrations)`);
}
