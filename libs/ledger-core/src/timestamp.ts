import { createHash, randomBytes } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

/**
 * RFC 3161 time-stamping of signed checkpoints: the request CTP sends to a TSA and
 * the checks it applies to every token, when anchoring and offline in `ctp verify`.
 * The imprint is SHA-256 over the exact bytes of the signed checkpoint note.
 */

// pkijs does all its cryptography through WebCrypto; Node's (globalThis.crypto) serves.
pkijs.setEngine('node', new pkijs.CryptoEngine({ name: 'node', crypto: globalThis.crypto }));

const SHA256_OID = '2.16.840.1.101.3.4.2.1';
const TST_INFO_OID = '1.2.840.113549.1.9.16.1.4';
const SIGNED_DATA_OID = '1.2.840.113549.1.7.2';
const EXT_KEY_USAGE_OID = '2.5.29.37';
const TIME_STAMPING_OID = '1.3.6.1.5.5.7.3.8';
/** Tokens and replies larger than this are refused before parsing. */
export const MAX_TIMESTAMP_BYTES = 64 * 1024;

export class TimestampError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimestampError';
  }
}

const fail = (message: string): never => {
  throw new TimestampError(message);
};

export interface TimestampRequest {
  /** DER TimeStampReq, POSTed as application/timestamp-query. */
  der: Buffer;
  nonce: Buffer;
  digest: Buffer;
}

export const noteDigest = (note: string): Buffer => createHash('sha256').update(note, 'utf8').digest();

/** A TimeStampReq (v1) for SHA-256(note), with a random 64-bit nonce and certReq = true. */
export function timestampRequest(note: string): TimestampRequest {
  const digest = noteDigest(note);
  const nonce = randomBytes(8);
  nonce.writeUInt8((nonce.readUInt8(0) & 0x7f) | 0x01, 0); // a positive INTEGER without a leading zero byte
  const req = new pkijs.TimeStampReq({
    version: 1,
    messageImprint: new pkijs.MessageImprint({
      hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: SHA256_OID, algorithmParams: new asn1js.Null() }),
      hashedMessage: new asn1js.OctetString({ valueHex: toArrayBuffer(digest) }),
    }),
    nonce: new asn1js.Integer({ valueHex: toArrayBuffer(nonce) }),
    certReq: true,
  });
  return { der: Buffer.from(req.toSchema().toBER(false)), nonce, digest };
}

/** Certificates from PEM text (one or more CERTIFICATE blocks). */
export function certificatesFromPem(pem: string): pkijs.Certificate[] {
  const blocks = [...pem.matchAll(/-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/g)];
  if (blocks.length === 0) fail('no PEM certificate found');
  return blocks.map(([, body = '']) => pkijs.Certificate.fromBER(toArrayBuffer(Buffer.from(body.replace(/\s+/g, ''), 'base64'))));
}

export interface TimestampCheck {
  /** The signed checkpoint note the token must cover. */
  note: string;
  /** Trusted roots. Without them the signature is still checked, the chain is not (`chainVerified: false`). */
  roots?: pkijs.Certificate[];
  /** The nonce sent, when checking a fresh reply. */
  nonce?: Buffer;
}

export interface VerifiedTimestamp {
  genTime: Date;
  policy: string;
  serial: string;
  /** Subject of the TSA (signer) certificate, as `CN=...` style text. */
  tsa: string;
  chainVerified: boolean;
}

/**
 * Parses a TimeStampResp: the status must be granted (or granted with mods), then
 * the token is checked as by verifyTimestampToken. Returns the token's DER with the result.
 */
export async function verifyTimestampResponse(der: Uint8Array, check: TimestampCheck & { nonce: Buffer }): Promise<{ token: Buffer; result: VerifiedTimestamp }> {
  if (der.length > MAX_TIMESTAMP_BYTES) fail(`the reply is larger than ${MAX_TIMESTAMP_BYTES} bytes`);
  let resp: pkijs.TimeStampResp;
  try {
    resp = pkijs.TimeStampResp.fromBER(toArrayBuffer(der));
  } catch (error) {
    return fail(`not a TimeStampResp (${(error as Error).message})`);
  }
  const status = resp.status.status;
  if (status !== pkijs.PKIStatus.granted && status !== pkijs.PKIStatus.grantedWithMods) {
    const text = resp.status.statusStrings?.map((s) => s.valueBlock.value).join('; ');
    fail(`the TSA refused the request: status ${status}${text ? ` (${text})` : ''}`);
  }
  if (!resp.timeStampToken) return fail('the reply grants but carries no token');
  const token = Buffer.from(resp.timeStampToken.toSchema().toBER(false));
  return { token, result: await verifyTimestampToken(token, check) };
}

/**
 * Checks an RFC 3161 token (a CMS ContentInfo holding SignedData over TSTInfo):
 * the imprint is SHA-256 of the note, the nonce matches (when given), the signer
 * certificate carries the critical extendedKeyUsage id-kp-timeStamping and nothing
 * else (RFC 3161 §2.3), the CMS signature verifies and, with roots, the signer's
 * chain validates to one of them at the token's genTime (pkijs, checkChain: true).
 */
