-------------------- MODULE MCBugNoFencing --------------------
(* Negative: the coordinator takes over without raising the epoch (R8 broken). *)
EXTENDS FtTcp
MCDeltas == {0, -1}
MCFailures == {"app", "primary", "backup", "suspect"}
MCBugs == {"noFencing"}
\* At most MaxInFlight segments per direction keeps the set of segments small.
MaxInFlight == 2
NetBound == Cardinality(toServer) <= MaxInFlight /\ Cardinality(toClient) <= MaxInFlight
=============================================================================
