---------------------------- MODULE MCOneFailure ----------------------------
(* One failure of any kind (app crash, primary crash, backup crash, false suspicion) with local recovery or failover. *)
EXTENDS FtTcp
MCDeltas == {0, -1}
MCBugs == {}
\* At most MaxInFlight segments per direction keeps the set of segments small.
MaxInFlight == 2
NetBound == Cardinality(toServer) <= MaxInFlight /\ Cardinality(toClient) <= MaxInFlight
=============================================================================
