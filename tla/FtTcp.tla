------------------------------- MODULE FtTcp -------------------------------
(***************************************************************************)
(* FT-TCP (Alvisi, Bressoud, El-Khashab, Marzullo, Zagorodnov) for one     *)
(* connection, at the level of spec/protocol.md: rules R1..R12, invariants *)
(* I1..I6 and L1 carry the names used there.                               *)
(*                                                                         *)
(* Abstraction (see tla/README.md for the full list):                      *)
(*  - The client is an unmodified TCP: it writes NIn bytes (one byte per   *)
(*    segment, identified by its offset), acks cumulatively, retransmits   *)
(*    anything unacked, and accepts server data only in order.             *)
(*  - The network is a set of segments per direction: a receive may leave  *)
(*    the segment in flight (duplication), LoseTo* drops it (loss), and a  *)
(*    set has no order (reordering).                                       *)
(*  - The server application is deterministic (A2): each read of n bytes   *)
(*    starting at input offset s writes one output item <<s, n>>; after    *)
(*    reading all NIn bytes it closes. Read sizes are nondeterministic and *)
(*    so are logged as determinants (R3). Server sequence numbers count    *)
(*    items; serverIsn = 0 and a re-created kernel has ISN -deltaSeq.      *)
(*  - Host P is the first primary; host B runs the logger, the detector    *)
(*    and the coordinator, and serves after a failover. P never restarts. *)
(*  - The connection record (R2) is stored before the initial state.       *)
(*  - Checkpoints (R13, R14): the NSW of a live incarnation may take one   *)
(*    (the application's state is its determinants so far, A2), the logger *)
(*    stores it once the determinants it covers are stored and truncates;  *)
(*    recovery restores the latest stored one and replays only the rest.   *)
(*    MaxCheckpoints = 0 switches them off (every model before them).      *)
(*                                                                         *)
(* Bugs is a set of rule violations the negative models switch on; it is   *)
(* {} in every positive model.                                             *)
(***************************************************************************)
EXTENDS Naturals, Integers, Sequences, FiniteSets

CONSTANTS
    NIn,         \* bytes the client sends
    MaxCrashes,  \* failures in one behaviour (app crash, host crash, false suspicion)
    Deltas,      \* deltaSeq values a re-created connection may get (0 = same ISN)
    Failures,    \* failure kinds a model allows: "app", "primary", "backup", "suspect"
    Bugs,        \* rules the negative models break
    MaxCheckpoints \* checkpoints the NSW may take in one behaviour (R13)

Hosts == {"P", "B"}
BugNames == {"noAckClamp", "noOutputCommit", "crashFinPasses", "noDelta", "noFencing",
             "finAtAnyPosition", "noInject", "truncateEarly", "noOutputTail"}

ASSUME /\ NIn \in Nat \ {0}
       /\ MaxCrashes \in Nat
       /\ Deltas \subseteq Int /\ 0 \in Deltas
       /\ Failures \subseteq {"app", "primary", "backup", "suspect"}
       /\ Bugs \subseteq BugNames
       /\ MaxCheckpoints \in Nat

VARIABLES
    \* client TCP and its application
    cSent,        \* bytes the client application has written
    cAcked,       \* highest ack the client has received
    cRcv,         \* server items the client holds, in order
    cFin,         \* the client has received a FIN
    \* network
    toServer,     \* segments client -> service address
    toClient,     \* segments server -> client
    \* logger and recovery (host B)
    epoch,        \* the logger's epoch (R8)
    logData,      \* client bytes stored (the stored stream is 0..logData-1)
    logDets,      \* determinants stored, in order
    logClientAck, \* clientAck stored by ClientAcked
    failover,     \* "none", "suspected", "fenced", "done"
    crashes,      \* failures so far
    protected,    \* FALSE once the logger is lost (ssw.md L.2)
    \* per server host: SSW, kernel socket, NSW and application
    hostUp, sswActive, sswEpoch,
    kSock,        \* a kernel socket for the connection exists
    kernelAck,    \* the kernel's rcv.nxt: client bytes it has accepted
    kBuf,         \* items the kernel holds for sending (kernel space index j)
    kFin,         \* "none", "close" (application closed), "crash" (process died)
    deltaSeq, loggedSeq, stableSeq, sentAck, clientAck,
    appUp, appIn, appOut, appClosed,
    nswDets,      \* determinants this incarnation has seen (detSeq = Len + 1)
    replay,       \* determinants fetched for replay (R11)
    stableDet, released,
    kBase,        \* output offset of the kernel socket's first item (R6.11: the tail's start)
    \* checkpoints and truncation (R13, R14)
    ckpt,         \* the logger's stored checkpoint (InitCkpt: none, recovery starts at 0)
    pending,      \* per host: the checkpoint its NSW has sent and the logger not yet stored
    logDetBase,   \* determinants 1..logDetBase are dropped (R14.5 a)
    logDropTo,    \* client bytes below it are dropped or not held (R14.5 b, R14.6)
    ckpts         \* checkpoints taken so far

clientVars == <<cSent, cAcked, cRcv, cFin>>
netVars == <<toServer, toClient>>
logVars == <<epoch, logData, logDets, logClientAck, failover, crashes, protected>>
sswVars == <<hostUp, sswActive, sswEpoch, deltaSeq, loggedSeq, stableSeq, sentAck, clientAck>>
kernVars == <<kSock, kernelAck, kBuf, kFin, kBase>>
appVars == <<appUp, appIn, appOut, appClosed, nswDets, replay, stableDet, released>>
ckptVars == <<ckpt, pending, logDetBase, logDropTo, ckpts>>
vars == <<clientVars, netVars, logVars, sswVars, kernVars, appVars, ckptVars>>

-----------------------------------------------------------------------------
Max(a, b) == IF a >= b THEN a ELSE b
Min(a, b) == IF a <= b THEN a ELSE b

ReadDet(n) == [kind |-> "read", len |-> n]
CloseDet(k) == [kind |-> "close", at |-> k]

\* The output the application writes for a sequence of determinants (A2).
RECURSIVE OutFrom(_, _)
OutFrom(ds, s) ==
    IF ds = <<>> THEN <<>>
    ELSE IF Head(ds).kind = "read"
         THEN << <<s, Head(ds).len>> >> \o OutFrom(Tail(ds), s + Head(ds).len)
         ELSE OutFrom(Tail(ds), s)
OutOf(ds) == OutFrom(ds, 0)

RECURSIVE ReadTotal(_)
ReadTotal(ds) ==
    IF ds = <<>> THEN 0
    ELSE (IF Head(ds).kind = "read" THEN Head(ds).len ELSE 0) + ReadTotal(Tail(ds))

\* All ways to read NIn bytes: the failure-free runs.
RECURSIVE Compositions(_)
Compositions(n) ==
    IF n = 0 THEN {<<>>}
    ELSE UNION { { <<k>> \o c : c \in Compositions(n - k) } : k \in 1..n }
FailureFreeOutputs ==
    { OutOf([i \in 1..Len(c) |-> ReadDet(c[i])]) : c \in Compositions(NIn) }

IsPrefix(s, t) == Len(s) <= Len(t) /\ SubSeq(t, 1, Len(s)) = s

Items == (0..(NIn - 1)) \X (1..NIn)
Dets == {ReadDet(n) : n \in 1..NIn} \cup {CloseDet(k) : k \in 0..NIn}
SeqNums == {i - d : i \in 0..NIn, d \in Deltas} \cup (0..NIn)
ToServerMsgs == [kind : {"data"}, seq : 0..(NIn - 1)] \cup [kind : {"ack"}, ack : 0..NIn]
ToClientMsgs == [kind : {"data"}, seq : SeqNums, item : Items]
                \cup [kind : {"ack"}, ack : 0..NIn] \cup [kind : {"fin"}, seq : SeqNums]

\* A checkpoint (R13.1): the application's state at a determinant position (by A2 its
\* determinants so far, `dets`, which give `in`, `out` and `closed`), and where the output
\* tail it holds starts (`outFrom`, at most what the client had acknowledged).
Ckpts == [dets : Seq(Dets), in : 0..NIn, out : Seq(Items), closed : BOOLEAN, outFrom : 0..NIn]
\* No checkpoint stored: a recovery starts from the beginning.
InitCkpt == [dets |-> <<>>, in |-> 0, out |-> <<>>, closed |-> FALSE, outFrom |-> 0]
Deltas2 == {d + o : d \in Deltas, o \in 0..NIn}

