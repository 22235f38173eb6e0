-- PostgreSQL: the same tables as the SQLite schema. Timestamps are DOUBLE PRECISION (REAL is 4 bytes here);
-- JSON stays TEXT, not JSONB, because Describe* must echo the request with its keys in the submitted order.
-- Names are unique case-insensitively (SageMaker lowercases them in ARNs), hence the `key` column.
-- `request` keeps the Create* input as submitted (JSON) so Describe* echoes it verbatim.
CREATE TABLE models (
    key           TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    arn           TEXT NOT NULL,
    creation_time DOUBLE PRECISION NOT NULL,
    request       TEXT NOT NULL
);

CREATE TABLE endpoint_configs (
    key           TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    arn           TEXT NOT NULL,
    creation_time DOUBLE PRECISION NOT NULL,
    request       TEXT NOT NULL
);

CREATE TABLE endpoints (
    key                TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    arn                TEXT NOT NULL,
    status             TEXT NOT NULL,
    creation_time      DOUBLE PRECISION NOT NULL,
    last_modified_time DOUBLE PRECISION NOT NULL,
    config_name        TEXT NOT NULL,
    deployment         TEXT NOT NULL,
    failure_reason     TEXT,
    pending            TEXT,
    request            TEXT
);
