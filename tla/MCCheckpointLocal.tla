-------------------- MODULE MCCheckpointLocal --------------------
(* Checkpoints with local recovery (R13, R14): two bytes, one checkpoint after   *)
(* the first is read, one application crash once it is stored; the recovery      *)
(* restores it, re-creates the connection at its read position, injects the      *)
(* second byte from the truncated log and replays the rest. I1..I7.              *)
EXTENDS FtTcp
MCDeltas == {0}
MCFailures == {"app"}
MCBugs == {}
\* At most MaxInFlight segments per direction keeps the set of segments small.
MaxInFlight == 1
NetBound == Cardinality(toServer) <= MaxInFlight /\ Cardinality(toClient) <= MaxInFlight
\* The interesting runs only (keeps TLC small): the checkpoint is taken after the
\* first byte is read, so the second must come from the truncated log; the crash
\* comes after it is stored (a crash with no stored checkpoint recovers from the
\* start, which is MCTwoBytesLocal's).
CkptFocus ==
    /\ \A h \in Hosts : pending[h] # <<>> => pending[h][1].in = 1
    /\ crashes > 0 => ckpt.in = 1
=============================================================================