LoggerUp == hostUp["B"]
\* R8: the logger takes messages only from the incarnation of its current epoch.
Accepts(h) == LoggerUp /\ sswEpoch[h] = epoch
SswLive(h) == hostUp[h] /\ sswActive[h]
Replaying(h) == Len(nswDets[h]) < Len(replay[h])
NextReplay(h) == replay[h][Len(nswDets[h]) + 1]
CloseLoggedAt(k) == \E i \in DOMAIN logDets : logDets[i] = CloseDet(k)
\* R7.1: kernel seq of item j is kernelIsn + j - 1 with kernelIsn = -deltaSeq.
OrigSeq(h, kseq) == IF "noDelta" \in Bugs THEN kseq ELSE kseq + deltaSeq[h]

-----------------------------------------------------------------------------
TypeOK ==
    /\ cSent \in 0..NIn /\ cAcked \in 0..NIn /\ cRcv \in Seq(Items) /\ cFin \in BOOLEAN
    /\ toServer \subseteq ToServerMsgs /\ toClient \subseteq ToClientMsgs
    /\ epoch \in Nat \ {0} /\ logData \in 0..NIn /\ logDets \in Seq(Dets)
    /\ logClientAck \in 0..NIn
    /\ failover \in {"none", "suspected", "fenced", "done"}
    /\ crashes \in 0..MaxCrashes /\ protected \in BOOLEAN
    /\ hostUp \in [Hosts -> BOOLEAN] /\ sswActive \in [Hosts -> BOOLEAN]
    /\ sswEpoch \in [Hosts -> Nat]
    /\ kSock \in [Hosts -> BOOLEAN] /\ kernelAck \in [Hosts -> 0..NIn]
    /\ kBuf \in [Hosts -> Seq(Items)] /\ kFin \in [Hosts -> {"none", "close", "crash"}]
    /\ deltaSeq \in [Hosts -> Deltas2]
    /\ loggedSeq \in [Hosts -> 0..NIn] /\ stableSeq \in [Hosts -> 0..NIn]
    /\ sentAck \in [Hosts -> 0..NIn] /\ clientAck \in [Hosts -> 0..NIn]
    /\ appUp \in [Hosts -> BOOLEAN] /\ appIn \in [Hosts -> 0..NIn]
    /\ appOut \in [Hosts -> Seq(Items)] /\ appClosed \in [Hosts -> BOOLEAN]
    /\ nswDets \in [Hosts -> Seq(Dets)] /\ replay \in [Hosts -> Seq(Dets)]
    /\ stableDet \in [Hosts -> Nat] /\ released \in [Hosts -> Nat]
    /\ kBase \in [Hosts -> 0..NIn]
    /\ ckpt \in Ckpts /\ DOMAIN pending = Hosts
    /\ \A h \in Hosts : pending[h] = <<>> \/ (Len(pending[h]) = 1 /\ pending[h][1] \in Ckpts)
    /\ logDetBase \in Nat /\ logDropTo \in 0..NIn /\ ckpts \in 0..MaxCheckpoints

