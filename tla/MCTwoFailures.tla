-------------------- MODULE MCTwoFailures --------------------
(* Two failures among app and primary crashes: a crash during recovery restarts it (R10), a failover after a local recovery. *)
EXTENDS FtTcp
MCDeltas == {0, -1}
MCFailures == {"app", "primary"}
MCBugs == {}
\* At most MaxInFlight segments per direction keeps the set of segments small.
MaxInFlight == 1
NetBound == Cardinality(toServer) <= MaxInFlight /\ Cardinality(toClient) <= MaxInFlight
=============================================================================
