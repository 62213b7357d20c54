import { run } from './cli';

// A require, so that esbuild inlines the version into the bundle (apps/ctp/package.json follows the release).
const { version } = require('../package.json') as { version: string };

run(process.argv.slice(2), version).then(({ code, serving }) => {
  if (!serving) process.exit(code);
});