-----------------------------------------------------------------------------
\* The state of a host's SSW, kernel and application before it serves anything.
Init ==
    /\ cSent = 0 /\ cAcked = 0 /\ cRcv = <<>> /\ cFin = FALSE
    /\ toServer = {} /\ toClient = {}
    /\ epoch = 1 /\ logData = 0 /\ logDets = <<>> /\ logClientAck = 0
    /\ failover = "none" /\ crashes = 0 /\ protected = TRUE
    /\ hostUp = [h \in Hosts |-> TRUE]
    /\ sswActive = [h \in Hosts |-> h = "P"]
    /\ sswEpoch = [h \in Hosts |-> IF h = "P" THEN 1 ELSE 0]
    /\ kSock = [h \in Hosts |-> h = "P"]
    /\ kernelAck = [h \in Hosts |-> 0] /\ kBuf = [h \in Hosts |-> <<>>]
    /\ kFin = [h \in Hosts |-> "none"] /\ deltaSeq = [h \in Hosts |-> 0]
    /\ loggedSeq = [h \in Hosts |-> 0] /\ stableSeq = [h \in Hosts |-> 0]
    /\ sentAck = [h \in Hosts |-> 0] /\ clientAck = [h \in Hosts |-> 0]
    /\ appUp = [h \in Hosts |-> h = "P"] /\ appIn = [h \in Hosts |-> 0]
    /\ appOut = [h \in Hosts |-> <<>>] /\ appClosed = [h \in Hosts |-> FALSE]
    /\ nswDets = [h \in Hosts |-> <<>>] /\ replay = [h \in Hosts |-> <<>>]
    /\ stableDet = [h \in Hosts |-> 0] /\ released = [h \in Hosts |-> 0]
    /\ kBase = [h \in Hosts |-> 0]
    /\ ckpt = InitCkpt /\ pending = [h \in Hosts |-> <<>>]
    /\ logDetBase = 0 /\ logDropTo = 0 /\ ckpts = 0

-----------------------------------------------------------------------------
(* Client TCP: never changed by FT-TCP.                                    *)

\* The client application writes its next byte; its TCP sends it at once.
ClientWrite ==
    /\ cSent < NIn
    /\ cSent' = cSent + 1
    /\ toServer' = toServer \cup {[kind |-> "data", seq |-> cSent]}
    /\ UNCHANGED <<cAcked, cRcv, cFin, toClient, logVars, sswVars, kernVars, appVars, ckptVars>>

\* Transmission or retransmission of a byte written and not yet acked.
ClientSendData(s) ==
    /\ s \in cAcked..(cSent - 1)
    /\ toServer' = toServer \cup {[kind |-> "data", seq |-> s]}
    /\ UNCHANGED <<clientVars, toClient, logVars, sswVars, kernVars, appVars, ckptVars>>

\* Cumulative ack of the server items received in order.
ClientSendAck ==
    /\ Len(cRcv) > 0
    /\ toServer' = toServer \cup {[kind |-> "ack", ack |-> Len(cRcv)]}
    /\ UNCHANGED <<clientVars, toClient, logVars, sswVars, kernVars, appVars, ckptVars>>

\* In-order data is appended, anything else is dropped; acks are cumulative.
ClientRecv(m, keep) ==
    /\ m \in toClient
    /\ toClient' = IF keep THEN toClient ELSE toClient \ {m}
    /\ cRcv' = IF m.kind = "data" /\ ~cFin /\ m.seq = Len(cRcv)
               THEN Append(cRcv, m.item) ELSE cRcv
    /\ cAcked' = IF m.kind = "ack" THEN Max(cAcked, m.ack) ELSE cAcked
    /\ cFin' = (cFin \/ (m.kind = "fin" /\ m.seq = Len(cRcv)))
    /\ UNCHANGED <<cSent, toServer, logVars, sswVars, kernVars, appVars, ckptVars>>

LoseToServer(m) ==
    /\ m \in toServer
    /\ toServer' = toServer \ {m}
    /\ UNCHANGED <<clientVars, toClient, logVars, sswVars, kernVars, appVars, ckptVars>>

LoseToClient(m) ==
    /\ m \in toClient
    /\ toClient' = toClient \ {m}
    /\ UNCHANGED <<clientVars, toServer, logVars, sswVars, kernVars, appVars, ckptVars>>

-----------------------------------------------------------------------------
(* SSW and the server's kernel socket.                                      *)

\* R1.1: the byte at loggedSeq goes to the logger; the kernel takes the byte at
\* its rcv.nxt unless the application is dead (R5.4: orphaned, logged only).
\* A client ack only raises clientAck (R6.5, R7.4); ClientAcked stores it at the
\* logger in the same step (lost client acks still leave the stored value stale).
SswRecv(h, m, keep) ==
    /\ SswLive(h)
    /\ m \in toServer
    /\ toServer' = IF keep THEN toServer ELSE toServer \ {m}
    /\ IF m.kind = "data"
       THEN /\ loggedSeq' = [loggedSeq EXCEPT ![h] =
                    IF protected /\ m.seq = @ THEN @ + 1 ELSE @]
            /\ kernelAck' = [kernelAck EXCEPT ![h] =
                    IF kSock[h] /\ appUp[h] /\ m.seq = @ THEN @ + 1 ELSE @]
            /\ UNCHANGED <<clientAck, logClientAck>>
       ELSE /\ clientAck' = [clientAck EXCEPT ![h] = Max(@, m.ack)]
            /\ logClientAck' = IF Accepts(h) THEN Max(logClientAck, m.ack) ELSE logClientAck
            /\ UNCHANGED <<loggedSeq, kernelAck>>
    /\ UNCHANGED <<clientVars, toClient, epoch, logData, logDets, failover, crashes, protected,
                   hostUp, sswActive, sswEpoch, deltaSeq, stableSeq, sentAck, kSock, kBuf,
                   kFin, kBase, appVars, ckptVars>>

