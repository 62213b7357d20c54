#!/usr/bin/env node
'use strict';
// Runs the TypeScript sources through tsx on the Node.js LTS the repository pins
// (npm scripts and npx put node_modules/.bin/node first on PATH).
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(`ctp needs Node.js 24 (found ${process.version}); run it through npm (npm start, npx ctp) so the pinned Node is used.`);
  process.exit(1);
}
require('tsx/cjs');
require('../src/main.ts');
