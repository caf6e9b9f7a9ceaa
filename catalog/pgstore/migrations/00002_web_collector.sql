-- Web collector keys (secrets.web_collector): a project's keys live in
-- projects.web_collector; web_collector_keys indexes their ids, which are
-- unique across all projects (a sealed web body names only its key id).
-- Plain types only: this must run on PostgreSQL 15.

-- +goose Up
ALTER TABLE projects ADD COLUMN web_collector jsonb NOT NULL DEFAULT '{}';

CREATE TABLE web_collector_keys (
    key_id     text PRIMARY KEY,
    -- deferred: a new project's keys are indexed before its row is written
    project_id text NOT NULL REFERENCES projects (id) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX web_collector_keys_project_id ON web_collector_keys (project_id);

-- +goose Down
DROP TABLE web_collector_keys;
ALTER TABLE projects DROP COLUMN web_collector;
