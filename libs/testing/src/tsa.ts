import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const openssl = (args: string[], cwd: string) => run('openssl', args, { cwd, timeout: 15_000 });

/** A root CA made with openssl: signs TSA certificates (for the "wrong root" cases too). */
export interface TestCa {
  dir: string;
  rootPem: string;
}

export async function createTestCa(name = 'CTP Test TSA Root'): Promise<TestCa> {
  const dir = mkdtempSync(join(tmpdir(), 'ctp-tsa-'));
  await openssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'root.key', '-out', 'root.pem', '-subj', `/CN=${name}`, '-days', '3650',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-addext', 'subjectKeyIdentifier=hash'],
    dir,
  );
  return { dir, rootPem: readFileSync(join(dir, 'root.pem'), 'utf8') };
}

export interface TestTsaOptions {
  /** The CA that issues the TSA certificate (a new one by default). */
  ca?: TestCa;
  /**
   * `critical` (default): extendedKeyUsage=critical,timeStamping, as RFC 3161 requires.
   * `non-critical`: the same usage, not marked critical. `openssl ts -reply` refuses to
   * sign with such a certificate, so this TSA gets the TSTInfo from `openssl ts -reply`
   * under a correct certificate and re-signs it with `openssl cms -sign` under the faulty one.
   */
  eku?: 'critical' | 'non-critical';
  /** Port to listen on (default: any free port). */
  port?: number;
}

export interface TestTsa {
  url: string;
  port: number;
  ca: TestCa;
  /** Requests answered so far. */
  requests: number;
  close(): Promise<void>;
}

const TS_CONFIG = (dir: string) => `[ tsa ]
default_tsa = tsa_config1
[ tsa_config1 ]
serial = ${dir}/serial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.3.6.1.4.1.55555.1.1
other_policies = 1.3.6.1.4.1.55555.1.2
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
`;

async function issueTsaCert(ca: TestCa, dir: string, name: string, critical: boolean): Promise<void> {
  writeFileSync(
    join(dir, `${name}.ext`),
    `[v3]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=${critical ? 'critical,' : ''}timeStamping\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n`,
  );
  await openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=CTP Test TSA ${name}`], dir);
  const serial = `0x${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
  await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', join(ca.dir, 'root.pem'), '-CAkey', join(ca.dir, 'root.key'), '-set_serial', serial, '-days', '365', '-out', `${name}.pem`, '-extfile', `${name}.ext`, '-extensions', 'v3'], dir);
}

/** DER TimeStampResp { status { granted }, token }. */
function grantedResponse(token: Buffer): Buffer {
  const status = Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00]);
  const body = Buffer.concat([status, token]);
  return Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
}
function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/**
 * A real RFC 3161 time-stamping authority for tests: a certificate issued by a test
 * root, and an HTTP server that answers each POSTed application/timestamp-query by
 * running `openssl ts -reply` (with the root in the token's certificate chain).
 */
export async function startTestTsa(options: TestTsaOptions = {}): Promise<TestTsa> {
  const ca = options.ca ?? (await createTestCa());
  const dir = mkdtempSync(join(tmpdir(), 'ctp-tsa-'));
  writeFileSync(join(dir, 'serial'), '01\n');
  writeFileSync(join(dir, 'ts.cnf'), TS_CONFIG(dir));
  await issueTsaCert(ca, dir, 'tsa', true);
  const faulty = options.eku === 'non-critical';
  if (faulty) await issueTsaCert(ca, dir, 'faulty', false);
  let counter = 0;

  const reply = async (query: Buffer): Promise<Buffer> => {
    const id = ++counter;
    writeFileSync(join(dir, `q${id}.tsq`), query);
    try {
      const base = ['ts', '-reply', '-config', 'ts.cnf', '-queryfile', `q${id}.tsq`, '-signer', 'tsa.pem', '-inkey', 'tsa.key', '-chain', join(ca.dir, 'root.pem')];
      if (!faulty) {
        await openssl([...base, '-out', `r${id}.tsr`], dir);
        return readFileSync(join(dir, `r${id}.tsr`));
      }
      await openssl([...base, '-token_out', '-out', `t${id}.der`], dir);
      await openssl(['cms', '-verify', '-noverify', '-inform', 'DER', '-in', `t${id}.der`, '-out', `i${id}.der`], dir);
      await openssl(['cms', '-sign', '-binary', '-nodetach', '-nosmimecap', '-md', 'sha256', '-econtent_type', '1.2.840.113549.1.9.16.1.4', '-inform', 'DER', '-outform', 'DER',
        '-in', `i${id}.der`, '-signer', 'faulty.pem', '-inkey', 'faulty.key', '-certfile', join(ca.dir, 'root.pem'), '-out', `f${id}.der`], dir);
      return grantedResponse(readFileSync(join(dir, `f${id}.der`)));
    } finally {
      for (const f of [`q${id}.tsq`, `r${id}.tsr`, `t${id}.der`, `i${id}.der`, `f${id}.der`]) rmSync(join(dir, f), { force: true });
    }
  };

  const tsa = { url: '', port: 0, ca, requests: 0, close: async () => undefined } as TestTsa;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 16_384) chunks.push(c);
    });
    req.on('end', () => {
      if (req.method !== 'POST' || req.headers['content-type'] !== 'application/timestamp-query' || size > 16_384) {
        res.writeHead(400).end();
        return;
      }
      reply(Buffer.concat(chunks)).then(
        (der) => {
          tsa.requests++;
          res.writeHead(200, { 'Content-Type': 'application/timestamp-reply', 'Content-Length': der.length }).end(der);
        },
        (error: unknown) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(String(error)),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  tsa.port = (server.address() as { port: number }).port;
  tsa.url = `http://127.0.0.1:${tsa.port}/tsa`;
  tsa.close = async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
    if (!options.ca) rmSync(ca.dir, { recursive: true, force: true });
  };
  return tsa;
}
