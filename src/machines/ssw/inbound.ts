// Inbound: client -> kernel, LAN -> TUN (spec/ssw.md "Spaces and directions", "Modes"). An
// Ethernet frame is parsed (parsers never throw; anything malformed is counted and dropped),
// an ARP frame goes to the neighbour table (A.1, A.3), a TCP segment to the service address is
// looked up and handled as its connection's mode says (classify.ts `clientActionOf`): logged
// (R1), translated (R7.4), answered (R5.7, R6.9), or dropped (R5.6).

import { get16 } from '../../wire/bytes.ts';
import { ETHERNET_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4 } from '../../wire/ethernet.ts';
import { IP_PROTO_TCP, Ipv4Packet } from '../../wire/ipv4.ts';
import { seqAdd, seqGe, seqGt } from '../../wire/seq.ts';
import { findTimestamps, TcpPacket } from '../../wire/tcp.ts';
import { shiftVnetHdr, type VnetHdr, vnetChecksumTrusted } from '../../wire/vnet.ts';
import { clientActionOf, segmentKindOfBits } from './classify.ts';
import {
  acksServerFin,
  answerAfterClose,
  kernelDone,
  quietDrop,
  SERVER_FIN_ACK_TO_KERNEL,
} from './closes.ts';
import type { Conn } from './conn.ts';
import type { SswCtx } from './context.ts';
import { newConnection } from './handshake.ts';
import { tryInject } from './inject.ts';
import { logClientBytes } from './logBeforeAck.ts';
import { noteClientHandshake } from './loggerLimits.ts';
import { handleArp, learnFromFrame, type NeighborTable } from './neighbors.ts';
import { answerSynRetry } from './recreate.ts';
import { csumFor } from './segments.ts';
import { clientSeq, origSeq } from './spaces.ts';
import { translateInboundSegment } from './translate.ts';

/** An Ethernet frame from the LAN (`frameVnet` offsets from the frame). */
export function handleLanFrame(
  ctx: SswCtx,
  neighbors: NeighborTable,
  frame: Uint8Array,
  frameVnet: VnetHdr,
): void {
  if (frame.length < ETHERNET_HEADER_LEN) {
    ctx.stats.dropMalformed++;
    return;
  }
  if (ctx.host().role !== 'active') {
    // A.1: a standby or fenced SSW neither answers nor forwards (a standby keeps, R6.10).
    ctx.stats.dropNotActive++;
    return;
  }
  const ethertype = get16(frame, 12);
  if (ethertype === ETHERTYPE_ARP) {
    handleArp(ctx, neighbors, frame);
    return;
  }
  if (ethertype !== ETHERTYPE_IPV4) {
    ctx.stats.dropNotForService++;
    return;
  }
  const ipRes = Ipv4Packet.checked(frame.subarray(ETHERNET_HEADER_LEN));
  if (!ipRes.ok) {
    ctx.stats.dropMalformed++;
    return;
  }
  const ip = ipRes.value;
  if (ip.dst !== ctx.config.serviceAddr) {
    ctx.stats.dropNotForService++;
    return;
  }
  if (ip.isFragment) {
    ctx.stats.dropFragment++;
    return;
  }
  learnFromFrame(ctx, neighbors, ip.src, frame);
  // Trim Ethernet padding: the kernel gets exactly the datagram.
  const datagram = ip.buffer.subarray(0, ip.totalLength);
  const vnet = shiftVnetHdr(frameVnet, -ETHERNET_HEADER_LEN);
  if (ctx.config.mode === 'forward' || ip.protocol !== IP_PROTO_TCP) {
    ctx.toTun(datagram, vnet);
    return;
  }
  const tcpRes = TcpPacket.checked(ip.payload);
  if (!tcpRes.ok) {
    ctx.stats.dropMalformed++;
    return;
  }
  const tcp = tcpRes.value;
  if (!checksumUsable(ctx, ip, tcp, vnet)) return;
  handleClientSegment(ctx, ip.src, datagram, tcp, vnet);
}

/**
 * A corrupt byte must never reach the log (the kernel would drop it, the log would not). A
 * partial checksum (the sender's kernel left it to the device) or one the receiving device
 * verified is vouched for by the kernel that handed it over: no sum over 64 KB.
 */
function checksumUsable(ctx: SswCtx, ip: Ipv4Packet, tcp: TcpPacket, vnet: VnetHdr): boolean {
  if (ctx.config.verifyLanChecksums === false || vnetChecksumTrusted(vnet)) return true;
  if (tcp.verifyChecksum(ip.src, ip.dst)) return true;
  // A sender on the same host or behind a veth with checksum offload leaves the field as
  // the pseudo-header sum (CHECKSUM_PARTIAL): complete it, since the TUN side verifies.
  if (tcp.checksumStatus(ip.src, ip.dst) === 'partial') {
    tcp.completePartialChecksum();
    ctx.stats.lanPartialChecksums++;
    return true;
  }
  ctx.stats.dropBadChecksum++;
  return false;
}

