-------------------- MODULE MCTwoBytesLocal --------------------
(* Two bytes, both read splits, one app crash: replay of split reads (R11), local ack of held output (R6.6), translation. *)
EXTENDS FtTcp
MCDeltas == {0, -1}
MCFailures == {"app"}
MCBugs == {}
\* At most MaxInFlight segments per direction keeps the set of segments small.
MaxInFlight == 1
NetBound == Cardinality(toServer) <= MaxInFlight /\ Cardinality(toClient) <= MaxInFlight
=============================================================================
