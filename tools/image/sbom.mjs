// CycloneDX 1.6 SBOM of one image build, without a container engine: the image holds the esbuild
// bundle of one app, the few packages that stay outside it (copied next to it) and the base image, so
// the bundle's esbuild metafile (which files went into the bundle) plus package-lock.json (name,
// version, licence, integrity of each package) say exactly what ships.
import { createHash } from 'node:crypto';

/** The package a bundled file belongs to: the innermost node_modules/<name> (or @scope/name) in its path. */
export function packageOf(inputPath) {
  const match = /^(.*node_modules\/((?:@[^/]+\/)?[^/]+))\//.exec(inputPath.replace(/\\/g, '/'));
  return match ? { lockKey: match[1].replace(/^(\.\.\/)+/, ''), name: match[2] } : undefined;
}

const purl = (name, version) => `pkg:npm/${name.startsWith('@') ? `%40${name.slice(1)}` : name}@${version}`;

/** sha512-<base64> (package-lock integrity) -> a CycloneDX hash. */
function hashes(integrity) {
  const match = /^sha512-(.+)$/.exec(integrity ?? '');
  return match ? [{ alg: 'SHA-512', content: Buffer.from(match[1], 'base64').toString('hex') }] : [];
}

function component(lock, lockKey, name) {
  const entry = lock.packages[lockKey];
  if (!entry?.version) throw new Error(`package-lock.json has no version for ${lockKey}`);
  return {
    type: 'library',
    'bom-ref': purl(name, entry.version),
    name,
    version: entry.version,
    scope: 'required',
    purl: purl(name, entry.version),
    ...(entry.license ? { licenses: [{ expression: entry.license }] } : {}),
    hashes: hashes(entry.integrity),
  };
}

/**
 * @param {object} o
 * @param {string} o.app              the app (apps/<app>), the image ctp-<app>
 * @param {string} o.version          the release version
 * @param {object} o.metafile         esbuild metafile of the bundle
 * @param {object} o.lock             parsed package-lock.json
 * @param {string[]} o.runtimeLockKeys lock keys (node_modules/...) copied beside the bundle, dependencies included
 * @param {string} o.baseImage        the base image reference, pinned by digest
 * @param {string} [o.revision]       the source revision (git commit)
 * @param {string} [o.timestamp]      RFC 3339 build time (SOURCE_DATE_EPOCH keeps builds reproducible)
 */
export function cycloneDx({ app, version, metafile, lock, runtimeLockKeys, baseImage, revision, timestamp }) {
  const bundled = new Map();
  for (const input of Object.keys(metafile.inputs)) {
    const pkg = packageOf(input);
    if (pkg && !bundled.has(pkg.lockKey)) bundled.set(pkg.lockKey, pkg.name);
  }
  const components = [];
  for (const [lockKey, name] of [...bundled].sort(([a], [b]) => a.localeCompare(b))) {
    components.push({ ...component(lock, lockKey, name), properties: [{ name: 'ctp:delivery', value: 'bundled' }] });
  }
  for (const lockKey of [...runtimeLockKeys].sort()) {
    if (bundled.has(lockKey)) continue;
    const name = lockKey.replace(/^.*node_modules\//, '');
    components.push({ ...component(lock, lockKey, name), properties: [{ name: 'ctp:delivery', value: 'node_modules' }] });
  }
  // One component per package version: nested copies of the same version are the same component.
  const unique = [...new Map(components.map((c) => [c['bom-ref'], c])).values()];
  components.length = 0;
  components.push(...unique);
  const [imageName, digest] = baseImage.split('@');
  components.push({
    type: 'container',
    'bom-ref': `base-image:${baseImage}`,
    name: imageName,
    version: digest ?? 'unpinned',
    description: 'base image of the runtime stage (Debian bookworm, Node.js 24)',
  });
  const serial = createHash('sha256').update(`${app}@${version}:${revision ?? ''}:${components.map((c) => c['bom-ref']).join(',')}`).digest('hex');
  return {
    $schema: 'http://cyclonedx.org/schema/bom-1.6.schema.json',
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: `urn:uuid:${serial.slice(0, 8)}-${serial.slice(8, 12)}-5${serial.slice(13, 16)}-8${serial.slice(17, 20)}-${serial.slice(20, 32)}`,
    version: 1,
    metadata: {
      ...(timestamp ? { timestamp } : {}),
      tools: { components: [{ type: 'application', name: 'ctp tools/build.mjs', version }] },
      component: {
        type: 'container',
        'bom-ref': `ctp-${app}@${version}`,
        name: `ctp-${app}`,
        version,
        ...(revision ? { properties: [{ name: 'org.opencontainers.image.revision', value: revision }] } : {}),
      },
    },
    components,
    dependencies: [{ ref: `ctp-${app}@${version}`, dependsOn: components.map((c) => c['bom-ref']) }],
  };
}