/** A client segment to the service address: lookup, then its connection mode's action. */
function handleClientSegment(
  ctx: SswCtx,
  clientAddr: number,
  datagram: Uint8Array,
  tcp: TcpPacket,
  vnet: VnetHdr,
): void {
  const c = ctx.conns.lookup(clientAddr, tcp.srcPort, tcp.dstPort);
  const kind = segmentKindOfBits(tcp.flags, tcp.buffer.length - tcp.headerLength);
  if (c === undefined) {
    if (kind !== 'syn') {
      // R5.6: while no incarnation serves (app dead, recovering, or a backup before its
      // replay) an unknown connection may be one the log will re-create: the kernel would
      // answer with a RST the client must never see (I4). Drop; the client retransmits.
      if (ctx.host().app !== 'appRunning') {
        ctx.stats.dropNotReady++;
        return;
      }
      // R5.11: forgotten after both FINs a moment ago: a late duplicate the client sent before
      // it had the last ack; the kernel's socket is gone and would answer it with an RST.
      if (quietDrop(ctx, clientAddr, tcp.srcPort, tcp.dstPort)) return;
      // Not ours (or forgotten): the kernel answers as it would without the SSW.
      ctx.toTun(datagram, vnet);
      return;
    }
    // R5.11: a new connection on the 4-tuple ends its quiet time.
    ctx.recentlyClosed.delete(clientAddr, tcp.srcPort, tcp.dstPort);
    if (newConnection(ctx, clientAddr, tcp) !== undefined) ctx.toTun(datagram, vnet);
    return;
  }
  // R2.7: the client's ack of the SYN-ACK; nothing of a record being logged again passes.
  if (!noteClientHandshake(ctx, c, tcp)) return;
  switch (clientActionOf(c.mode, kind)) {
    case 'forwardSyn':
      // W.1: a retry after the release (R2.4) says the released SYN-ACK never reached the
      // client; its wait lasts until it acks (noteClient).
      if (c.mode !== 'listenSynSeen' && c.mode !== 'awaitingSynStored') c.client.synRetried = true;
      ctx.toTun(datagram, vnet);
      return;
    case 'answerSyn':
      answerSynRetry(ctx, c, tcp);
      return;
    case 'drop':
      ctx.stats.dropByRule++;
      return;
    case 'forwardRst':
      forwardToKernel(ctx, c, tcp, datagram, vnet);
      ctx.sendConn(c, { type: 'CLIENT_RST' });
      return;
    case 'forwardRaw':
      forwardToKernel(ctx, c, tcp, datagram, vnet);
      return;
    case 'logAndForward': {
      noteClient(c, tcp);
      if (kernelDone(c)) {
        answerAfterClose(ctx, c, kind);
        return;
      }
      if (!logClientBytes(ctx, c, tcp)) return;
      const acksFin = acksServerFin(c, tcp);
      // The first of them may close the kernel's socket (LAST_ACK -> CLOSED): said before the
      // segment goes (R5.7, R5.11; a lab test hook holds the data path here).
      if (acksFin && !c.close.serverFinAckForwarded) ctx.event('R5.7', SERVER_FIN_ACK_TO_KERNEL, c);
      translateInbound(ctx, c, tcp, vnet);
      ctx.toTun(datagram, vnet);
      if (acksFin) c.close.serverFinAckForwarded = true;
      return;
    }
    case 'logOnly':
      noteClient(c, tcp);
      logClientBytes(ctx, c, tcp);
      return;
    case 'logAndInject':
      noteClient(c, tcp);
      logClientBytes(ctx, c, tcp);
      tryInject(ctx, c);
      return;
  }
}

/** Noted, translated (R7.4) and passed to the kernel, nothing logged. */
function forwardToKernel(
  ctx: SswCtx,
  c: Conn,
  tcp: TcpPacket,
  datagram: Uint8Array,
  vnet: VnetHdr,
): void {
  noteClient(c, tcp);
  translateInbound(ctx, c, tcp, vnet);
  ctx.toTun(datagram, vnet);
}

/** R7.4 in place; the ack is capped at the kernel's snd.nxt once a SYN-ACK fixed it. */
function translateInbound(ctx: SswCtx, c: Conn, tcp: TcpPacket, vnet: VnetHdr): void {
  const ackCap = c.server.opts !== undefined ? c.kernel.sndNxt : undefined;
  translateInboundSegment(tcp, c.t, ackCap, csumFor(ctx, vnet));
}

/** What the client tells us regardless of mode: its ack, window, FIN position and TSval. */
function noteClient(c: Conn, tcp: TcpPacket): void {
  const cl = c.client;
  if (tcp.ack) {
    // A client segment acks the server's stream as the client knows it: original space.
    const ack = origSeq(tcp.ackNumber);
    if (cl.ack === 0 || seqGt(ack, cl.ack)) cl.ack = ack;
    cl.synAckUnconfirmed = false;
    cl.synRetried = false;
  } else if (tcp.syn) {
    // W.1: an unprotected connection's SYN retry (forwardRaw), as R2.4's above.
    cl.synRetried = true;
  }
  cl.window = tcp.window;
  const end = seqAdd(
    clientSeq(tcp.seqNumber),
    tcp.buffer.length - tcp.headerLength + (tcp.fin ? 1 : 0),
  );
  if (seqGt(end, cl.sndMax)) cl.sndMax = end;
  if (tcp.fin)
    c.close.clientFinSeq = seqAdd(clientSeq(tcp.seqNumber), tcp.buffer.length - tcp.headerLength);
  if (c.tsOk || cl.opts.tsVal !== null) {
    const ts = findTimestamps(tcp);
    if (ts !== undefined && seqGe(ts.tsVal, cl.tsRecent)) cl.tsRecent = ts.tsVal;
  }
}
