// What the SSW daemon needs from the thing that decides what to do with packets. The
// pass-through core implements it directly; the FT-TCP engine (src/machines/ssw/engine.ts) is
// bound through an adapter that turns its effects into these calls.
//
// `vnet` is what the device said is still to be done to a packet (src/wire/vnet.ts: a partial
// checksum, a GSO burst); a core hands it on with the packet it forwards, and NO_OFFLOAD with
// a packet it built. Offsets in it count from the start of the buffer passed alongside.
import type { VnetHdr } from '../../wire/vnet.ts';

export interface SswOut {
  lan(frame: Uint8Array, vnet?: VnetHdr): void;
  tun(packet: Uint8Array, vnet?: VnetHdr): void;
}

export interface SswCore {
  onLanFrame(frame: Uint8Array, out: SswOut, vnet?: VnetHdr): void;
  onTunPacket(packet: Uint8Array, out: SswOut, vnet?: VnetHdr): void;
}
