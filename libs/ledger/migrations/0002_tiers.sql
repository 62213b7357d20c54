-- Storage tiers (docs/ledger-tiers.md). The hot tier becomes monthly partitions of
-- ledger_entries by server time (recorded_at, UTC months); the retention job seals a
-- whole old partition into a verified segment file and then drops it (never a row
-- DELETE). ledger_segments is the catalog of sealed segments and the retention
-- job's state.
--
-- A unique constraint on a partitioned table must include the partition key, so
-- PRIMARY KEY (seq) and UNIQUE (event_id) cannot stay as they were. The chain
-- trigger enforces both instead, under the append advisory lock: a new row's seq
-- must be exactly the head's seq + 1 (gap-free and unique in one check, as the
-- head never leaves the hot tier), and its event_id must not be in the hot tier.

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

CREATE OR REPLACE FUNCTION ledger_check_chain() RETURNS trigger LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  head_seq bigint;
  prev bytea;
BEGIN
  -- The lock the store's append takes; taken here too, so any writer is serialised
  -- and the checks below see every committed row (each query takes a new snapshot).
  PERFORM pg_advisory_xact_lock(4271300002);
  -- Rows inserted earlier by the same statement are visible here, so multi-row inserts chain too.
  SELECT seq, entry_hash INTO head_seq, prev FROM ledger_entries ORDER BY seq DESC LIMIT 1;
  IF head_seq IS NULL THEN
    SELECT last_seq, last_entry_hash INTO head_seq, prev FROM ledger_segments WHERE tier <> 'sealing' ORDER BY last_seq DESC LIMIT 1;
  END IF;
  IF head_seq IS NULL THEN
    head_seq := 0;
    prev := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
  END IF;
  IF NEW.seq <= head_seq THEN
    RAISE EXCEPTION 'ledger seq % is already taken', NEW.seq USING ERRCODE = 'unique_violation';
  END IF;
  IF NEW.seq > head_seq + 1 THEN
    RAISE EXCEPTION 'ledger seq % would leave a gap', NEW.seq;
  END IF;
  IF EXISTS (SELECT 1 FROM ledger_entries WHERE event_id = NEW.event_id) THEN
    RAISE EXCEPTION 'ledger event % is already recorded', NEW.event_id USING ERRCODE = 'unique_violation';
  END IF;
  IF NEW.entry_hash <> sha256(prev || NEW.canonical) THEN
    RAISE EXCEPTION 'ledger entry % does not chain: entry_hash <> SHA-256(prev || canonical)', NEW.seq;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER ledger_entries_chain BEFORE INSERT ON ledger_entries FOR EACH ROW EXECUTE FUNCTION ledger_check_chain();
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