export async function verifyTimestampToken(der: Uint8Array, check: TimestampCheck): Promise<VerifiedTimestamp> {
  if (der.length > MAX_TIMESTAMP_BYTES) fail(`the token is larger than ${MAX_TIMESTAMP_BYTES} bytes`);
  let signed: pkijs.SignedData;
  let info: pkijs.TSTInfo;
  try {
    const content = pkijs.ContentInfo.fromBER(toArrayBuffer(der));
    if (content.contentType !== SIGNED_DATA_OID) fail('the token is not CMS SignedData');
    signed = new pkijs.SignedData({ schema: content.content });
    const eContent = signed.encapContentInfo.eContent;
    if (signed.encapContentInfo.eContentType !== TST_INFO_OID || !eContent) return fail('the token does not hold a TSTInfo');
    info = pkijs.TSTInfo.fromBER(eContent.getValue());
  } catch (error) {
    if (error instanceof TimestampError) throw error;
    return fail(`not a timestamp token (${(error as Error).message})`);
  }
  const imprint = info.messageImprint;
  if (imprint.hashAlgorithm.algorithmId !== SHA256_OID) fail(`the imprint uses ${imprint.hashAlgorithm.algorithmId}, not SHA-256`);
  if (!Buffer.from(imprint.hashedMessage.getValue()).equals(noteDigest(check.note))) fail('the token covers other data: its imprint is not SHA-256 of this checkpoint note');
  if (check.nonce) {
    const nonce = info.nonce ? Buffer.from(info.nonce.valueBlock.valueHexView) : undefined;
    if (!nonce || !stripZeros(nonce).equals(stripZeros(check.nonce))) fail('the token does not carry the nonce sent');
  }
  if (signed.signerInfos.length !== 1) fail(`the token has ${signed.signerInfos.length} signers, not 1`);
  const signer = findSigner(signed);
  checkTimeStampingUsage(signer);

  const roots = check.roots ?? [];
  let verified: boolean;
  try {
    // For a TSTInfo, pkijs also re-checks the imprint against `data`, the time-stamped bytes.
    const data = toArrayBuffer(Buffer.from(check.note, 'utf8'));
    const result = await signed.verify({ signer: 0, data, checkChain: roots.length > 0, trustedCerts: roots, checkDate: info.genTime, extendedMode: true });
    verified = result.signatureVerified === true && (roots.length === 0 || result.signerCertificateVerified === true);
  } catch (error) {
    const e = error as { message?: string; signatureVerified?: boolean | null; signerCertificateVerified?: boolean | null };
    if (e.signatureVerified === false) return fail('the token signature does not verify');
    return fail(`the TSA certificate does not chain to a trusted root (${e.message ?? String(error)})`);
  }
  if (!verified) fail('the token signature does not verify');
  return {
    genTime: info.genTime,
    policy: info.policy,
    serial: Buffer.from(info.serialNumber.valueBlock.valueHexView).toString('hex'),
    tsa: subjectText(signer),
    chainVerified: roots.length > 0,
  };
}

function findSigner(signed: pkijs.SignedData): pkijs.Certificate {
  const [signerInfo] = signed.signerInfos;
  if (!signerInfo) return fail('the token has no signer');
  const sid = signerInfo.sid;
  const certs = (signed.certificates ?? []).filter((c): c is pkijs.Certificate => c instanceof pkijs.Certificate);
  const found = certs.find((c) =>
    sid instanceof pkijs.IssuerAndSerialNumber
      ? c.issuer.isEqual(sid.issuer) && c.serialNumber.isEqual(sid.serialNumber)
      : (c.extensions ?? []).some((x) => x.extnID === '2.5.29.14' && Buffer.from((x.parsedValue as asn1js.OctetString).getValue()).equals(Buffer.from((sid as asn1js.OctetString).getValue()))),
  );
  if (!found) return fail('the token does not include the TSA certificate (request it with certReq)');
  return found;
}

function checkTimeStampingUsage(cert: pkijs.Certificate): void {
  const eku = (cert.extensions ?? []).find((x) => x.extnID === EXT_KEY_USAGE_OID);
  if (!eku) return fail(`the TSA certificate ${subjectText(cert)} has no extendedKeyUsage`);
  if (!eku.critical) fail(`the TSA certificate ${subjectText(cert)} does not mark extendedKeyUsage critical`);
  const usages = (eku.parsedValue as pkijs.ExtKeyUsage).keyPurposes;
  if (usages.length !== 1 || usages[0] !== TIME_STAMPING_OID) fail(`the TSA certificate ${subjectText(cert)} is not for timeStamping only (extendedKeyUsage ${usages.join(', ')})`);
}

const ATTRIBUTE_NAMES: Record<string, string> = { '2.5.4.3': 'CN', '2.5.4.6': 'C', '2.5.4.10': 'O', '2.5.4.11': 'OU' };
function subjectText(cert: pkijs.Certificate): string {
  return cert.subject.typesAndValues.map((tv) => `${ATTRIBUTE_NAMES[tv.type] ?? tv.type}=${String(tv.value.valueBlock.value)}`).join(', ');
}

function stripZeros(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

function toArrayBuffer(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
