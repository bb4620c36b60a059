-------------------- MODULE MCTwoBytesFailover --------------------
(* Two bytes, both read splits, one primary crash: failover with replay of split reads and a stale logged clientAck. *)
EXTENDS FtTcp
MCDeltas == {0, -1}
MCFailures == {"primary"}
MCBugs == {}
\* At most MaxInFlight segments per direction keeps the set of segments small.
MaxInFlight == 1
NetBound == Cardinality(toServer) <= MaxInFlight /\ Cardinality(toClient) <= MaxInFlight
=============================================================================
