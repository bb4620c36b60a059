-------------------- MODULE MCOneFailure --------------------
(* One failure of any kind (app crash, primary crash, backup crash, false suspicion): local recovery, failover, zombie primary, logger loss. *)
EXTENDS FtTcp
MCDeltas == {0, -1}
MCFailures == {"app", "primary", "backup", "suspect"}
MCBugs == {}
\* At most MaxInFlight segments per direction keeps the set of segments small.
MaxInFlight == 2
NetBound == Cardinality(toServer) <= MaxInFlight /\ Cardinality(toClient) <= MaxInFlight
=============================================================================
