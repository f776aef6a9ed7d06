-- envtrack's journal in PostgreSQL: what exporter/store keeps in one bbolt file, shared
-- by every replica. Keys and JSON bodies are bbolt's, so that `envtrack store copy`
-- moves a journal either way unchanged.

-- The journal's identity and head. Every commit takes this row's lock first (UPDATE),
-- so commits are serialised across replicas: sequence numbers are handed out in commit
-- order, without gaps, and a reader that sees last_seq = N sees every event up to N.
-- state_rev numbers the commits that wrote states: the change feed the replicas
-- follow to keep their trackers current.
CREATE TABLE envtrack_meta (
    id          integer     PRIMARY KEY CHECK (id = 1),
    journal_id  text        NOT NULL,
    created_at  timestamptz NOT NULL,
    last_seq    bigint      NOT NULL DEFAULT 0,
    state_rev   bigint      NOT NULL DEFAULT 0
);

-- One tracker state per environment. version counts its writes (a commit checks that
-- the state it planned from is the one stored, under the row's lock); rev is the
-- state_rev of the commit that wrote it. A pruned state stays a while as a tombstone
-- (state NULL) so that every replica's tracker forgets it too.
CREATE TABLE envtrack_environments (
    id            text        PRIMARY KEY,
    version       bigint      NOT NULL,
    rev           bigint      NOT NULL,
    state         json,
    terminated_at timestamptz,
    deleted_at    timestamptz
);
CREATE INDEX envtrack_environments_rev ON envtrack_environments (rev);
CREATE INDEX envtrack_environments_terminated ON envtrack_environments (terminated_at) WHERE terminated_at IS NOT NULL;

-- The journal: contiguous from the first held seq to meta.last_seq; retention deletes
-- from the start only. body is the event's JSON as bbolt stores it.
CREATE TABLE envtrack_events (
    seq             bigint      PRIMARY KEY,
    environment_id  text        NOT NULL,
    name            text        NOT NULL,
    time            timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL,
    idempotency_key text,
    body            json        NOT NULL
);
CREATE INDEX envtrack_events_environment ON envtrack_events (environment_id, seq);
CREATE INDEX envtrack_events_time ON envtrack_events (time);

-- The push path's indexes (bbolt's schema 2, exporter/store/identity.go): a push is
-- recognised as a repeat by a lookup, never by reading an environment's history.
-- identity is event.Identity; seq the last event with it (retention deletes the row
-- with that event). An Idempotency-Key is bound to the fingerprint of its request and
-- expires with retention (recorded_at, the commit's RecordedAt).
CREATE TABLE envtrack_identities (
    identity bytea  PRIMARY KEY,
    seq      bigint NOT NULL
);
CREATE INDEX envtrack_identities_seq ON envtrack_identities (seq);
CREATE TABLE envtrack_idempotency (
    key         text        PRIMARY KEY,
    fingerprint bytea       NOT NULL,
    recorded_at timestamptz NOT NULL
);
CREATE INDEX envtrack_idempotency_recorded ON envtrack_idempotency (recorded_at);

-- Each sink's durable cursor, by sink name.
CREATE TABLE envtrack_cursors (
    sink text   PRIMARY KEY,
    seq  bigint NOT NULL
);

-- The events a sink rejected for good (DESIGN §5), by sink and seq.
CREATE TABLE envtrack_set_aside (
    sink  text   NOT NULL,
    seq   bigint NOT NULL,
    entry json   NOT NULL,
    PRIMARY KEY (sink, seq)
);

-- The events set aside for a sink that could not deliver them within
-- retention.max_undelivered (as bbolt's undelivered bucket), by sink and seq.
CREATE TABLE envtrack_undelivered (
    sink  text   NOT NULL,
    seq   bigint NOT NULL,
    entry json   NOT NULL,
    PRIMARY KEY (sink, seq)
);

-- The leader's lease. epoch grows by one with every new holder: the fencing token that
-- each leader-only write checks (FOR SHARE) in its own transaction. Times are the
-- database's clock, the one clock every replica shares.
CREATE TABLE envtrack_leader (
    id          integer     PRIMARY KEY CHECK (id = 1),
    holder      text        NOT NULL DEFAULT '',
    epoch       bigint      NOT NULL DEFAULT 0,
    expires_at  timestamptz NOT NULL DEFAULT '-infinity',
    acquired_at timestamptz
);
INSERT INTO envtrack_leader (id) VALUES (1);
