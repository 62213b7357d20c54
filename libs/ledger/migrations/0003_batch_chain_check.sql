-- The chain check, once per INSERT (or COPY) statement instead of once per row.
-- 0001's BEFORE INSERT row trigger ran a PL/pgSQL function with its own index
-- lookup for every entry; this AFTER INSERT statement trigger sees the statement's
-- rows as a transition table and checks them together with one window query. The
-- rules are unchanged: the new rows' seq values are contiguous and start right
-- after an entry that exists (or at 1), and each entry_hash is
-- SHA-256(previous entry_hash || canonical). A violation raises and aborts the
-- statement, so nothing that breaks the chain or leaves a gap is ever committed.

DROP TRIGGER ledger_entries_chain ON ledger_entries;
DROP FUNCTION ledger_check_chain();

CREATE FUNCTION ledger_check_chain_batch() RETURNS trigger LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  first_seq bigint;
  last_seq  bigint;
  n         bigint;
  prev      bytea;
  broken    bigint;
BEGIN
  SELECT min(seq), max(seq), count(*) INTO first_seq, last_seq, n FROM new_entries;
  IF n = 0 THEN
    RETURN NULL;
  END IF;
  IF first_seq = 1 THEN
    prev := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
  ELSE
    SELECT entry_hash INTO prev FROM ledger_entries WHERE seq = first_seq - 1;
    IF prev IS NULL THEN
      RAISE EXCEPTION 'ledger seq % would leave a gap', first_seq;
    END IF;
  END IF;
  -- seq is the primary key, so n distinct values spanning exactly n are contiguous.
  IF last_seq - first_seq + 1 <> n THEN
    SELECT s.seq + 1 INTO broken FROM (SELECT seq, lead(seq) OVER (ORDER BY seq) AS next FROM new_entries) s
      WHERE s.next <> s.seq + 1 ORDER BY s.seq LIMIT 1;
    RAISE EXCEPTION 'ledger seq % would leave a gap', coalesce(broken, last_seq);
  END IF;
  SELECT c.seq INTO broken FROM (
    SELECT seq, entry_hash, canonical, lag(entry_hash, 1, prev) OVER (ORDER BY seq) AS prev_hash FROM new_entries
  ) c WHERE c.entry_hash <> sha256(c.prev_hash || c.canonical) ORDER BY c.seq LIMIT 1;
  IF broken IS NOT NULL THEN
    RAISE EXCEPTION 'ledger entry % does not chain: entry_hash <> SHA-256(prev || canonical)', broken;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER ledger_entries_chain AFTER INSERT ON ledger_entries
  REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_chain_batch();
