-- The writer runs as a role that is not the table owner (docs/security.md, "Ledger
-- roles"): ctp_ledger_writer may INSERT and SELECT, and nothing the owner could use to
-- get around the append-only guards (disabling triggers, detaching or dropping a
-- partition, inserting into a partition directly, session_replication_role). Two
-- things it needs beyond that:
--
-- * the hot partitions of the months ahead, which only the owner can create: it calls
--   ledger_ensure_partition, which now runs with its owner's rights (SECURITY DEFINER),
--   with the search path fixed to this schema so no caller can redirect what it
--   creates. It only ever creates an empty month partition with its TRUNCATE guard.
-- * the applied migrations, to refuse to run against a schema older than its code.

ALTER FUNCTION ledger_ensure_partition(timestamptz) SECURITY DEFINER;
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION ledger_ensure_partition(timestamptz) SET search_path = %I, pg_temp', current_schema());
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ctp_ledger_writer') THEN
    CREATE ROLE ctp_ledger_writer NOLOGIN;
  END IF;
  GRANT EXECUTE ON FUNCTION ledger_ensure_partition(timestamptz) TO ctp_ledger_writer;
  GRANT SELECT ON ledger_schema_migrations TO ctp_ledger_writer;
END $$;
