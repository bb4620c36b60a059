---------------------------- MODULE MCBugFinAtAnyPosition ----------------------------
(* Negative: the SSW passes a kernel FIN once any close is logged, without checking that the FIN sits where the close was logged (R5.2 weakened). *)
EXTENDS FtTcp
MCDeltas == {0, -1}
MCBugs == {"finAtAnyPosition"}
\* At most MaxInFlight segments per direction keeps the set of segments small.
MaxInFlight == 2
NetBound == Cardinality(toServer) <= MaxInFlight /\ Cardinality(toClient) <= MaxInFlight
=============================================================================
