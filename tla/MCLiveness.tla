---------------------------- MODULE MCLiveness ----------------------------
(* L1 under fairness, one failure, no state constraint (liveness needs the whole graph). *)
EXTENDS FtTcp
MCDeltas == {0, -1}
MCBugs == {}
=============================================================================
