-------------------- MODULE MCBugNoAckClamp --------------------
(* Negative: the SSW lets the kernel ack through unclamped (R1.2 broken). *)
EXTENDS FtTcp
MCDeltas == {0, -1}
MCFailures == {"app", "primary", "backup", "suspect"}
MCBugs == {"noAckClamp"}
\* At most MaxInFlight segments per direction keeps the set of segments small.
MaxInFlight == 2
NetBound == Cardinality(toServer) <= MaxInFlight /\ Cardinality(toClient) <= MaxInFlight
=============================================================================
