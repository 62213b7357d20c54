-- RFC 3161 anchors: timestamp tokens over signed checkpoint notes. Append-only like
-- the rest of the ledger (ledger_refuse_change() comes from 0001), one per checkpoint.

CREATE TABLE ledger_anchors (
  checkpoint_size bigint PRIMARY KEY REFERENCES ledger_checkpoints (size),
  tsa_url         text NOT NULL,
  -- DER ContentInfo (CMS SignedData over TSTInfo), as the TSA returned it.
  token           bytea NOT NULL CHECK (length(token) BETWEEN 1 AND 65536),
  gen_time        timestamptz NOT NULL,
  policy          text NOT NULL,
  serial          text NOT NULL,
  created_at      timestamptz NOT NULL
);
CREATE INDEX ledger_anchors_created_at ON ledger_anchors (created_at);

CREATE TRIGGER ledger_anchors_append_only BEFORE UPDATE OR DELETE ON ledger_anchors FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_anchors_no_truncate BEFORE TRUNCATE ON ledger_anchors FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ctp_ledger_writer') THEN
    CREATE ROLE ctp_ledger_writer NOLOGIN;
  END IF;
  GRANT SELECT, INSERT ON ledger_anchors TO ctp_ledger_writer;
END $$;
