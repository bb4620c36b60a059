-------------------- MODULE MCBugNoFencingClient --------------------
(* Negative: no fencing, seen from the client: after a false suspicion the old primary and B both log into one epoch, the log mixes their determinants, and the client gets output the stored log does not explain (R8 broken). *)
EXTENDS FtTcp
MCDeltas == {0}
MCFailures == {"suspect"}
MCBugs == {"noFencing"}
\* At most MaxInFlight segments per direction keeps the set of segments small.
MaxInFlight == 1
NetBound == Cardinality(toServer) <= MaxInFlight /\ Cardinality(toClient) <= MaxInFlight
=============================================================================
