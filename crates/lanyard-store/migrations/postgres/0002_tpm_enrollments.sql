-- TPM nodes enrolled by the `tpm` node attestor: one row per EK, at most one per
-- xname. Kept apart from attested_nodes: an enrollment outlives evictions, so an
-- evicted node re-attests with its LDevID without a new join token.
CREATE TABLE tpm_enrollments (
    ek_sha256            BYTEA PRIMARY KEY NOT NULL,
    xname                TEXT NOT NULL,
    node_type            TEXT,
    ek_public            BYTEA NOT NULL,
    ldevid_serial        TEXT NOT NULL,
    node_selectors       TEXT NOT NULL,
    enrolled_at          BIGINT NOT NULL,
    residency_checked_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX tpm_enrollments_xname ON tpm_enrollments (xname);
