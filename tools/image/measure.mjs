#!/usr/bin/env node
// Measures what the runtime stage of the Dockerfile copies into each image, before and after the
// runtime stopped copying the production dependency tree (no container engine needed):
//   before: node_modules of `npm ci --omit=dev` (every package-lock entry that is not dev-only, less
//           the workspace links and .bin the old Dockerfile removed), plus dist/apps/<app> without the
//           packages now shipped beside the bundle, plus dist/apps/migrations
//   after:  dist/apps/<app> (bundle, source map, shipped packages, SBOM) plus dist/apps/migrations
// Run `node tools/build.mjs` first. Prints a table; --json prints the numbers.
//
//   node tools/image/measure.mjs [--json]
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = join(root, 'dist', 'apps');
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));

/** Bytes of the files under a path, not following links, skipping directories named in `skip`. */
function bytes(path, skip = new Set()) {
  const stat = lstatSync(path);
  if (!stat.isDirectory()) return stat.isFile() ? stat.size : 0;
  let total = 0;
  for (const entry of readdirSync(path)) if (!skip.has(entry)) total += bytes(join(path, entry), skip);
  return total;
}

// Each package directory counted without its nested node_modules (those are lock entries of their own).
const production = Object.entries(lock.packages).filter(([key, entry]) => key.startsWith('node_modules/') && !entry.dev && !entry.devOptional && !entry.link && !key.startsWith('node_modules/@ctp/'));
let productionBytes = 0;
let productionCount = 0;
for (const [key] of production) {
  if (!existsSync(join(root, key))) continue; // optional packages not installed on this platform
  productionBytes += bytes(join(root, key), new Set(['node_modules']));
  productionCount++;
}
const migrations = bytes(join(dist, 'migrations'));
const apps = readdirSync(dist).filter((name) => existsSync(join(dist, name, 'main.js')));
if (apps.length === 0) {
  console.error('measure: no bundles in dist/apps; run node tools/build.mjs first');
  process.exit(1);
}
const rows = apps.map((app) => {
  const after = bytes(join(dist, app)) + migrations;
  const bundleOnly = bytes(join(dist, app), new Set(['node_modules', 'sbom.cdx.json'])) + migrations;
  return { app, before: productionBytes + bundleOnly, after };
});
const mib = (n) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ productionPackages: productionCount, productionBytes, images: rows }));
} else {
  console.log(`production dependency tree (npm ci --omit=dev): ${productionCount} packages, ${mib(productionBytes)}`);
  console.log('image      before (tree + bundle)   after (bundle dir only)');
  for (const r of rows) console.log(`${r.app.padEnd(24)} ${mib(r.before).padStart(10)}   ${mib(r.after).padStart(10)}   (-${(100 - (100 * r.after) / r.before).toFixed(0)}%)`);
}
