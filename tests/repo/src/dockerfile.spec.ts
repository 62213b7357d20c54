import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cycloneDxValidator } from '@ctp/testing';
import { read, ROOT } from './repo';

/**
 * The Dockerfile and what its runtime stage copies: the bundle directory tools/build.mjs writes for one
 * app (bundle, the packages it loads at run time, its CycloneDX SBOM) and the migrations, on a base
 * image pinned by digest, with OCI labels. tools/charts/smoke-bundles.mjs runs those directories,
 * copied away from the repository, against real servers.
 */
const text = read(join(ROOT, 'Dockerfile'));
const runtime = text.slice(text.lastIndexOf('\nFROM '));
const lock = JSON.parse(read(join(ROOT, 'package-lock.json'))) as { packages: Record<string, { version?: string; integrity?: string }> };

describe('Dockerfile', () => {
  it('pins the Node 24 base image by digest and runs only the bundle directory as a non-root user', () => {
    const pinned = /^ARG NODE_IMAGE=(node:24-bookworm-slim@sha256:[0-9a-f]{64})$/m.exec(text);
    expect(pinned).not.toBeNull();
    const froms = [...text.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const image of froms) expect(image).toBe('${NODE_IMAGE}');
    const user = [...runtime.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]!).pop();
    expect(user).toMatch(/^10001(:10001)?$/);
    expect(text).toMatch(/npm ci\b/);
    expect(text).toContain('node tools/build.mjs "${APP}"');
    const copies = [...runtime.matchAll(/^COPY (.*)$/gm)].map((m) => m[1]);
    expect(copies).toEqual(['--from=build /src/dist/apps/${APP} ./dist/app', '--from=build /src/dist/apps/migrations ./dist/migrations']);
    expect(text).not.toMatch(/--omit=dev|node_modules \.\/node_modules/);
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(runtime)![1]!) as string[];
    expect(cmd.slice(0, 1).concat(cmd.slice(2, 3))).toEqual(['node', 'dist/app/main.js']);
  });

  it('labels the image with its source, revision and version (OCI annotations)', () => {
    for (const label of ['source="${SOURCE}"', 'revision="${REVISION}"', 'version="${VERSION}"', 'base.name="${NODE_IMAGE}"']) {
      expect(runtime).toContain(`org.opencontainers.image.${label}`);
    }
    for (const arg of ['VERSION', 'REVISION', 'SOURCE', 'NODE_IMAGE']) expect(runtime).toMatch(new RegExp(`^ARG ${arg}$`, 'm'));
  });

  it('documents a build command for every app, with the port its chart uses', () => {
    // The demo partner and demo processor apps run from source (npm run demo, npm run demo:processor) and
    // have no image (tools/build.mjs skips them too).
    const apps = readdirSync(join(ROOT, 'apps')).filter((a) => existsSync(join(ROOT, 'apps', a, 'src/main.ts')) && !['demo-partner', 'demo-processor'].includes(a));
    for (const app of apps) expect(text).toMatch(new RegExp(`--build-arg APP=${app} +--build-arg PORT=\\d+`));
  });
});

describe('image contents (tools/build.mjs)', () => {
  type Component = { type: string; name: string; version: string; purl?: string; hashes?: { alg: string; content: string }[]; properties?: { name: string; value: string }[] };
  let sbom: { bomFormat: string; specVersion: string; metadata: { component: { name: string } }; components: Component[] };

  beforeAll(() => {
    execFileSync(process.execPath, [join(ROOT, 'tools/build.mjs'), 'ctp'], { cwd: ROOT, env: { ...process.env, CTP_REVISION: 'test-revision' }, stdio: 'pipe', timeout: 120_000 });
    sbom = JSON.parse(read(join(ROOT, 'dist/apps/ctp/sbom.cdx.json')));
  }, 150_000);

  it('ships beside the bundle only the packages it loads at run time', () => {
    const shipped = readdirSync(join(ROOT, 'dist/apps/ctp/node_modules/@electric-sql'));
    expect(shipped.sort()).toEqual(['pglite', 'pglite-socket']);
    expect(existsSync(join(ROOT, 'dist/apps/ctp/node_modules/express'))).toBe(false);
  });

  it('writes a CycloneDX 1.6 SBOM that validates against the CycloneDX schema', () => {
    expect(cycloneDxValidator(ROOT)(sbom)).toEqual({ valid: true, errors: [] });
    expect(sbom).toMatchObject({ bomFormat: 'CycloneDX', specVersion: '1.6', metadata: { component: { name: 'ctp-ctp' } } });
  });

  it('lists every bundled and shipped package at its locked version and integrity, the base image by digest, and no dev tool', () => {
    const byName = new Map(sbom.components.map((c) => [c.name, c]));
    for (const [name, delivery] of [['express', 'bundled'], ['zod', 'bundled'], ['ioredis', 'bundled'], ['postgres', 'bundled'], ['@electric-sql/pglite', 'node_modules']] as const) {
      const component = byName.get(name)!;
      const locked = lock.packages[`node_modules/${name}`]!;
      expect([name, component.version, component.purl]).toEqual([name, locked.version, `pkg:npm/${name.replace('@', '%40')}@${locked.version}`]);
      expect(component.hashes).toEqual([{ alg: 'SHA-512', content: Buffer.from(locked.integrity!.replace('sha512-', ''), 'base64').toString('hex') }]);
      expect(component.properties).toEqual([{ name: 'ctp:delivery', value: delivery }]);
    }
    for (const devTool of ['jest', 'esbuild', 'nx', 'typescript', 'tsx', 'eslint']) expect([devTool, byName.has(devTool)]).toEqual([devTool, false]);
    const base = sbom.components.find((c) => c.type === 'container')!;
    expect(`${base.name}@${base.version}`).toBe(/^ARG NODE_IMAGE=(\S+)$/m.exec(text)![1]);
  });
});
