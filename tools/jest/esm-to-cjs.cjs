// Jest transformer for the few ESM-only packages the tests load (pkijs, asn1js and
// their dependencies, @noble/post-quantum): Jest runs CommonJS here, and its native
// require(esm) needs --experimental-vm-modules, so these files are compiled to CJS
// with esbuild (already a dev dependency). Node itself loads them natively.
const { createHash } = require('node:crypto');
const { transformSync } = require('esbuild');

module.exports = {
  getCacheKey(source, path) {
    return createHash('sha256').update('esm-to-cjs/1\0').update(path).update('\0').update(source).digest('hex');
  },
  process(source, path) {
    const { code, map } = transformSync(source, { loader: 'js', format: 'cjs', target: 'node24', sourcefile: path, sourcemap: 'external' });
    return { code, map };
  },
};
