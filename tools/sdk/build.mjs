#!/usr/bin/env node
// Builds the publishable @ctp/sdk package into dist/sdk/ (and, with --pack, dist/ctp-sdk-<version>.tgz):
//   esm/index.mjs, esm/express.mjs      ES modules (Node >= 20.19)
//   cjs/index.cjs, cjs/express.cjs      CommonJS
//   browser/ctp-consent.mjs             the <ctp-consent> custom element, one ES module, no dependencies
//   types/                              declarations (tsc), ctp-core's included
//   package.json                        the exports map, dependencies (jose, and what ctp-core needs)
// ctp-core is not published: its code is bundled into the SDK, and its declarations ship in types/ctp-core
// with the SDK's imports of it rewritten to relative paths. The express entry imports the main entry
// (kept external), so both share one copy of it. Nothing else of the workspace may be imported
// (eslint.config.mjs enforces it); the pack test (libs/sdk/src/package.spec.ts) installs the tarball
// outside the workspace and runs the guide's samples there.
//
//   node tools/sdk/build.mjs [--pack]          (npm run build:sdk [-- --pack])
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const src = join(root, 'libs/sdk/src');
const out = join(root, 'dist/sdk');
const rootPackage = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const sdkPackage = JSON.parse(readFileSync(join(root, 'libs/sdk/package.json'), 'utf8'));
/** Runtime dependencies: jose, and what ctp-core imports. */
const DEPENDENCIES = ['jose', 'zod', 'canonicalize'];
const PEERS = { 'prom-client': rootPackage.dependencies['prom-client'] };

rmSync(out, { recursive: true, force: true });

const mainEntryExternal = (extension) => ({
  name: 'main-entry-external',
  setup(b) {
    b.onResolve({ filter: /^\.\/index$/ }, (args) => (args.importer.endsWith('express.ts') ? { path: `./index.${extension}`, external: true } : undefined));
  },
});
const node = { bundle: true, platform: 'node', target: 'node20', external: [...DEPENDENCIES, 'prom-client'], logLevel: 'warning', legalComments: 'none', sourcemap: false };
for (const [format, extension] of [['esm', 'mjs'], ['cjs', 'cjs']]) {
  for (const entry of ['index', 'express']) {
    await build({ ...node, entryPoints: [join(src, `${entry}.ts`)], outfile: join(out, format, `${entry}.${extension}`), format, plugins: [mainEntryExternal(extension)] });
  }
}
await build({ entryPoints: [join(src, 'element/ctp_consent.ts')], outfile: join(out, 'browser/ctp-consent.mjs'), bundle: true, format: 'esm', platform: 'browser', target: 'es2022', logLevel: 'warning' });

// Declarations: ctp-core resolved to its sources, emitted beside the SDK's, then referenced relatively.
const typesDir = join(out, 'types');
const tsconfig = (name, files, lib, types) => {
  const path = join(out, `${name}.tsconfig.json`);
  writeFileSync(path, JSON.stringify({
    extends: join(root, 'tsconfig.base.json'),
    compilerOptions: { declaration: true, emitDeclarationOnly: true, noEmit: false, sourceMap: false, rootDir: join(root, 'libs'), outDir: typesDir, lib, types, paths: { '@ctp/ctp-core': [join(root, 'libs/ctp-core/src/index.ts')] } },
    files,
  }));
  return path;
};
const tsc = join(root, 'node_modules/typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', tsconfig('node', [join(src, 'index.ts'), join(src, 'express.ts')], ['ES2023'], ['node'])], { stdio: 'inherit' });
execFileSync(process.execPath, [tsc, '-p', tsconfig('element', [join(src, 'element/ctp_consent.ts')], ['ES2023', 'DOM', 'DOM.Iterable'], [])], { stdio: 'inherit' });
for (const name of ['node', 'element']) rmSync(join(out, `${name}.tsconfig.json`));
const walk = (dir) => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [join(dir, f)]));
for (const file of walk(join(typesDir, 'sdk'))) {
  const core = relative(dirname(file), join(typesDir, 'ctp-core/src/index')).replace(/^(?!\.)/, './');
  writeFileSync(file, readFileSync(file, 'utf8').replaceAll(`'@ctp/ctp-core'`, `'${core}'`).replaceAll(`"@ctp/ctp-core"`, `"${core}"`));
}

const types = (entry) => `./types/sdk/src/${entry}.d.ts`;
writeFileSync(
  join(out, 'package.json'),
  `${JSON.stringify(
    {
      name: sdkPackage.name,
      version: sdkPackage.version,
      description: sdkPackage.description,
      license: sdkPackage.license,
      engines: { node: '>=20.19' },
      main: './cjs/index.cjs',
      module: './esm/index.mjs',
      types: types('index'),
      exports: {
        '.': { types: types('index'), import: './esm/index.mjs', require: './cjs/index.cjs' },
        './express': { types: types('express'), import: './esm/express.mjs', require: './cjs/express.cjs' },
        './consent-element': { types: types('element/ctp_consent'), default: './browser/ctp-consent.mjs' },
        './package.json': './package.json',
      },
      sideEffects: ['./browser/ctp-consent.mjs'],
      files: ['esm', 'cjs', 'browser', 'types', 'README.md'],
      dependencies: Object.fromEntries(DEPENDENCIES.map((d) => [d, rootPackage.dependencies[d]])),
      peerDependencies: PEERS,
      peerDependenciesMeta: { 'prom-client': { optional: true } },
    },
    null,
    2,
  )}\n`,
);
cpSync(join(root, 'libs/sdk/README.md'), join(out, 'README.md'));

if (process.argv.includes('--pack')) {
  const [info] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', join(root, 'dist')], { cwd: out, encoding: 'utf8' }));
  console.log(join(root, 'dist', info.filename));
} else {
  console.log(out);
}
