import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, REPO_ROOT, startService, type ServiceProcess } from '@ctp/testing';

/**
 * The SDK as a partner gets it: `npm pack` of the built package (tools/sdk/build.mjs), installed
 * from the tarball into an empty project in the system temp directory (no workspace, no path
 * mappings; jose, zod, canonicalize, express and prom-client from the npm registry), then every
 * code sample of docs/integration-guide.md run there against a real `ctp up`: JavaScript samples
 * as ES modules of that project, shell samples in one bash session in order, as a newcomer pastes
 * them. `<!-- sample: ... -->` lines before a block: `expect "<JSON string>"` (stdout contains it),
 * `background "<text>"` (a server: started, ready when it prints the text, stopped at the end),
 * `covered-by <spec>` (run by that test instead, e.g. the browser tests).
 */
const GUIDE = join(REPO_ROOT, 'docs/integration-guide.md');
const NODE = process.execPath;

interface Sample {
  lang: string;
  code: string;
  line: number;
  expect: string[];
  background?: string;
  coveredBy?: string;
}

function guideSamples(): Sample[] {
  const lines = readFileSync(GUIDE, 'utf8').split('\n');
  const samples: Sample[] = [];
  let pending: Omit<Sample, 'lang' | 'code' | 'line'> = { expect: [] };
  for (let i = 0; i < lines.length; i++) {
    const directive = /^<!-- sample: (expect|background|covered-by) (.+) -->$/.exec(lines[i]!);
    if (directive) {
      const [, kind, arg] = directive as unknown as [string, string, string];
      if (kind === 'expect') pending.expect.push(JSON.parse(arg) as string);
      else if (kind === 'background') pending.background = JSON.parse(arg) as string;
      else pending.coveredBy = arg;
      continue;
    }
    const fence = /^```(\w*)$/.exec(lines[i]!);
    if (!fence) {
      if (lines[i]!.trim() !== '') pending = { expect: [] };
      continue;
    }
    const start = i;
    const body: string[] = [];
    while (lines[++i] !== '```') {
      if (i >= lines.length) throw new Error(`unclosed code block at line ${start + 1}`);
      body.push(lines[i]!);
    }
    samples.push({ lang: fence[1]!, code: `${body.join('\n')}\n`, line: start + 1, ...pending });
    pending = { expect: [] };
  }
  return samples;
}

/** One bash process for every shell sample, so variables carry over as in a terminal. */
class BashSession {
  private readonly child: ChildProcess;
  private out = '';
  private err = '';
  private n = 0;

  constructor(cwd: string, env: NodeJS.ProcessEnv) {
    this.child = spawn('bash', ['--noprofile', '--norc'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.err += d.toString()));
  }

