import { sign, verify, type KeyObject } from 'node:crypto';

/**
 * ES256 with the JOSE signature form (r || s, 32 bytes each; RFC 7518 §3.4), computed by
 * node:crypto in its DER form and converted here. node:crypto's own conversion, asked for with
 * `{ key, dsaEncoding: 'ieee-p1363' }`, costs more than the curve arithmetic: on Node 24 a sign
 * takes about 29 µs of CPU with the bare KeyObject and 65 µs with that option object, a verify
 * 76 µs against 128 µs (BENCHMARKS.md, issue 16). The two conversions below are a few byte copies.
 */
const HALF = 32;

/** Signs `data` with a P-256 private key; returns r || s (64 bytes). */
export function signEs256Bytes(data: Uint8Array, privateKey: KeyObject): Buffer {
  return derToJose(sign('sha256', data, privateKey));
}

/** Verifies an r || s signature over `data`; anything but 64 bytes is false. */
export function verifyEs256Bytes(data: Uint8Array, publicKey: KeyObject, signature: Uint8Array): boolean {
  if (signature.length !== 2 * HALF) return false;
  return verify('sha256', data, publicKey, joseToDer(signature));
}

/** DER ECDSA-Sig-Value (SEQUENCE { r INTEGER, s INTEGER }), as OpenSSL writes it, to r || s. */
function derToJose(der: Buffer): Buffer {
  const out = Buffer.alloc(2 * HALF);
  // SEQUENCE: short length form (a P-256 signature is at most 72 bytes).
  if (der[0] !== 0x30 || der[1] !== der.length - 2) throw new Error('unexpected ECDSA signature encoding');
  let at = 2;
  for (const offset of [0, HALF]) {
    if (der[at] !== 0x02) throw new Error('unexpected ECDSA signature encoding');
    let length = der[at + 1]!;
    let start = at + 2;
    at = start + length;
    // Positive INTEGERs carry a leading 0x00 when their top bit is set; r and s fit 32 bytes.
    while (length > HALF && der[start] === 0) {
      start++;
      length--;
    }
    if (length > HALF || at > der.length) throw new Error('unexpected ECDSA signature encoding');
    der.copy(out, offset + HALF - length, start, start + length);
  }
  return out;
}

/** r || s to minimal DER: leading zero bytes dropped, 0x00 prepended where the top bit is set. */
function joseToDer(signature: Uint8Array): Buffer {
  const integer = (bytes: Uint8Array) => {
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start++;
    const pad = bytes[start]! >= 0x80 ? 1 : 0;
    const encoded = Buffer.alloc(2 + pad + bytes.length - start);
    encoded[0] = 0x02;
    encoded[1] = pad + bytes.length - start;
    encoded.set(bytes.subarray(start), 2 + pad);
    return encoded;
  };
  const r = integer(signature.subarray(0, HALF));
  const s = integer(signature.subarray(HALF));
  return Buffer.concat([Buffer.from([0x30, r.length + s.length]), r, s]);
}
