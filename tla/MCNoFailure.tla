-------------------- MODULE MCNoFailure --------------------
(* Data path without failures: R1 clamp, R3/R4 with both read splits of two bytes. *)
EXTENDS FtTcp
MCDeltas == {0}
MCFailures == {}
MCBugs == {}
\* At most MaxInFlight segments per direction keeps the set of segments small.
MaxInFlight == 2
NetBound == Cardinality(toServer) <= MaxInFlight /\ Cardinality(toClient) <= MaxInFlight
=============================================================================
