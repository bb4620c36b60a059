// What the SSW daemon needs from the thing that decides what to do with packets. The
// pass-through core implements it directly; the FT-TCP engine (src/machines/ssw/engine.ts) is
// bound through an adapter that turns its effects into these calls.
export interface SswOut {
  lan(frame: Uint8Array): void;
  tun(packet: Uint8Array): void;
}

export interface SswCore {
  onLanFrame(frame: Uint8Array, out: SswOut): void;
  onTunPacket(packet: Uint8Array, out: SswOut): void;
}
