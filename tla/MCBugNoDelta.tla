-------------------- MODULE MCBugNoDelta --------------------
(* Negative: a re-created connection is not translated by deltaSeq (R7.1 broken). *)
EXTENDS FtTcp
MCDeltas == {0, -1}
MCFailures == {"app", "primary", "backup", "suspect"}
MCBugs == {"noDelta"}
\* At most MaxInFlight segments per direction keeps the set of segments small.
MaxInFlight == 2
NetBound == Cardinality(toServer) <= MaxInFlight /\ Cardinality(toClient) <= MaxInFlight
=============================================================================
