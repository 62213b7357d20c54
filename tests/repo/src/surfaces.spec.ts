import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { read, ROOT } from './repo';

/**
 * Each library's public surface is explicit (issue 11): its package.json `exports` names the entry
 * points, `src/index.ts` names every export, and helpers only tests use sit behind the `./internal`
 * subpath (`src/internal.ts`), which nothing but specs, fault suites and test support imports.
 */
const LIBS = readdirSync(join(ROOT, 'libs')).filter((name) => existsSync(join(ROOT, 'libs', name, 'package.json')));
const isTestFile = (file: string) =>
  /\.(spec|fault)\.ts$/.test(file) || file.startsWith('libs/testing/') || file.startsWith('tests/') || file === 'apps/demo-partner/src/harness.ts';

describe('library surfaces', () => {
  it.each(LIBS)('libs/%s has an exports map naming src/index.ts, and ./internal exactly when src/internal.ts exists', (lib) => {
    const pkg = JSON.parse(read(join(ROOT, 'libs', lib, 'package.json'))) as { exports?: Record<string, string> };
    expect(pkg.exports?.['.']).toBe('./src/index.ts');
    const internal = existsSync(join(ROOT, 'libs', lib, 'src', 'internal.ts'));
    expect(pkg.exports?.['./internal']).toBe(internal ? './src/internal.ts' : undefined);
    for (const entry of ['index.ts', 'internal.ts']) {
      const file = join(ROOT, 'libs', lib, 'src', entry);
      if (existsSync(file)) expect([entry, /^\s*export\s*\*/m.test(read(file))]).toEqual([entry, false]);
    }
  });

  it('only specs, fault suites and test support import a ./internal subpath', () => {
    const hits = execFileSync('git', ['grep', '-lE', `['"]@ctp/[a-z-]+/internal['"]`, '--', 'apps', 'libs', 'tests', 'tools'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter((f) => f !== '');
    expect(hits.length).toBeGreaterThan(0);
    expect(hits.filter((f) => !isTestFile(f))).toEqual([]);
  });
});
