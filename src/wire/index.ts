// Public surface of the wire layer (package export `fttcp/wire`). Bytes only: nothing here
// imports machines or runtime, and nothing does I/O.

export * from './addr.ts';
export * from './arp.ts';
export { bytesEqual, fromHex, get16, get32, set16, set32, toHex } from './bytes.ts';
export * from './checksum.ts';
export * from './crc32.ts';
export * from './describe.ts';
export * from './ethernet.ts';
export * from './frame.ts';
export * from './ipv4.ts';
export * from './pcap.ts';
export * from './result.ts';
export * from './seq.ts';
export * from './tcp.ts';
export * from './vnet.ts';
