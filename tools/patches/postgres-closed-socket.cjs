// postinstall: guards postgres.js (3.4.x) against writing to a connection that has closed.
//
// postgres.js nulls a connection's socket when it closes and reconnects later; a write
// reaching it in between (a small write flushed from setImmediate, or any write on a
// reserved or transaction connection whose backend went away) calls `null.write` from a
// timer: an uncaught TypeError that ends the process (porsager/postgres#1066, #1154, #1208;
// the fix below is the one proposed in #1209, not released as of 3.4.10). A PostgreSQL
// restart under a running ledger writer hit it (nothing_lost.spec). With the guard the
// queries waiting on that connection fail with CONNECTION_CLOSED, which callers handle.
//
// Idempotent; fails the install if postgres.js changed shape, so an upgrade is looked at.
const { existsSync, readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const MARK = 'ctp patch: closed socket';
const ORIGINAL = '  function nextWrite(fn) {\n    const x = socket.write(chunk, fn)\n';
const PATCHED = `  function nextWrite(fn) {
    if (socket === null) { // ${MARK} (porsager/postgres#1208)
      nextWriteTimer !== null && clearImmediate(nextWriteTimer)
      chunk = nextWriteTimer = null
      error(Errors.connection('CONNECTION_CLOSED', options, socket))
      return false
    }
    const x = socket.write(chunk, fn)
`;

// postgres.js's exports map hides package.json from require.resolve: the hoisted copy, by path.
const root = join(__dirname, '..', '..', 'node_modules', 'postgres');
if (!existsSync(join(root, 'package.json'))) process.exit(0);
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
if (!version.startsWith('3.4.')) throw new Error(`tools/patches/postgres-closed-socket.cjs: written for postgres 3.4.x, found ${version}; check whether #1208 is fixed and drop or adapt the patch`);
for (const file of ['cjs/src/connection.js', 'src/connection.js', 'cf/src/connection.js'].map((f) => join(root, f))) {
  if (!existsSync(file)) continue;
  const text = readFileSync(file, 'utf8');
  if (text.includes(MARK)) continue;
  if (!text.includes(ORIGINAL)) throw new Error(`tools/patches/postgres-closed-socket.cjs: nextWrite not found in ${file}`);
  writeFileSync(file, text.replace(ORIGINAL, PATCHED));
}
