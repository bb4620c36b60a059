-------------------- MODULE MCBugNoInject --------------------
(* Negative liveness: a re-created connection never gets the logged client stream injected (R6.5 missing); bytes the client saw acked never reach the new application. *)
EXTENDS FtTcp
MCDeltas == {0}
MCFailures == {"app"}
MCBugs == {"noInject"}
\* At most MaxInFlight segments per direction keeps the set of segments small. A receive
\* always stays inside the bound, so fair behaviours are not cut short.
MaxInFlight == 1
NetBound == Cardinality(toServer) <= MaxInFlight /\ Cardinality(toClient) <= MaxInFlight
=============================================================================