\* R1.2 / R1.4: the ack reaching the client is max(sentAck, min(kernelAck, stableSeq)).
\* Unprotected (logger lost, ssw.md L.2) the clamp is lifted.
SswSendAck(h) ==
    /\ SswLive(h) /\ kSock[h] /\ appUp[h]
    /\ LET a == IF protected /\ "noAckClamp" \notin Bugs
                THEN Min(kernelAck[h], stableSeq[h]) ELSE kernelAck[h]
           ack == Max(sentAck[h], a)
       IN /\ ack > 0
          /\ toClient' = toClient \cup {[kind |-> "ack", ack |-> ack]}
          /\ sentAck' = [sentAck EXCEPT ![h] = ack]
    /\ UNCHANGED <<clientVars, toServer, logVars, hostUp, sswActive, sswEpoch, deltaSeq,
                   loggedSeq, stableSeq, clientAck, kernVars, appVars, ckptVars>>

\* R7.1: kernel item j is sent translated; R6.6: an item the client already
\* holds is acked locally and dropped (no visible step). The kernel's ISN is
\* kBase - deltaSeq (R6.11: deltaSeq = serverIsn + outputFrom - kernelIsn).
SswSendData(h, j) ==
    /\ SswLive(h) /\ kSock[h]
    /\ j \in 1..Len(kBuf[h])
    /\ LET oseq == OrigSeq(h, kBase[h] + (j - 1) - deltaSeq[h])
       IN toClient' = IF oseq >= clientAck[h]
                      THEN toClient \cup {[kind |-> "data", seq |-> oseq, item |-> kBuf[h][j]]}
                      ELSE toClient
    /\ UNCHANGED <<clientVars, toServer, logVars, sswVars, kernVars, appVars, ckptVars>>

\* R5: a kernel FIN (after a close or a crash) reaches the client only if a close
\* is logged exactly where this FIN sits in the stream. The position matters: an
\* application that closed (close stored) and then died before the NSW released
\* its last output gets a crash FIN *before* that output (model MCBugFinAtAnyPosition).
SswSendFin(h) ==
    /\ SswLive(h) /\ kSock[h]
    /\ kFin[h] # "none"
    /\ LET oseq == OrigSeq(h, kBase[h] + Len(kBuf[h]) - deltaSeq[h])
       IN /\ \/ ~protected
             \/ "crashFinPasses" \in Bugs
             \/ CloseLoggedAt(oseq)
             \/ "finAtAnyPosition" \in Bugs /\ \E k \in 0..NIn : CloseLoggedAt(k)
          /\ toClient' = toClient \cup {[kind |-> "fin", seq |-> oseq]}
    /\ UNCHANGED <<clientVars, toServer, logVars, sswVars, kernVars, appVars, ckptVars>>

\* R6.5: the next logged client byte is injected into the re-created socket.
SswInject(h) ==
    /\ "noInject" \notin Bugs
    /\ SswLive(h) /\ kSock[h] /\ appUp[h] /\ Accepts(h)
    /\ kernelAck[h] < logData
    /\ kernelAck' = [kernelAck EXCEPT ![h] = @ + 1]
    /\ UNCHANGED <<clientVars, netVars, logVars, sswVars, kSock, kBuf, kFin, kBase, appVars,
                   ckptVars>>

\* R5.4: the dead incarnation's socket is aborted locally; its FIN never leaves.
SswAbort(h) ==
    /\ SswLive(h) /\ ~appUp[h] /\ kSock[h]
    /\ kSock' = [kSock EXCEPT ![h] = FALSE]
    /\ kernelAck' = [kernelAck EXCEPT ![h] = 0]
    /\ kBuf' = [kBuf EXCEPT ![h] = <<>>]
    /\ kFin' = [kFin EXCEPT ![h] = "none"]
    /\ kBase' = [kBase EXCEPT ![h] = 0]
    /\ UNCHANGED <<clientVars, netVars, logVars, sswVars, appVars, ckptVars>>

\* R6.2-R6.4: fake SYN from the logged record, the kernel's SYN-ACK gives a new
\* kernelIsn, fake ACK; the restarted application accepts it. R6.11: at the
\* stored checkpoint's position: the kernel's first client byte is the one the
\* restored application has not read (fake SYN at clientIsn + readOffset), its
\* first server item the output tail's first (deltaSeq = d + outputFrom).
SswRecreate(h, d) ==
    /\ SswLive(h) /\ appUp[h] /\ ~kSock[h] /\ Accepts(h)
    /\ d \in Deltas
    /\ kSock' = [kSock EXCEPT ![h] = TRUE]
    /\ deltaSeq' = [deltaSeq EXCEPT ![h] = d + ckpt.outFrom]
    /\ kBase' = [kBase EXCEPT ![h] = ckpt.outFrom]
    /\ kernelAck' = [kernelAck EXCEPT ![h] = ckpt.in]
    /\ kBuf' = [kBuf EXCEPT ![h] = <<>>]
    /\ kFin' = [kFin EXCEPT ![h] = "none"]
    /\ UNCHANGED <<clientVars, netVars, logVars, hostUp, sswActive, sswEpoch, loggedSeq,
                   stableSeq, sentAck, clientAck, appVars, ckptVars>>

