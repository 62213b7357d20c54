-- Storage tiers (docs/ledger-tiers.md). The hot tier becomes monthly partitions of
-- ledger_entries by server time (recorded_at, UTC months); the retention job seals a
-- whole old partition into a verified segment file and then drops it (never a row
-- DELETE). ledger_segments is the catalog of sealed segments and the retention
-- job's state.
--
-- A unique constraint on a partitioned table must include the partition key, so
-- PRIMARY KEY (seq) and UNIQUE (event_id) cannot stay as they were. The chain
-- trigger (below) enforces both instead, under the append advisory lock.

ALTER TABLE ledger_entries RENAME TO ledger_entries_unpartitioned;

CREATE TABLE ledger_entries (
  seq         bigint NOT NULL CHECK (seq > 0),
  event_id    text NOT NULL,
  type        text NOT NULL,
  jti         text,
  recorded_at timestamptz NOT NULL,
  canonical   bytea NOT NULL,
  entry_hash  bytea NOT NULL CHECK (length(entry_hash) = 32),
  leaf_hash   bytea NOT NULL CHECK (length(leaf_hash) = 32),
  PRIMARY KEY (seq, recorded_at)
) PARTITION BY RANGE (recorded_at);

CREATE TABLE ledger_segments (
  first_seq        bigint PRIMARY KEY CHECK (first_seq > 0),
  last_seq         bigint NOT NULL CHECK (last_seq >= first_seq),
  -- A month is sealed into one or more segments (parts 0, 1, ...) of bounded size.
  partition_name   text NOT NULL,
  part             integer NOT NULL CHECK (part >= 0),
  range_from       timestamptz NOT NULL,
  range_to         timestamptz NOT NULL,
  prev_entry_hash  bytea NOT NULL CHECK (length(prev_entry_hash) = 32),
  last_entry_hash  bytea NOT NULL CHECK (length(last_entry_hash) = 32),
  -- sealing: being written, the entries are still in the hot partition; warm, cold:
  -- the partition is dropped and `path` holds the data; expired: retention ended,
  -- the data is deleted and `path` holds the leaf hashes only.
  tier             text NOT NULL CHECK (tier IN ('sealing', 'warm', 'cold', 'expired')),
  path             text NOT NULL,
  sha256           text,
  manifest         jsonb,
  sealed_at        timestamptz,
  moved_at         timestamptz,
  expired_at       timestamptz,
  UNIQUE (partition_name, part)
);

-- Month partition holding `ts` (UTC months), created with its own TRUNCATE guard
-- (statement triggers are not inherited by partitions; row triggers are). A month
-- already sealed into a segment is never recreated.
CREATE FUNCTION ledger_ensure_partition(ts timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  lo timestamptz := date_trunc('month', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  hi timestamptz := (date_trunc('month', ts AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
  name text := 'ledger_entries_p' || to_char(ts AT TIME ZONE 'UTC', 'YYYYMM');
BEGIN
  IF EXISTS (SELECT 1 FROM ledger_segments WHERE partition_name = name) THEN
    RETURN NULL;
  END IF;
  IF to_regclass(quote_ident(current_schema()) || '.' || name) IS NULL THEN
    EXECUTE format('CREATE TABLE %I PARTITION OF ledger_entries FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
    EXECUTE format('CREATE TRIGGER ledger_partition_no_truncate BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()', name);
  END IF;
  RETURN name;
END $$;
REVOKE EXECUTE ON FUNCTION ledger_ensure_partition(timestamptz) FROM PUBLIC;

-- Existing entries move into their month partitions (the triggers come after the copy).
DO $$
DECLARE
  m timestamptz;
BEGIN
  FOR m IN SELECT generate_series(
      date_trunc('month', coalesce((SELECT min(recorded_at) FROM ledger_entries_unpartitioned), now()) AT TIME ZONE 'UTC'),
      date_trunc('month', now() AT TIME ZONE 'UTC') + interval '2 months', interval '1 month') AT TIME ZONE 'UTC'
  LOOP
    PERFORM ledger_ensure_partition(m);
  END LOOP;
  -- months after now+2 that already hold entries (a clock ahead), if any
  FOR m IN SELECT DISTINCT date_trunc('month', recorded_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM ledger_entries_unpartitioned LOOP
    PERFORM ledger_ensure_partition(m);
  END LOOP;
END $$;
INSERT INTO ledger_entries SELECT seq, event_id, type, jti, recorded_at, canonical, entry_hash, leaf_hash FROM ledger_entries_unpartitioned ORDER BY seq;
DROP TABLE ledger_entries_unpartitioned;

CREATE INDEX ledger_entries_event_id ON ledger_entries (event_id);
CREATE INDEX ledger_entries_jti_p ON ledger_entries (jti) WHERE jti IS NOT NULL;
CREATE INDEX ledger_entries_recorded_at_p ON ledger_entries (recorded_at);

-- The chain check of 0003 (once per INSERT statement, over its rows as a transition
-- table), now on the partitioned table, where it also stands in for the unique
-- constraints a partitioned table cannot have. Under the append advisory lock (so
-- concurrent writers are serialised and each query below sees every committed row):
-- the statement's seqs are contiguous, start right after the newest earlier entry
-- (hot, or the newest sealed segment once a month has moved out) and are the newest
-- entries; no event_id is recorded twice in the hot tier; and every entry_hash is
-- SHA-256(previous entry_hash || canonical).
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
     OR EXISTS (SELECT 1 FROM ledger_entries WHERE seq > v_last)
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
  SELECT e.event_id INTO dup FROM ledger_entries e JOIN new_entries USING (event_id)
    GROUP BY e.event_id HAVING count(*) > 1 LIMIT 1;
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

CREATE TRIGGER ledger_entries_chain AFTER INSERT ON ledger_entries
  REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_chain_batch();
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ctp_ledger_writer') THEN
    CREATE ROLE ctp_ledger_writer NOLOGIN;
  END IF;
  GRANT SELECT, INSERT ON ledger_entries TO ctp_ledger_writer;
  GRANT SELECT ON ledger_segments TO ctp_ledger_writer;
END $$;
