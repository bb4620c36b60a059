---------------------------- MODULE MCTwoBytesFailure ----------------------------
(* Two bytes, two read splits, one failure: replay of split reads (R11) and local acks (R6.6). *)
EXTENDS FtTcp
MCDeltas == {0, -1}
MCBugs == {}
\* At most MaxInFlight segments per direction keeps the set of segments small.
MaxInFlight == 1
NetBound == Cardinality(toServer) <= MaxInFlight /\ Cardinality(toClient) <= MaxInFlight
=============================================================================