  async run(code: string, timeoutMs = 60_000): Promise<{ status: number; stdout: string; stderr: string }> {
    const marker = `__ctp_sample_${++this.n}__`;
    this.out = '';
    this.err = '';
    this.child.stdin!.write(`${code}\necho "${marker} $?"\n`);
    const deadline = Date.now() + timeoutMs;
    let end: RegExpExecArray | null;
    while (!(end = new RegExp(`${marker} (\\d+)\\n`).exec(this.out))) {
      if (Date.now() > deadline || this.child.exitCode !== null) throw new Error(`shell sample did not finish: ${this.out}\n${this.err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return { status: Number(end[1]), stdout: this.out.slice(0, end.index), stderr: this.err };
  }

  close(): void {
    this.child.kill('SIGKILL');
  }
}

describe('the packed SDK outside the workspace, and every sample of the integration guide against ctp up', () => {
  let scratch: string;
  let tarball: string;
  let ctp: ServiceProcess;
  let env: NodeJS.ProcessEnv;
  const servers: ChildProcess[] = [];

  beforeAll(async () => {
    tarball = execFileSync(NODE, ['tools/sdk/build.mjs', '--pack'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim().split('\n').pop()!;
    scratch = mkdtempSync(join(tmpdir(), 'ctp-sdk-consumer-'));
    writeFileSync(join(scratch, 'package.json'), JSON.stringify({ name: 'partner-app', version: '1.0.0', private: true }));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const started = startService(['apps/ctp/bin/ctp.js', 'up'], { CTP_PORT: String(port), CTP_ISSUER: url, CTP_DATA_DIR: join(scratch, 'ctp-data') }, { readyTimeoutMs: 60_000 });
    execFileSync('npm', ['install', tarball, 'express', 'prom-client', '@types/node@24', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: scratch, stdio: 'pipe' });
    ctp = await started;
    env = { ...process.env, CTP_URL: url, CTP_ISSUER: url, CTP_SDK_TARBALL: tarball, PORT: String(await freePort()) };
    delete env.CTP_API_KEY;
    // Output is compared as text: no colours (nx sets FORCE_COLOR for the processes it runs).
    delete env.FORCE_COLOR;
    env.NO_COLOR = '1';
  }, 240_000);

  afterAll(async () => {
    for (const server of servers) server.kill('SIGTERM');
    await ctp?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const node = (args: string[]) => execFileSync(NODE, args, { cwd: scratch, env, encoding: 'utf8', timeout: 30_000 });

  it('holds built files only, depends on jose, zod and canonicalize, and loads as CommonJS and ES module', () => {
    const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).trim().split('\n');
    expect(files.filter((f) => /\.(ts|tsx)$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files).toEqual(expect.arrayContaining(['package/esm/index.mjs', 'package/cjs/index.cjs', 'package/esm/express.mjs', 'package/cjs/express.cjs', 'package/browser/ctp-consent.mjs', 'package/types/sdk/src/index.d.ts']));
    const installed = JSON.parse(readFileSync(join(scratch, 'node_modules/@ctp/sdk/package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(installed.dependencies).sort()).toEqual(['canonicalize', 'jose', 'zod']);
    for (const file of ['esm/index.mjs', 'cjs/index.cjs', 'esm/express.mjs', 'cjs/express.cjs', 'browser/ctp-consent.mjs']) {
      const code = readFileSync(join(scratch, 'node_modules/@ctp/sdk', file), 'utf8');
      expect([file, /(from|require\()\s*["']@ctp\//.test(code)]).toEqual([file, false]);
    }
    expect(node(['-e', "const s = require('@ctp/sdk'); const e = require('@ctp/sdk/express'); console.log(typeof s.CtpClient, typeof s.createLocalValidator, typeof e.requireConsent, s.contextHash({channel:'voice',features:['tone','sentiment'],processor:'svc://cx-ai/v1',purpose:'customer_retention',retention:'session_only',jurisdiction:'US-KY',ui_copy_id:'consent-modal-2025-11-01#en-US'}))"]).trim()).toBe(
      'function function function 090e612392f84f6d9ac266a59f595eef3f9e3d2c1bb992a989e8e658301d370f',
    );
    expect(node(['--input-type=module', '-e', "import { CtpClient, TokenCache } from '@ctp/sdk'; import { requireConsent } from '@ctp/sdk/express'; console.log(typeof CtpClient, typeof TokenCache, typeof requireConsent)"]).trim()).toBe('function function function');
  });

  it('type-checks a consumer against the published declarations (strict, nodenext)', () => {
    writeFileSync(
      join(scratch, 'consumer.mts'),
      `import { CtpApiError, CtpClient, createLocalValidator, type IntrospectionResult } from '@ctp/sdk';
import { requireConsent, type ConsentRequest } from '@ctp/sdk/express';
const ctp = new CtpClient({ baseUrl: 'http://127.0.0.1:8000' });
const validator = createLocalValidator({ baseUrl: 'http://127.0.0.1:8000' });
export const guard = requireConsent({ purpose: 'p', features: ['tone'], envelope: { channel: 'voice', processor: 'svc://x/v1', retention: 'r', jurisdiction: 'DE', ui_copy_id: 'c' }, validator });
export async function check(token: string, req: ConsentRequest): Promise<IntrospectionResult['reason']> {
  try {
    return (await ctp.introspect(token, { ts: '2025-11-09T20:17:00Z', channel: 'voice', features: ['tone'], processor: 'svc://x/v1', purpose: 'p', retention: 'r', jurisdiction: 'DE', ui_copy_id: 'c' })).reason ?? req.consent?.reason ?? null;
  } catch (e) {
    if (e instanceof CtpApiError && e.code === 'rate_limited') return null;
    throw e;
  }
}
`,
    );
    writeFileSync(join(scratch, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, types: ['node'], skipLibCheck: false }, files: ['consumer.mts'] }));
    const tsc = join(REPO_ROOT, 'node_modules/typescript/bin/tsc');
    expect(() => execFileSync(NODE, [tsc, '-p', join(scratch, 'tsconfig.json')], { cwd: scratch, encoding: 'utf8' })).not.toThrow();
  });

  it('runs every sample of docs/integration-guide.md', async () => {
    const samples = guideSamples();
    expect(samples.filter((s) => s.lang === 'js').length).toBeGreaterThanOrEqual(5);
    expect(samples.filter((s) => s.lang === 'bash' && !s.coveredBy).length).toBeGreaterThanOrEqual(8);
    const bash = new BashSession(scratch, env);
    const report: string[] = [];
    try {
      for (const sample of samples) {
        const where = `docs/integration-guide.md:${sample.line} (${sample.lang})`;
        if (sample.coveredBy) {
          expect([where, existsSync(join(REPO_ROOT, sample.coveredBy))]).toEqual([where, true]);
          continue;
        }
        let stdout: string;
        if (sample.lang === 'bash') {
          const result = await bash.run(sample.code);
          expect([where, result.status, result.stderr]).toEqual([where, 0, expect.any(String)]);
          stdout = result.stdout;
        } else if (sample.lang === 'js') {
          const file = join(scratch, `sample-${sample.line}.mjs`);
          writeFileSync(file, sample.code);
          if (sample.background) {
            stdout = await startBackground(file, sample.background);
          } else {
            try {
              stdout = node([file]);
            } catch (error) {
              throw new Error(`${where} failed: ${(error as { stderr?: string }).stderr ?? (error as Error).message}`);
            }
          }
        } else if (sample.lang === 'json') {
          expect(() => JSON.parse(sample.code)).not.toThrow();
          continue;
        } else {
          expect([where, ['text'].includes(sample.lang)]).toEqual([where, true]);
          continue;
        }
        for (const text of sample.expect) expect([where, text, stdout.includes(text) ? 'printed' : stdout]).toEqual([where, text, 'printed']);
        for (const line of stdout.split('\n').filter((l) => l.startsWith('{"type":"urn:ctp:problem'))) {
          expect([where, 'unexpected problem', sample.expect.some((t) => line.includes(t)) ? '' : line]).toEqual([where, 'unexpected problem', '']);
        }
        report.push(`${where}: ok`);
      }
    } finally {
      bash.close();
    }
    console.log(report.join('\n'));
  }, 240_000);

  async function startBackground(file: string, ready: string): Promise<string> {
    const child = spawn(NODE, [file], { cwd: scratch, env, stdio: ['ignore', 'pipe', 'pipe'] });
    servers.push(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 20_000;
    while (!out.includes(ready)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${file} never printed ${ready}: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return out;
  }
});