-----------------------------------------------------------------------------
(* Logger (host B).                                                         *)

\* LogData: the next byte of the stream, from the incarnation of this epoch.
\* Its DataStored reply is folded in (stableSeq follows at once): a delayed reply
\* only delays acks, which SswSendAck's clamp already covers.
LoggerStoreData(h) ==
    /\ SswLive(h) /\ Accepts(h)
    /\ logData < loggedSeq[h]
    /\ logData' = logData + 1
    /\ stableSeq' = [stableSeq EXCEPT ![h] = logData + 1]
    /\ UNCHANGED <<clientVars, netVars, epoch, logDets, logClientAck, failover, crashes,
                   protected, hostUp, sswActive, sswEpoch, deltaSeq, loggedSeq, sentAck,
                   clientAck, kernVars, appVars, ckptVars>>

\* LogDeterminant: the next determinant of the NSW of this epoch (R3). Its
\* DetStored reply is folded in: stableDet follows at once.
LoggerStoreDet(h) ==
    /\ hostUp[h] /\ appUp[h] /\ Accepts(h)
    /\ Len(logDets) < Len(nswDets[h])
    /\ logDets' = Append(logDets, nswDets[h][Len(logDets) + 1])
    /\ stableDet' = [stableDet EXCEPT ![h] = Max(@, Len(logDets) + 1)]
    /\ UNCHANGED <<clientVars, netVars, epoch, logData, logClientAck, failover, crashes,
                   protected, sswVars, kernVars, appUp, appIn, appOut, appClosed, nswDets,
                   replay, released, ckptVars>>

-----------------------------------------------------------------------------
(* NSW and the application.                                                 *)

\* R3: a read of n bytes (n chosen by the kernel) is a determinant; R11: while
\* replaying, the read size is the logged one.
AppRead(h, n) ==
    /\ hostUp[h] /\ appUp[h] /\ kSock[h] /\ ~appClosed[h]
    /\ n \in 1..(kernelAck[h] - appIn[h])
    /\ Replaying(h) => NextReplay(h) = ReadDet(n)
    /\ appIn' = [appIn EXCEPT ![h] = @ + n]
    /\ nswDets' = [nswDets EXCEPT ![h] = Append(@, ReadDet(n))]
    /\ appOut' = [appOut EXCEPT ![h] = Append(@, <<appIn[h], n>>)]
    /\ UNCHANGED <<clientVars, netVars, logVars, sswVars, kernVars, appUp, appClosed,
                   replay, stableDet, released, ckptVars>>

\* The application closes after its whole input; the close is a determinant.
AppClose(h) ==
    /\ hostUp[h] /\ appUp[h] /\ ~appClosed[h]
    /\ appIn[h] = NIn
    /\ Replaying(h) => NextReplay(h) = CloseDet(Len(appOut[h]))
    /\ appClosed' = [appClosed EXCEPT ![h] = TRUE]
    /\ nswDets' = [nswDets EXCEPT ![h] = Append(@, CloseDet(Len(appOut[h])))]
    /\ UNCHANGED <<clientVars, netVars, logVars, sswVars, kernVars, appUp, appIn, appOut,
                   replay, stableDet, released, ckptVars>>

\* R4: item j depends on determinants 1..j; it goes to the kernel once they are stored.
NswRelease(h) ==
    /\ hostUp[h] /\ appUp[h] /\ kSock[h]
    /\ released[h] < Len(appOut[h])
    /\ \/ released[h] + 1 <= stableDet[h]
       \/ ~protected
       \/ "noOutputCommit" \in Bugs
    /\ kBuf' = [kBuf EXCEPT ![h] = Append(@, appOut[h][released[h] + 1])]
    /\ released' = [released EXCEPT ![h] = @ + 1]
    /\ UNCHANGED <<clientVars, netVars, logVars, sswVars, kSock, kernelAck, kFin, kBase, appUp,
                   appIn, appOut, appClosed, nswDets, replay, stableDet, ckptVars>>

\* R4: the close reaches the kernel once every determinant (the close included) is stored.
NswReleaseClose(h) ==
    /\ hostUp[h] /\ appUp[h] /\ kSock[h] /\ appClosed[h]
    /\ released[h] = Len(appOut[h]) /\ kFin[h] = "none"
    /\ \/ stableDet[h] >= Len(nswDets[h])
       \/ ~protected
       \/ "noOutputCommit" \in Bugs
    /\ kFin' = [kFin EXCEPT ![h] = "close"]
    /\ UNCHANGED <<clientVars, netVars, logVars, sswVars, kSock, kernelAck, kBuf, kBase, appVars,
                   ckptVars>>

