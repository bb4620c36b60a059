---------------------------- MODULE MCLiveness ----------------------------
(* L1 EventualDelivery under FairSpec with one failure of any kind. *)
EXTENDS FtTcp
MCDeltas == {0}
MCBugs == {}
\* At most MaxInFlight segments per direction keeps the set of segments small. A receive
\* always stays inside the bound, so the bound cuts no behaviour short (no false stutter).
MaxInFlight == 2
NetBound == Cardinality(toServer) <= MaxInFlight /\ Cardinality(toClient) <= MaxInFlight
=============================================================================
