// Result type shared by every codec. Parsers of untrusted bytes return a Result instead of
// throwing so that a hostile or corrupt packet can never unwind the per-packet data path;
// the caller decides (drop and count) with an exhaustive switch on `error.kind`.

export type Result<T, E> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: E };

export const ok = <T>(value: T): { readonly ok: true; readonly value: T } => ({ ok: true, value });
export const err = <E>(error: E): { readonly ok: false; readonly error: E } => ({
  ok: false,
  error,
});

/**
 * Why a byte string was refused. Kinds are coarse on purpose (callers count drops per kind);
 * `detail` carries the human-readable specifics for logs and test failures.
 */
export type WireErrorKind =
  | 'truncated' // fewer bytes than a header or a declared length needs
  | 'badHeaderLength' // IHL / data offset impossible (too small or past the end)
  | 'badVersion' // IP version not 4, frame version unknown
  | 'badChecksum' // checksum / CRC mismatch
  | 'optionOverrun' // an option's length runs past the options area
  | 'badOption' // a known option with an impossible length
  | 'synFin' // TCP SYN and FIN together
  | 'fragment' // IPv4 fragment (FT-TCP drops fragments, spec/protocol.md "Out of scope")
  | 'oversize' // larger than an explicit limit (frame body, pcap record)
  | 'badMagic' // pcap magic number unknown
  | 'badLength' // a length field inconsistent with the rest (e.g. IPv4 total length < header)
  | 'unsupported' // well-formed but outside what we speak (non-IPv4 ARP, pcap link type)
  | 'badAddress' // textual address that does not parse
  | 'poisoned'; // a stream decoder that already failed (see FrameDecoder)

export interface WireError {
  readonly kind: WireErrorKind;
  readonly detail?: string;
}

export const wireError = (kind: WireErrorKind, detail?: string): WireError =>
  detail === undefined ? { kind } : { kind, detail };

/** `err(wireError(...))` in one call: the common shape of a parser's failure return. */
export const fail = (
  kind: WireErrorKind,
  detail?: string,
): { readonly ok: false; readonly error: WireError } => err(wireError(kind, detail));

/**
 * Emitters take reprs built by our own code, so a repr that cannot be encoded (an option list
 * longer than 40 bytes, a buffer too small) is a programming error, not bad input: fail loudly
 * at the cause instead of writing a corrupt packet.
 */
export function assertWire(cond: boolean, what: string): asserts cond {
  if (!cond) throw new RangeError(`wire: ${what}`);
}