-----------------------------------------------------------------------------
(* Failures and recovery. Crashes keep only durable state: the logger's.    *)

AppVarsReset(h) ==
    /\ appIn' = [appIn EXCEPT ![h] = 0]
    /\ appOut' = [appOut EXCEPT ![h] = <<>>]
    /\ appClosed' = [appClosed EXCEPT ![h] = FALSE]
    /\ nswDets' = [nswDets EXCEPT ![h] = <<>>]
    /\ released' = [released EXCEPT ![h] = 0]

\* The application process dies; its kernel socket emits a FIN (the kernel
\* closes the sockets of a dead process). A6: not once the logger is lost.
AppCrash(h) ==
    /\ "app" \in Failures /\ crashes < MaxCrashes /\ protected
    /\ hostUp[h] /\ appUp[h]
    /\ crashes' = crashes + 1
    /\ appUp' = [appUp EXCEPT ![h] = FALSE]
    /\ AppVarsReset(h)
    /\ replay' = [replay EXCEPT ![h] = <<>>]
    /\ stableDet' = [stableDet EXCEPT ![h] = 0]
    /\ kFin' = [kFin EXCEPT ![h] = IF kSock[h] /\ @ = "none" THEN "crash" ELSE @]
    \* R14.2: a checkpoint not stored whole is never stored.
    /\ pending' = [pending EXCEPT ![h] = <<>>]
    /\ UNCHANGED <<clientVars, netVars, epoch, logData, logDets, logClientAck, failover,
                   protected, sswVars, kSock, kernelAck, kBuf, kBase, ckpt, logDetBase, logDropTo,
                   ckpts>>

\* R13.6: the restarted application is the stored checkpoint's (the initial state
\* without one); the NSW holds the checkpoint's output tail as released from
\* outputFrom, and replays the determinants after the checkpoint (R11).
RestoreFrom(h) ==
    /\ appIn' = [appIn EXCEPT ![h] = ckpt.in]
    /\ appOut' = [appOut EXCEPT ![h] = ckpt.out]
    /\ appClosed' = [appClosed EXCEPT ![h] = ckpt.closed]
    /\ nswDets' = [nswDets EXCEPT ![h] = ckpt.dets]
    /\ released' = [released EXCEPT ![h] = ckpt.outFrom]
    /\ replay' = [replay EXCEPT ![h] = logDets]
    /\ stableDet' = [stableDet EXCEPT ![h] = Len(logDets)]

\* R10 local recovery (recovery.md F.1): the coordinator fences the dead
\* incarnation with a new epoch, which the host's SSW and NSW adopt; then
\* restart, FetchLog, and (R11, R13.6) restore and replay of what is stored.
\* (A failover restarts B's application inside Takeover.)
AppRestart(h) ==
    /\ SswLive(h) /\ ~appUp[h] /\ ~kSock[h] /\ Accepts(h)
    /\ epoch' = IF "noFencing" \in Bugs THEN epoch ELSE epoch + 1
    /\ sswEpoch' = [sswEpoch EXCEPT ![h] = epoch']
    /\ appUp' = [appUp EXCEPT ![h] = TRUE]
    /\ RestoreFrom(h)
    /\ UNCHANGED <<clientVars, netVars, logData, logDets, logClientAck, failover, crashes,
                   protected, hostUp, sswActive, deltaSeq, loggedSeq, stableSeq, sentAck,
                   clientAck, kernVars, ckptVars>>

\* Host P dies with everything on it (nothing of FT-TCP is durable on P).
PrimaryCrash ==
    /\ "primary" \in Failures /\ crashes < MaxCrashes /\ protected
    /\ hostUp["P"] /\ hostUp["B"]
    /\ crashes' = crashes + 1
    /\ hostUp' = [hostUp EXCEPT !["P"] = FALSE]
    /\ sswActive' = [sswActive EXCEPT !["P"] = FALSE]
    /\ kSock' = [kSock EXCEPT !["P"] = FALSE]
    /\ kernelAck' = [kernelAck EXCEPT !["P"] = 0]
    /\ kBuf' = [kBuf EXCEPT !["P"] = <<>>]
    /\ kFin' = [kFin EXCEPT !["P"] = "none"]
    /\ loggedSeq' = [loggedSeq EXCEPT !["P"] = 0]
    /\ stableSeq' = [stableSeq EXCEPT !["P"] = 0]
    /\ sentAck' = [sentAck EXCEPT !["P"] = 0]
    /\ clientAck' = [clientAck EXCEPT !["P"] = 0]
    /\ deltaSeq' = [deltaSeq EXCEPT !["P"] = 0]
    /\ appUp' = [appUp EXCEPT !["P"] = FALSE]
    /\ AppVarsReset("P")
    /\ replay' = [replay EXCEPT !["P"] = <<>>]
    /\ stableDet' = [stableDet EXCEPT !["P"] = 0]
    /\ kBase' = [kBase EXCEPT !["P"] = 0]
    /\ pending' = [pending EXCEPT !["P"] = <<>>]
    /\ UNCHANGED <<clientVars, netVars, epoch, logData, logDets, logClientAck, failover,
                   protected, sswEpoch, ckpt, logDetBase, logDropTo, ckpts>>

\* Host B dies before it serves: the logger is lost and P goes unprotected
\* (ssw.md L.2). The logger's variables stay as the record of what was stored.
BackupCrash ==
    /\ "backup" \in Failures /\ crashes < MaxCrashes /\ protected
    /\ hostUp["B"] /\ hostUp["P"] /\ failover = "none"
    /\ crashes' = crashes + 1
    /\ hostUp' = [hostUp EXCEPT !["B"] = FALSE]
    /\ protected' = FALSE
    /\ UNCHANGED <<clientVars, netVars, epoch, logData, logDets, logClientAck, failover,
                   sswActive, sswEpoch, deltaSeq, loggedSeq, stableSeq, sentAck, clientAck,
                   kernVars, appVars, ckptVars>>

\* R9: the detector suspects P: rightly after a crash, or falsely (a failure).
SuspectCrashed ==
    /\ failover = "none" /\ hostUp["B"] /\ ~hostUp["P"]
    /\ failover' = "suspected"
    /\ UNCHANGED <<clientVars, netVars, epoch, logData, logDets, logClientAck, crashes,
                   protected, sswVars, kernVars, appVars, ckptVars>>
SuspectFalsely ==
    /\ "suspect" \in Failures /\ failover = "none" /\ hostUp["B"] /\ hostUp["P"] /\ protected
    /\ crashes < MaxCrashes
    /\ failover' = "suspected"
    /\ crashes' = crashes + 1
    /\ UNCHANGED <<clientVars, netVars, epoch, logData, logDets, logClientAck, protected,
                   sswVars, kernVars, appVars, ckptVars>>
