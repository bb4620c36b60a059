// Addresses. IPv4 addresses are u32 numbers on the hot path (compare with ===, hash as a
// number, feed the checksum directly); strings only at the edges (config, logs, tests).
// MACs are 6-byte Uint8Arrays, as they sit in the frame.

import { fail, ok, type Result, type WireError } from './result.ts';

export type Ipv4Address = number;
export type MacAddress = Uint8Array;

const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Parse dotted-quad text; a typed error for anything else (no octal, no shorthand). */
export function parseIpv4Address(s: string): Result<Ipv4Address, WireError> {
  const m = DOTTED.exec(s);
  if (m === null) return fail('badAddress', `not a dotted-quad IPv4 address: ${JSON.stringify(s)}`);
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i]!;
    // Leading zeros are refused because some parsers read them as octal: ambiguity in config.
    if (part.length > 1 && part.startsWith('0')) return fail('badAddress', `leading zero in ${s}`);
    const octet = Number(part);
    if (octet > 255) return fail('badAddress', `octet > 255 in ${s}`);
    v = v * 256 + octet;
  }
  return ok(v >>> 0);
}

/** For constants and configuration: throws on bad text (a programming/config error). */
export function ipv4FromString(s: string): Ipv4Address {
  const r = parseIpv4Address(s);
  if (!r.ok) throw new RangeError(r.error.detail ?? r.error.kind);
  return r.value;
}

export const ipv4ToString = (a: Ipv4Address): string =>
  `${(a >>> 24) & 0xff}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;

const MAC =
  /^([0-9a-fA-F]{2})([:-])([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})$/;

export function parseMacAddress(s: string): Result<MacAddress, WireError> {
  const m = MAC.exec(s);
  if (m === null) return fail('badAddress', `not a MAC address: ${JSON.stringify(s)}`);
  const out = new Uint8Array(6);
  const groups = [m[1], m[3], m[4], m[5], m[6], m[7]];
  for (let i = 0; i < 6; i++) out[i] = Number.parseInt(groups[i]!, 16);
  return ok(out);
}

export function macFromString(s: string): MacAddress {
  const r = parseMacAddress(s);
  if (!r.ok) throw new RangeError(r.error.detail ?? r.error.kind);
  return r.value;
}

export const macToString = (m: Uint8Array): string => {
  const parts: string[] = [];
  for (let i = 0; i < m.length; i++) parts.push(m[i]!.toString(16).padStart(2, '0'));
  return parts.join(':');
};

export const MAC_BROADCAST: MacAddress = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
export const MAC_ZERO: MacAddress = new Uint8Array(6);

export const macEquals = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === 6 &&
  b.length === 6 &&
  a[0] === b[0] &&
  a[1] === b[1] &&
  a[2] === b[2] &&
  a[3] === b[3] &&
  a[4] === b[4] &&
  a[5] === b[5];
