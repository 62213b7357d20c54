-- The chain trigger's checks, made independent of the ledger's size. Two of 0004's queries read
-- the whole table under some plans, and PL/pgSQL caches a plan (generic, without the values):
-- * the duplicate-event check joined the statement's rows to ledger_entries on event_id and
--   grouped: after a few batches of thousands of rows it is a merge join over the whole event_id
--   index, so a one-entry append read every entry's event_id (25 ms with 60,000 entries on
--   PostgreSQL, growing with the ledger). It now probes the index once per new row for an earlier
--   entry with the same event_id (the new row itself is excluded by seq, which the checks before
--   it proved unique): a LATERAL subquery with LIMIT is never turned into a join over the table.
-- * "no entry after the batch" was EXISTS (... WHERE seq > v_last): without statistics (PGlite
--   has no autovacuum, so never any) that is a sequential scan. It is now max(seq), which is
--   one backward step along the primary key of each partition whatever the statistics.
-- Everything else is 0004's function unchanged.

CREATE OR REPLACE FUNCTION ledger_check_chain_batch() RETURNS trigger LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_first bigint;
  v_last  bigint;
  n         bigint;
  prev      bytea;
  broken    bigint;
  dup       text;
BEGIN
  SELECT min(seq), max(seq), count(*) INTO v_first, v_last, n FROM new_entries;
  IF n = 0 THEN
    RETURN NULL;
  END IF;
  PERFORM pg_advisory_xact_lock(4271300002);
  IF (SELECT count(*) FROM ledger_entries WHERE seq BETWEEN v_first AND v_last) <> n
     OR coalesce((SELECT max(seq) FROM ledger_entries), 0) > v_last
     OR EXISTS (SELECT 1 FROM ledger_segments s WHERE s.last_seq >= v_first) THEN
    RAISE EXCEPTION 'ledger seq % is already taken', v_first USING ERRCODE = 'unique_violation';
  END IF;
  IF v_last - v_first + 1 <> n THEN
    SELECT s.seq + 1 INTO broken FROM (SELECT seq, lead(seq) OVER (ORDER BY seq) AS next FROM new_entries) s
      WHERE s.next <> s.seq + 1 ORDER BY s.seq LIMIT 1;
    RAISE EXCEPTION 'ledger seq % would leave a gap', coalesce(broken, v_last);
  END IF;
  IF v_first = 1 THEN
    prev := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
  ELSE
    SELECT entry_hash INTO prev FROM ledger_entries WHERE seq = v_first - 1;
    IF prev IS NULL THEN
      SELECT last_entry_hash INTO prev FROM ledger_segments s WHERE s.last_seq = v_first - 1 AND s.tier <> 'sealing';
    END IF;
    IF prev IS NULL THEN
      RAISE EXCEPTION 'ledger seq % would leave a gap', v_first;
    END IF;
  END IF;
  -- One index probe per new row (a LATERAL subquery with LIMIT is never turned into a join
  -- over the whole table), so the cost is O(rows x log entries) whatever plan is cached.
  SELECT n.event_id INTO dup FROM new_entries n
    CROSS JOIN LATERAL (SELECT 1 FROM ledger_entries e WHERE e.event_id = n.event_id AND e.seq <> n.seq LIMIT 1) earlier
    LIMIT 1;
  IF dup IS NOT NULL THEN
    RAISE EXCEPTION 'ledger event % is already recorded', dup USING ERRCODE = 'unique_violation';
  END IF;
  SELECT c.seq INTO broken FROM (
    SELECT seq, entry_hash, canonical, lag(entry_hash, 1, prev) OVER (ORDER BY seq) AS prev_hash FROM new_entries
  ) c WHERE c.entry_hash <> sha256(c.prev_hash || c.canonical) ORDER BY c.seq LIMIT 1;
  IF broken IS NOT NULL THEN
    RAISE EXCEPTION 'ledger entry % does not chain: entry_hash <> SHA-256(prev || canonical)', broken;
  END IF;
  RETURN NULL;
END $$;