Suspect == SuspectCrashed \/ SuspectFalsely

\* R8: the coordinator fences the old incarnation by raising the logger's epoch.
Fence ==
    /\ failover = "suspected"
    /\ epoch' = IF "noFencing" \in Bugs THEN epoch ELSE epoch + 1
    /\ failover' = "fenced"
    /\ UNCHANGED <<clientVars, netVars, logData, logDets, logClientAck, crashes, protected,
                   sswVars, kernVars, appVars, ckptVars>>

\* R10 failover: B's SSW becomes active in the fenced epoch from the logged record
\* (R6.1) and B's application starts replaying (R11); SswRecreate follows.
Takeover ==
    /\ failover = "fenced" /\ hostUp["B"]
    /\ failover' = "done"
    /\ sswActive' = [sswActive EXCEPT !["B"] = TRUE]
    /\ sswEpoch' = [sswEpoch EXCEPT !["B"] = epoch]
    /\ clientAck' = [clientAck EXCEPT !["B"] = logClientAck]
    /\ loggedSeq' = [loggedSeq EXCEPT !["B"] = logData]
    /\ stableSeq' = [stableSeq EXCEPT !["B"] = logData]
    /\ appUp' = [appUp EXCEPT !["B"] = TRUE]
    /\ RestoreFrom("B")
    /\ UNCHANGED <<clientVars, netVars, epoch, logData, logDets, logClientAck, crashes,
                   protected, hostUp, deltaSeq, sentAck, kernVars, ckptVars>>

\* ssw.md L.5: a fenced SSW learns it (logger Error) and drops everything,
\* aborting its sockets silently; its application is stopped.
ZombieStop(h) ==
    /\ SswLive(h) /\ LoggerUp /\ sswEpoch[h] # epoch
    /\ sswActive' = [sswActive EXCEPT ![h] = FALSE]
    /\ kSock' = [kSock EXCEPT ![h] = FALSE]
    /\ kernelAck' = [kernelAck EXCEPT ![h] = 0]
    /\ kBuf' = [kBuf EXCEPT ![h] = <<>>]
    /\ kFin' = [kFin EXCEPT ![h] = "none"]
    /\ appUp' = [appUp EXCEPT ![h] = FALSE]
    /\ AppVarsReset(h)
    /\ replay' = [replay EXCEPT ![h] = <<>>]
    /\ stableDet' = [stableDet EXCEPT ![h] = 0]
    /\ kBase' = [kBase EXCEPT ![h] = 0]
    /\ pending' = [pending EXCEPT ![h] = <<>>]
    /\ UNCHANGED <<clientVars, netVars, logVars, hostUp, sswEpoch, deltaSeq, loggedSeq,
                   stableSeq, sentAck, clientAck, ckpt, logDetBase, logDropTo, ckpts>>

-----------------------------------------------------------------------------
(* Checkpoints and truncation (spec/nsw.md R13, spec/logger.md R14).        *)

