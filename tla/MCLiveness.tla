-------------------- MODULE MCLiveness --------------------
(* L1 EventualDelivery under FairSpec with one app or primary crash. *)
EXTENDS FtTcp
MCDeltas == {0}
MCFailures == {"app", "primary"}
MCBugs == {}
\* At most MaxInFlight segments per direction keeps the set of segments small. A receive
\* always stays inside the bound, so fair behaviours are not cut short.
MaxInFlight == 1
NetBound == Cardinality(toServer) <= MaxInFlight /\ Cardinality(toClient) <= MaxInFlight
=============================================================================
