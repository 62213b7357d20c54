import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { read, ROOT } from './repo';

describe('Dockerfile', () => {
  const text = read(join(ROOT, 'Dockerfile'));
  const runtime = text.slice(text.lastIndexOf('\nFROM '));

  it('builds on Node 24 and runs the bundle as a non-root user, without sources', () => {
    const froms = [...text.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const image of froms) expect(image).toBe('node:24-bookworm-slim');
    const user = [...runtime.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]!).pop();
    expect(user).toMatch(/^10001(:10001)?$/);
    expect(text).toMatch(/npm ci\b/);
    expect(text).toMatch(/npm ci --omit=dev/);
    expect(text).toContain('node tools/build.mjs "${APP}"');
    expect(runtime).not.toMatch(/^COPY (apps|libs)\//m);
    expect(runtime).toContain('COPY --from=build /src/dist/apps/${APP} ./dist/app');
    expect(runtime).toContain('COPY --from=build /src/dist/apps/migrations ./dist/migrations');
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(runtime)![1]!) as string[];
    expect(cmd.slice(0, 1).concat(cmd.slice(2, 3))).toEqual(['node', 'dist/app/main.js']);
  });

  it('documents a build command for every app, with the port its chart uses', () => {
    const apps = readdirSync(join(ROOT, 'apps')).filter((a) => existsSync(join(ROOT, 'apps', a, 'src/main.ts')));
    for (const app of apps) expect(text).toMatch(new RegExp(`--build-arg APP=${app} +--build-arg PORT=\\d+`));
  });
});