\* R13.2: a live incarnation's NSW takes a checkpoint between two deliveries (every
\* step here is one), not while replaying, only with its connection's socket back
\* and no checkpoint of its own in flight. The output tail starts at what the
\* client had acknowledged (R13.1: released - unacked, i.e. the kernel's snd.una,
\* which the SSW feeds with the client's acks). truncateEarly: the logger drops
\* what the checkpoint covers as soon as it starts to arrive, before it is stored.
\* noOutputTail: the checkpoint holds none of the output the client may not have.
NswCheckpoint(h) ==
    /\ ckpts < MaxCheckpoints
    /\ hostUp[h] /\ appUp[h] /\ kSock[h] /\ ~Replaying(h) /\ pending[h] = <<>>
    /\ LET from == IF "noOutputTail" \in Bugs THEN Len(appOut[h])
                   ELSE Min(clientAck[h], released[h])
           c == [dets |-> nswDets[h], in |-> appIn[h], out |-> appOut[h],
                 closed |-> appClosed[h], outFrom |-> from]
       IN /\ pending' = [pending EXCEPT ![h] = <<c>>]
          /\ IF "truncateEarly" \in Bugs
             THEN /\ logDetBase' = Max(logDetBase, Len(c.dets))
                  /\ logDropTo' = Max(logDropTo, c.in)
             ELSE UNCHANGED <<logDetBase, logDropTo>>
    /\ ckpts' = ckpts + 1
    /\ UNCHANGED <<clientVars, netVars, logVars, sswVars, kernVars, appVars, ckpt>>

\* R14.2: the logger stores a checkpoint of the incarnation of its epoch once every
\* determinant it covers is stored; R14.4, R14.5: it replaces the older one and the
\* log is truncated by it (client bytes the application had consumed may not all be
\* stored yet, R14.3: those below logDropTo are then not held when they arrive).
LoggerStoreCheckpoint(h) ==
    /\ Accepts(h) /\ pending[h] # <<>>
    /\ Len(logDets) >= Len(pending[h][1].dets)
    /\ ckpt' = pending[h][1]
    /\ pending' = [pending EXCEPT ![h] = <<>>]
    /\ logDetBase' = Max(logDetBase, Len(pending[h][1].dets))
    /\ logDropTo' = Max(logDropTo, pending[h][1].in)
    /\ UNCHANGED <<clientVars, netVars, logVars, sswVars, kernVars, appVars, ckpts>>

-----------------------------------------------------------------------------
Next ==
    \/ ClientWrite
    \/ \E s \in 0..(NIn - 1) : ClientSendData(s)
    \/ ClientSendAck
    \/ \E m \in toClient, keep \in BOOLEAN : ClientRecv(m, keep)
    \/ \E m \in toServer : LoseToServer(m)
    \/ \E m \in toClient : LoseToClient(m)
    \/ \E h \in Hosts :
        \/ \E m \in toServer, keep \in BOOLEAN : SswRecv(h, m, keep)
        \/ SswSendAck(h)
        \/ \E j \in 1..Len(kBuf[h]) : SswSendData(h, j)
        \/ SswSendFin(h)
        \/ SswInject(h)
        \/ SswAbort(h)
        \/ \E d \in Deltas : SswRecreate(h, d)
        \/ LoggerStoreData(h)
        \/ LoggerStoreDet(h)
        \/ \E n \in 1..NIn : AppRead(h, n)
        \/ AppClose(h)
        \/ NswRelease(h)
        \/ NswReleaseClose(h)
        \/ AppCrash(h)
        \/ AppRestart(h)
        \/ ZombieStop(h)
        \/ NswCheckpoint(h)
        \/ LoggerStoreCheckpoint(h)
    \/ PrimaryCrash
    \/ BackupCrash
    \/ Suspect
    \/ Fence
    \/ Takeover

\* Fairness, kept apart from safety. Failures and losses get none; a receive is
\* strongly fair per segment because loss may disable it again and again.
Fairness ==
    /\ WF_vars(ClientWrite)
    /\ \A s \in 0..(NIn - 1) : WF_vars(ClientSendData(s))
    /\ WF_vars(ClientSendAck)
    /\ \A m \in ToClientMsgs : SF_vars(\E keep \in BOOLEAN : ClientRecv(m, keep))
    /\ \A h \in Hosts :
        /\ \A m \in ToServerMsgs : SF_vars(\E keep \in BOOLEAN : SswRecv(h, m, keep))
        /\ WF_vars(SswSendAck(h))
        /\ \A j \in 1..NIn : WF_vars(SswSendData(h, j))
        /\ WF_vars(SswSendFin(h))
        /\ WF_vars(SswInject(h))
        /\ WF_vars(SswAbort(h))
        /\ WF_vars(\E d \in Deltas : SswRecreate(h, d))
        /\ WF_vars(LoggerStoreData(h))
        /\ WF_vars(LoggerStoreDet(h))
        /\ WF_vars(\E n \in 1..NIn : AppRead(h, n))
        /\ WF_vars(AppClose(h))
        /\ WF_vars(NswRelease(h))
        /\ WF_vars(NswReleaseClose(h))
        /\ WF_vars(AppRestart(h))
        /\ WF_vars(ZombieStop(h))
        /\ WF_vars(LoggerStoreCheckpoint(h))
    /\ WF_vars(SuspectCrashed)
    /\ WF_vars(Fence)
    /\ WF_vars(Takeover)

Spec == Init /\ [][Next]_vars
FairSpec == Spec /\ Fairness

-----------------------------------------------------------------------------
(* Invariants (spec/protocol.md). "protected" scopes the ones whose promise  *)
(* ends when the logger is lost (ssw.md L.2: the primary goes unprotected).  *)

\* I1: no ack the client has seen or can still see covers an unstored byte.
NoAckOfUnloggedByte ==
    protected =>
        /\ cAcked <= logData
        /\ \A m \in toClient : m.kind = "ack" => m.ack <= logData

\* I2: the client holds a prefix of a failure-free run's output; a FIN only at its end.
ClientStreamIntegrity ==
    \E out \in FailureFreeOutputs :
        /\ IsPrefix(cRcv, out)
        /\ cFin => cRcv = out

\* I3: each incarnation's application has read exactly a prefix of the client's
\* stream, every chunk recorded as a determinant, and no byte the client did not send.
ServerInputIntegrity ==
    \A h \in Hosts :
        /\ kernelAck[h] <= cSent
        /\ appUp[h] => /\ appIn[h] <= kernelAck[h] \/ ~kSock[h]
                       /\ appIn[h] = ReadTotal(nswDets[h])
                       /\ appOut[h] = OutOf(nswDets[h])

\* I4: a FIN reaches the client only where a logged close put it (an RST is the
\* same case in this model: a crash's RST is a kernel close the SSW must hold).
NoSpuriousCloseOrReset ==
    protected => (cFin => CloseLoggedAt(Len(cRcv)))

\* I5: only the incarnation of the logger's epoch can have anything stored.
OneActiveIncarnation ==
    Cardinality({h \in Hosts : SswLive(h) /\ sswEpoch[h] = epoch}) <= 1

\* I6: every item the client holds follows from stored determinants.
OutputCommit ==
    protected => IsPrefix(cRcv, OutOf(logDets))

\* I7: truncation never drops a byte or a determinant a recovery can still need.
\* A recovery starting now restores the stored checkpoint (R13.6), replays the
\* stored determinants after it (R11) and injects the stored client bytes from its
\* read position (R6.11): every one of those must still be held by the logger; and
\* the output it does not regenerate, from the checkpoint's outputFrom on, must be
\* in the checkpoint, so outputFrom may not pass what the client holds (R13.1).
TruncationSafe ==
    /\ logDetBase <= Len(ckpt.dets)
    /\ logData <= ckpt.in \/ logDropTo <= ckpt.in
    /\ ckpt.outFrom <= Len(cRcv)

\* L1: if the backup stays up, the application gets every client byte and the
\* client gets the whole reply and the FIN.
EventualDelivery ==
    [](hostUp["B"]) => (<>(\E h \in Hosts : appIn[h] = NIn) /\ <>cFin)

=============================================================================
