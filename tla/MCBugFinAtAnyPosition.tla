-------------------- MODULE MCBugFinAtAnyPosition --------------------
(* Negative: the SSW passes a kernel FIN once any close is logged, wherever the FIN sits (R5.2 weakened). *)
EXTENDS FtTcp
MCDeltas == {0, -1}
MCFailures == {"app", "primary", "backup", "suspect"}
MCBugs == {"finAtAnyPosition"}
\* At most MaxInFlight segments per direction keeps the set of segments small.
MaxInFlight == 2
NetBound == Cardinality(toServer) <= MaxInFlight /\ Cardinality(toClient) <= MaxInFlight
=============================================================================
