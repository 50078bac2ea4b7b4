-- psqlqueue 0.2.0 -> 0.3.0. Run by ALTER EXTENSION psqlqueue UPDATE; never by hand.
-- Only a function's settings change; tables and data are untouched.
\echo Use "ALTER EXTENSION psqlqueue UPDATE TO '0.3.0'" to load this file. \quit

-- Change 1: receive's generic plan guesses the head at a tenth of the queue; with a few million
-- messages a hash join that reads the whole table would look cheaper than probing the primary
-- key per head row. Without hash and merge joins the UPDATE and DELETE can only probe.
ALTER FUNCTION psqlqueue.receive(text, text, int) SET enable_hashjoin = off;
ALTER FUNCTION psqlqueue.receive(text, text, int) SET enable_mergejoin = off;
