-------------------- MODULE MCCheckpointFailover --------------------
(* Checkpoints with failover (R13, R14): one byte, one checkpoint after it is     *)
(* read (so the byte is truncated and the reply may be in the output tail), a    *)
(* primary host crash before or after it is stored; the backup restores the      *)
(* stored checkpoint, re-creates the connection at its position and replays the  *)
(* rest. I1..I7.                                                                 *)
EXTENDS FtTcp
MCDeltas == {0}
MCFailures == {"primary"}
MCBugs == {}
\* At most MaxInFlight segments per direction keeps the set of segments small.
MaxInFlight == 1
NetBound == Cardinality(toServer) <= MaxInFlight /\ Cardinality(toClient) <= MaxInFlight
\* The interesting runs only (keeps TLC small): the checkpoint is taken after the
\* byte is read; the failure comes after it is taken (a failure with no checkpoint
\* is MCOneFailure's).
CkptFocus ==
    /\ \A h \in Hosts : pending[h] # <<>> => pending[h][1].in = 1
    /\ crashes > 0 => ckpts = 1
=============================================================================
