-- Lanyard datastore, PostgreSQL dialect. Keep logically equal to ../sqlite (same tables,
-- columns, nullability); the schema_parity test compares the two.
-- Times are Unix seconds; booleans are BOOLEAN.

CREATE TABLE bundles (
    trust_domain    TEXT PRIMARY KEY NOT NULL,
    data            TEXT NOT NULL,
    sequence_number BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE registration_entries (
    id                         TEXT PRIMARY KEY NOT NULL,
    spiffe_id                  TEXT NOT NULL,
    parent_id                  TEXT NOT NULL,
    similarity_key             TEXT NOT NULL UNIQUE,
    x509_svid_ttl              BIGINT NOT NULL,
    jwt_svid_ttl               BIGINT NOT NULL,
    admin                      BOOLEAN NOT NULL,
    downstream                 BOOLEAN NOT NULL,
    hint                       TEXT NOT NULL,
    expires_at                 BIGINT,
    revision_number            BIGINT NOT NULL,
    store_svid                 BOOLEAN NOT NULL,
    jwt_svid_include_jti       BOOLEAN NOT NULL,
    disable_x509_svid_prefetch BOOLEAN NOT NULL,
    created_at                 BIGINT NOT NULL
);
CREATE INDEX registration_entries_spiffe_id ON registration_entries (spiffe_id);
CREATE INDEX registration_entries_parent_id ON registration_entries (parent_id);
CREATE INDEX registration_entries_hint ON registration_entries (hint);
CREATE INDEX registration_entries_expires_at ON registration_entries (expires_at);

CREATE TABLE entry_selectors (
    entry_id TEXT NOT NULL REFERENCES registration_entries (id) ON DELETE CASCADE,
    type     TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (entry_id, type, value)
);
CREATE INDEX entry_selectors_selector ON entry_selectors (type, value);

CREATE TABLE entry_dns_names (
    entry_id TEXT NOT NULL REFERENCES registration_entries (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    dns_name TEXT NOT NULL,
    PRIMARY KEY (entry_id, position)
);

CREATE TABLE entry_federates_with (
    entry_id     TEXT NOT NULL REFERENCES registration_entries (id) ON DELETE CASCADE,
    trust_domain TEXT NOT NULL REFERENCES bundles (trust_domain),
    PRIMARY KEY (entry_id, trust_domain)
);
CREATE INDEX entry_federates_with_trust_domain ON entry_federates_with (trust_domain);

CREATE TABLE attested_nodes (
    spiffe_id          TEXT PRIMARY KEY NOT NULL,
    attestation_type   TEXT NOT NULL,
    cert_serial        TEXT NOT NULL,
    cert_not_after     BIGINT NOT NULL,
    new_cert_serial    TEXT,
    new_cert_not_after BIGINT,
    can_reattest       BOOLEAN NOT NULL,
    banned             BOOLEAN NOT NULL,
    agent_version      TEXT NOT NULL,
    last_seen          BIGINT
);
CREATE INDEX attested_nodes_cert_not_after ON attested_nodes (cert_not_after);

CREATE TABLE node_selectors (
    spiffe_id TEXT NOT NULL REFERENCES attested_nodes (spiffe_id) ON DELETE CASCADE,
    type      TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (spiffe_id, type, value)
);
CREATE INDEX node_selectors_selector ON node_selectors (type, value);

-- Only the SHA-256 of a token is stored; node_selectors is a JSON array of "type:value".
CREATE TABLE join_tokens (
    token_hash     BYTEA PRIMARY KEY NOT NULL,
    expires_at     BIGINT NOT NULL,
    node_selectors TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX join_tokens_expires_at ON join_tokens (expires_at);

CREATE TABLE ca_journals (
    server_id  TEXT PRIMARY KEY NOT NULL,
    data       BYTEA NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE federation_relationships (
    trust_domain            TEXT PRIMARY KEY NOT NULL,
    bundle_endpoint_url     TEXT NOT NULL,
    bundle_endpoint_profile TEXT NOT NULL
        CHECK (bundle_endpoint_profile IN ('https_web', 'https_spiffe')),
    endpoint_spiffe_id      TEXT,
    created_at              BIGINT NOT NULL
);

-- The single row whose update serialises change-log appends: a writer holds it from
-- its append until commit, so sequence order is commit order and there are no gaps.
CREATE TABLE change_counter (
    id             INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    last_seq       BIGINT NOT NULL,
    pruned_through BIGINT NOT NULL
);
INSERT INTO change_counter (id, last_seq, pruned_through) VALUES (1, 0, 0);

CREATE TABLE changes (
    seq        BIGINT PRIMARY KEY NOT NULL,
    kind       TEXT NOT NULL,
    key        TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX changes_created_at ON changes (created_at);
