-------------------- MODULE MCBugNoOutputTail --------------------
(* Negative: a checkpoint without the output the client has not acknowledged     *)
(* (R13.1 broken: the tail starts at what the application wrote). A recovery      *)
(* from it would never send that output again: I7 TruncationSafe must fail.       *)
EXTENDS FtTcp
MCDeltas == {0}
MCFailures == {"primary"}
MCBugs == {"noOutputTail"}
\* At most MaxInFlight segments per direction keeps the set of segments small.
MaxInFlight == 1
NetBound == Cardinality(toServer) <= MaxInFlight /\ Cardinality(toClient) <= MaxInFlight
=============================================================================
