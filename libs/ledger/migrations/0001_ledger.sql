-- The consent ledger. Append-only is enforced here, by the database, not only by
-- the service: row triggers refuse UPDATE and DELETE, a statement trigger refuses
-- TRUNCATE, an insert trigger refuses gaps in seq and any entry_hash that is not
-- SHA-256(previous entry_hash || canonical entry), and the service role may only
-- INSERT and SELECT.

CREATE TABLE ledger_entries (
  seq         bigint PRIMARY KEY CHECK (seq > 0),
  event_id    text NOT NULL UNIQUE,
  type        text NOT NULL,
  jti         text,
  recorded_at timestamptz NOT NULL,
  canonical   bytea NOT NULL,
  entry_hash  bytea NOT NULL CHECK (length(entry_hash) = 32),
  leaf_hash   bytea NOT NULL CHECK (length(leaf_hash) = 32)
);
CREATE INDEX ledger_entries_jti ON ledger_entries (jti) WHERE jti IS NOT NULL;
CREATE INDEX ledger_entries_recorded_at ON ledger_entries (recorded_at);

CREATE TABLE ledger_checkpoints (
  size          bigint PRIMARY KEY CHECK (size > 0),
  root          bytea NOT NULL CHECK (length(root) = 32),
  note          text NOT NULL,
  previous_size bigint,
  -- RFC 9162 consistency proof from previous_size to size (32-byte hashes, concatenated): the STH chain.
  consistency   bytea NOT NULL CHECK (length(consistency) % 32 = 0),
  created_at    timestamptz NOT NULL
);

CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the ledger is append-only: % on % is refused', TG_OP, TG_TABLE_NAME;
END $$;

CREATE FUNCTION ledger_check_chain() RETURNS trigger LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  prev bytea;
BEGIN
  IF NEW.seq = 1 THEN
    prev := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
  ELSE
    -- Rows inserted earlier by the same statement are visible here, so multi-row inserts chain too.
    SELECT entry_hash INTO prev FROM ledger_entries WHERE seq = NEW.seq - 1;
    IF prev IS NULL THEN
      RAISE EXCEPTION 'ledger seq % would leave a gap', NEW.seq;
    END IF;
  END IF;
  IF NEW.entry_hash <> sha256(prev || NEW.canonical) THEN
    RAISE EXCEPTION 'ledger entry % does not chain: entry_hash <> SHA-256(prev || canonical)', NEW.seq;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER ledger_entries_chain BEFORE INSERT ON ledger_entries FOR EACH ROW EXECUTE FUNCTION ledger_check_chain();
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_checkpoints_append_only BEFORE UPDATE OR DELETE ON ledger_checkpoints FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_checkpoints_no_truncate BEFORE TRUNCATE ON ledger_checkpoints FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ctp_ledger_writer') THEN
    CREATE ROLE ctp_ledger_writer NOLOGIN;
  END IF;
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO ctp_ledger_writer', current_schema());
  GRANT SELECT, INSERT ON ledger_entries, ledger_checkpoints TO ctp_ledger_writer;
END $$;
