-- One retention sweep batch of :batch rows in its own transaction (psql autocommits), then this
-- file again while the batch deleted anything. Run with \timing on: each call prints psql's
-- "Time: <ms> ms" (the client's round trip, an upper bound on how long the batch held its row
-- locks), then the rows it deleted.
SELECT n AS swept, n > 0 AS more FROM psqlqueue.sweep(:batch) AS n \gset
\echo :swept
\if :more
\ir sweep_step.sql
\endif
