/** The order n of the P-256 group (FIPS 186-4 D.1.2.3). */
const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
const COORDINATE_BYTES = 32;

/** Reads one DER INTEGER at `offset`: a positive, minimally encoded value below the P-256 order. */
function readInteger(der: Uint8Array, offset: number): { value: Buffer; next: number } {
  if (der[offset] !== 0x02) throw new Error('ECDSA signature: expected an INTEGER');
  const length = der[offset + 1];
  if (length === undefined || length < 1 || length > COORDINATE_BYTES + 1 || offset + 2 + length > der.length) {
    throw new Error('ECDSA signature: bad INTEGER length');
  }
  const bytes = Buffer.from(der.subarray(offset + 2, offset + 2 + length));
  if (bytes[0]! & 0x80) throw new Error('ECDSA signature: negative INTEGER');
  if (bytes.length > 1 && bytes[0] === 0 && !(bytes[1]! & 0x80)) throw new Error('ECDSA signature: INTEGER not minimally encoded');
  const value = bytes[0] === 0 && bytes.length > 1 ? bytes.subarray(1) : bytes;
  if (value.length > COORDINATE_BYTES) throw new Error('ECDSA signature: INTEGER too long');
  const n = BigInt(`0x${value.toString('hex')}`);
  if (n === 0n || n >= P256_ORDER) throw new Error('ECDSA signature: INTEGER out of range');
  return { value, next: offset + 2 + length };
}

/**
 * Converts a DER ECDSA-Sig-Value (SEQUENCE { r INTEGER, s INTEGER }), as Cloud KMS
 * returns for EC_SIGN_P256_SHA256, to the JOSE form r || s (64 bytes, RFC 7518 §3.4).
 * Strict: anything but one minimal DER SEQUENCE of two in-range integers is rejected.
 */
export function derToJoseEs256(der: Uint8Array): Buffer {
  if (der.length < 8 || der[0] !== 0x30) throw new Error('ECDSA signature: expected a DER SEQUENCE');
  const length = der[1]!;
  if (length & 0x80 || length + 2 !== der.length) throw new Error('ECDSA signature: bad SEQUENCE length');
  const r = readInteger(der, 2);
  const s = readInteger(der, r.next);
  if (s.next !== der.length) throw new Error('ECDSA signature: trailing bytes');
  const jose = Buffer.alloc(2 * COORDINATE_BYTES);
  r.value.copy(jose, COORDINATE_BYTES - r.value.length);
  s.value.copy(jose, 2 * COORDINATE_BYTES - s.value.length);
  return jose;
}
