-------------------- MODULE MCBugTruncateEarly --------------------
(* Negative: the logger truncates by a checkpoint as soon as it starts to arrive, *)
(* before it is stored (R14.2 broken). A recovery starting then restores the      *)
(* older checkpoint and needs what was dropped: I7 TruncationSafe must fail.      *)
EXTENDS FtTcp
MCDeltas == {0}
MCFailures == {"app"}
MCBugs == {"truncateEarly"}
\* At most MaxInFlight segments per direction keeps the set of segments small.
MaxInFlight == 1
NetBound == Cardinality(toServer) <= MaxInFlight /\ Cardinality(toClient) <= MaxInFlight
=============================================================================
