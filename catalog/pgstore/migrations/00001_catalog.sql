-- The catalog: projects, campaigns, domains, network accounts and postback
-- event maps. Every row carries version (bumped by every write of that
-- entity; the catalog writer refuses to publish older versions) and
-- revision (from one sequence shared by all tables: the order of writes,
-- for a writer that publishes what changed since its last run). Dated
-- settings are jsonb arrays of {from, until, value} spans, oldest first
-- (catalog.History); a delete is an end date, the row stays.
-- Plain types only: this must run on PostgreSQL 15.

-- +goose Up
CREATE SEQUENCE catalog_revision;

CREATE TABLE projects (
    id                        text PRIMARY KEY,
    name                      text NOT NULL DEFAULT '',
    version                   bigint NOT NULL CHECK (version > 0),
    revision                  bigint NOT NULL,
    token                     text NOT NULL,
    server_key                text NOT NULL,
    sdk_signing               jsonb NOT NULL DEFAULT '{}',
    meta_install_referrer_key text NOT NULL DEFAULT '',
    webhook                   jsonb,
    analytics                 jsonb NOT NULL DEFAULT '{}',
    settings                  jsonb NOT NULL,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT projects_token_key UNIQUE (token) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT projects_server_key_key UNIQUE (server_key) DEFERRABLE INITIALLY DEFERRED
);

-- Replaced tokens and server keys: only the hash, so the writer can
-- tombstone token:<sha256> and apikey:<sha256>.
CREATE TABLE rotated_secrets (
    project_id text NOT NULL REFERENCES projects (id),
    kind       text NOT NULL CHECK (kind IN ('token', 'server_key')),
    sha256     text NOT NULL,
    rotated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, sha256)
);

CREATE TABLE campaigns (
    id         text PRIMARY KEY,
    project_id text NOT NULL REFERENCES projects (id),
    -- display_id of the current spec; NULL once the campaign has ended.
    display_id text,
    version    bigint NOT NULL CHECK (version > 0),
    revision   bigint NOT NULL,
    spec       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT campaigns_display_id_key UNIQUE (display_id) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX campaigns_project_id ON campaigns (project_id);

CREATE TABLE domains (
    host       text PRIMARY KEY,
    -- project of the current spec; NULL once the domain has ended.
    project_id text REFERENCES projects (id),
    version    bigint NOT NULL CHECK (version > 0),
    revision   bigint NOT NULL,
    spec       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE network_accounts (
    id          text PRIMARY KEY,
    project_id  text NOT NULL REFERENCES projects (id),
    network     text NOT NULL,
    version     bigint NOT NULL CHECK (version > 0),
    revision    bigint NOT NULL,
    credentials jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX network_accounts_project_id ON network_accounts (project_id);

CREATE TABLE event_maps (
    project_id text NOT NULL REFERENCES projects (id),
    network    text NOT NULL,
    version    bigint NOT NULL CHECK (version > 0),
    revision   bigint NOT NULL,
    events     jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, network)
);

-- +goose Down
DROP TABLE event_maps;
DROP TABLE network_accounts;
DROP TABLE domains;
DROP TABLE campaigns;
DROP TABLE rotated_secrets;
DROP TABLE projects;
DROP SEQUENCE catalog_revision;
