import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { parseItem } from 'structured-headers';

/** RFC 9266 section 2: the exporter label of the `tls-exporter` channel binding type, 32 bytes, no context. */
export const TLS_EXPORTER_LABEL = 'EXPORTER-Channel-Binding';
export const TLS_EXPORTER_LENGTH = 32;

/** TLS 1.3 exporters treat an absent and an empty context alike (RFC 8446 section 7.5). */
const NO_CONTEXT = Buffer.alloc(0);
const cache = new WeakMap<Socket, Buffer | null>();

/**
 * The `tls-exporter` value of the connection a request came over, or null when it is not TLS 1.3
 * (RFC 9266 defines it for TLS 1.3 only; TLS 1.2 exporters lack the extended master secret guarantee).
 * Computed once per connection.
 */
export function tlsExporter(socket: Socket): Buffer | null {
  let value = cache.get(socket);
  if (value === undefined) {
    const tls = socket as Partial<TLSSocket>;
    value = tls.encrypted && tls.getProtocol?.() === 'TLSv1.3' ? tls.exportKeyingMaterial!(TLS_EXPORTER_LENGTH, TLS_EXPORTER_LABEL, NO_CONTEXT) : null;
    cache.set(socket, value);
  }
  return value;
}

/** The channel binding header value: the exporter as a structured byte sequence, `:base64:`. */
export function channelBindingHeader(exporter: Uint8Array): string {
  return `:${Buffer.from(exporter).toString('base64')}:`;
}

/** Whether a received channel binding header carries exactly `exporter`. */
export function channelBindingMatches(header: string | undefined, exporter: Buffer): boolean {
  if (header === undefined || header.length > 128) return false;
  try {
    const [value, params] = parseItem(header);
    return value instanceof ArrayBuffer && params.size === 0 && exporter.equals(Buffer.from(value));
  } catch {
    return false;
  }
}
