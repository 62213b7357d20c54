-- The HA ledger writer (docs/operations.md, "Ledger writer: one leader, standbys"). Several
-- writers run; exactly one appends: the one holding the leader lock, a session-level advisory
-- lock (the two-key form 427130003, hashtext(schema): advisory locks are per database, so each
-- ledger schema in a database has its own) on a dedicated connection that the server itself drops when the holder stops
-- talking (idle_session_timeout), so a crashed or paused leader loses it in bounded time.
--
-- A lock alone cannot stop a paused leader that wakes up with a batch in hand, so every leader
-- claims the next epoch in ledger_leader_epochs while holding the lock, stamps each batch of
-- entries (and each checkpoint) with it, and the database refuses any INSERT stamped with an
-- epoch other than the newest (fencing, as with a fencing token): once another writer claimed a
-- newer epoch, an old leader can never append or sign again, however long it slept.
--
-- A ledger that never had a leader (ctp up, a single writer without the lease) appends unstamped
-- rows as before; once an epoch is claimed, unstamped rows are refused too.

CREATE TABLE ledger_leader_epochs (
  epoch      bigint PRIMARY KEY CHECK (epoch > 0),
  holder     text NOT NULL CHECK (length(holder) BETWEEN 1 AND 200),
  claimed_at timestamptz NOT NULL DEFAULT now()
);

-- An epoch is claimed by the session holding the leader lock, one more than the newest, under
-- the append lock (so it is ordered against every append).
CREATE FUNCTION ledger_check_epoch_claim() RETURNS trigger LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(4271300002);
  IF NOT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
                 AND classid = 427130003::oid AND objid = hashtext(TG_TABLE_SCHEMA)::oid AND objsubid = 2) THEN
    RAISE EXCEPTION 'a ledger leader epoch is claimed only by the session holding the leader lock' USING ERRCODE = 'CTPLF';
  END IF;
  IF NEW.epoch <> coalesce((SELECT max(epoch) FROM ledger_leader_epochs), 0) + 1 THEN
    RAISE EXCEPTION 'ledger leader epoch % is not the next one', NEW.epoch USING ERRCODE = 'CTPLF';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER ledger_leader_epochs_claim BEFORE INSERT ON ledger_leader_epochs FOR EACH ROW EXECUTE FUNCTION ledger_check_epoch_claim();
CREATE TRIGGER ledger_leader_epochs_append_only BEFORE UPDATE OR DELETE ON ledger_leader_epochs FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_leader_epochs_no_truncate BEFORE TRUNCATE ON ledger_leader_epochs FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

ALTER TABLE ledger_entries ADD COLUMN leader_epoch bigint;
ALTER TABLE ledger_checkpoints ADD COLUMN leader_epoch bigint;

-- The fence, once per INSERT statement on entries and checkpoints: every new row carries the
-- newest epoch (or none, while no epoch was ever claimed). Under the append lock, so a claim and
-- an append never interleave.
CREATE FUNCTION ledger_check_leader_epoch() RETURNS trigger LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  current_epoch bigint;
  stale         bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(4271300002);
  SELECT max(epoch) INTO current_epoch FROM ledger_leader_epochs;
  IF current_epoch IS NULL THEN
    IF EXISTS (SELECT 1 FROM new_rows WHERE leader_epoch IS NOT NULL) THEN
      RAISE EXCEPTION 'ledger writer fenced: no leader epoch was claimed' USING ERRCODE = 'CTPLF';
    END IF;
    RETURN NULL;
  END IF;
  SELECT coalesce(leader_epoch, 0) INTO stale FROM new_rows WHERE leader_epoch IS DISTINCT FROM current_epoch LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'ledger writer fenced: epoch % is not the leader, epoch % is', stale, current_epoch USING ERRCODE = 'CTPLF';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER ledger_entries_fence AFTER INSERT ON ledger_entries
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_leader_epoch();
CREATE TRIGGER ledger_checkpoints_fence AFTER INSERT ON ledger_checkpoints
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_leader_epoch();

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ctp_ledger_writer') THEN
    CREATE ROLE ctp_ledger_writer NOLOGIN;
  END IF;
  GRANT SELECT, INSERT ON ledger_leader_epochs TO ctp_ledger_writer;
END $$;
