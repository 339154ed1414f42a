//! The schema, per dialect, as numbered migrations applied on open.
//!
//! Every table keeps the values the engine queries by in columns (tenancy,
//! codes, tokens, addresses, versions, queue state and times as microseconds)
//! and the rest of the record as JSON in `body`, parsed and validated again
//! when it is read back.

/// The newest schema this build knows.
pub(crate) const SCHEMA_VERSION: i64 = 5;

/// Migration `n` (1-based) for SQLite: statements run in one transaction.
pub(crate) const SQLITE: &[&[&str]] = &[
    &[
        "CREATE TABLE owners (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
        "CREATE TABLE owner_mailboxes (address TEXT PRIMARY KEY, owner INTEGER NOT NULL REFERENCES owners(id))",
        "CREATE TABLE organizers (owner INTEGER NOT NULL, id INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (owner, id))",
        "CREATE TABLE events (code TEXT PRIMARY KEY, owner INTEGER NOT NULL, organizer INTEGER NOT NULL, \
     organizer_uid TEXT, created_at INTEGER NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL)",
        "CREATE UNIQUE INDEX events_uid ON events (owner, organizer, organizer_uid)",
        "CREATE INDEX events_by_organizer ON events (owner, organizer, created_at, code)",
        "CREATE TABLE revisions (code TEXT NOT NULL REFERENCES events(code), sequence INTEGER NOT NULL, \
     body TEXT NOT NULL, PRIMARY KEY (code, sequence))",
        "CREATE TABLE invitations (token TEXT PRIMARY KEY, code TEXT NOT NULL REFERENCES events(code), \
     address TEXT NOT NULL, owner INTEGER NOT NULL, organizer INTEGER NOT NULL, version INTEGER NOT NULL, \
     body TEXT NOT NULL)",
        "CREATE UNIQUE INDEX invitations_address ON invitations (code, address)",
        "CREATE INDEX invitations_page ON invitations (code, token)",
        "CREATE TABLE history (id INTEGER PRIMARY KEY AUTOINCREMENT, token TEXT NOT NULL REFERENCES invitations(token), \
     at INTEGER NOT NULL, body TEXT NOT NULL)",
        "CREATE INDEX history_token ON history (token, id)",
        "CREATE TABLE suppressions (owner INTEGER NOT NULL, address TEXT NOT NULL, body TEXT NOT NULL, \
     PRIMARY KEY (owner, address))",
        "CREATE TABLE pending (id TEXT PRIMARY KEY, code TEXT NOT NULL, owner INTEGER NOT NULL, \
     organizer INTEGER NOT NULL, state TEXT NOT NULL, created_at INTEGER NOT NULL, body TEXT NOT NULL)",
        "CREATE INDEX pending_open ON pending (code, state, created_at)",
        "CREATE TABLE fan_outs (id TEXT PRIMARY KEY, code TEXT NOT NULL, sequence INTEGER NOT NULL, body TEXT NOT NULL)",
        "CREATE INDEX fan_outs_order ON fan_outs (code, sequence)",
        "CREATE TABLE refusals (id INTEGER PRIMARY KEY AUTOINCREMENT, owner INTEGER NOT NULL, organizer INTEGER, \
     code TEXT, at INTEGER NOT NULL, body TEXT NOT NULL)",
        "CREATE INDEX refusals_owner ON refusals (owner, organizer, id)",
        "CREATE TABLE deliveries (seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, \
     owner INTEGER NOT NULL, state TEXT NOT NULL, due INTEGER NOT NULL, lease_until INTEGER, \
     attempts INTEGER NOT NULL, sent_at INTEGER, failure TEXT, last_error TEXT, body TEXT NOT NULL)",
        "CREATE INDEX deliveries_queued ON deliveries (seq) WHERE state = 'queued'",
        "CREATE INDEX deliveries_lease ON deliveries (lease_until) WHERE state = 'leased'",
    ],
    &[
        // 2: invitations kept in (event, token) order, the order fan-outs page
        // through them (WITHOUT ROWID: the table is its primary key). A batch of
        // 500 reads and rewrites a few dozen neighbouring pages instead of 500
        // pages scattered in insertion order. History, the one table referring
        // to invitations, is set aside and rebuilt around the swap (foreign keys
        // stay on: the old table has no rows referring to it when it goes).
        "CREATE TABLE invitations_by_event (token TEXT NOT NULL UNIQUE, \
     code TEXT NOT NULL REFERENCES events(code), address TEXT NOT NULL, owner INTEGER NOT NULL, \
     organizer INTEGER NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL, \
     PRIMARY KEY (code, token)) WITHOUT ROWID",
        "INSERT INTO invitations_by_event (token, code, address, owner, organizer, version, body) \
     SELECT token, code, address, owner, organizer, version, body FROM invitations",
        "CREATE TABLE history_kept AS SELECT id, token, at, body FROM history",
        "DROP TABLE history",
        "DROP TABLE invitations",
        "ALTER TABLE invitations_by_event RENAME TO invitations",
        "CREATE UNIQUE INDEX invitations_address ON invitations (code, address)",
        "CREATE TABLE history (id INTEGER PRIMARY KEY AUTOINCREMENT, token TEXT NOT NULL REFERENCES invitations(token), \
     at INTEGER NOT NULL, body TEXT NOT NULL)",
        "INSERT INTO history (id, token, at, body) SELECT id, token, at, body FROM history_kept ORDER BY id",
        "DROP TABLE history_kept",
        "CREATE INDEX history_token ON history (token, id)",
    ],
    &[
        // 3: list jobs (one per event and list name), their rows in row order
        // (WITHOUT ROWID: the table is its primary key, and a page of rows is
        // a few neighbouring pages of it), the queue groups held back from
        // claims, and each queued message's group. Ungrouped messages stay out
        // of the group index, so the common queue pays nothing for it.
        "CREATE TABLE list_jobs (id TEXT PRIMARY KEY, code TEXT NOT NULL, owner INTEGER NOT NULL, \
     organizer INTEGER NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL, \
     UNIQUE (code, name))",
        "CREATE TABLE list_rows (job TEXT NOT NULL, row INTEGER NOT NULL, body TEXT NOT NULL, \
     PRIMARY KEY (job, row)) WITHOUT ROWID",
        "CREATE TABLE held_groups (grp TEXT PRIMARY KEY) WITHOUT ROWID",
        "ALTER TABLE deliveries ADD COLUMN grp TEXT",
        "CREATE INDEX deliveries_group ON deliveries (grp) WHERE state = 'queued' AND grp IS NOT NULL",
    ],
    &[
        // 4: how many times each message was claimed again after its lease
        // ran out (a worker stopped holding it): each such claim may send
        // it a second time, and the queue's counts report them.
        "ALTER TABLE deliveries ADD COLUMN reclaims INTEGER NOT NULL DEFAULT 0",
    ],
    &[
        // 5: announcements for the application, numbered in the order they
        // are written (AUTOINCREMENT: a number is never given twice, even
        // after the newest rows are forgotten), kept until it forgets them.
        "CREATE TABLE announcements (seq INTEGER PRIMARY KEY AUTOINCREMENT, owner INTEGER NOT NULL, \
     organizer INTEGER, at INTEGER NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL)",
    ],
];

/// Migration `n` (1-based) for PostgreSQL.
pub(crate) const POSTGRES: &[&[&str]] = &[
    &[
        "CREATE TABLE owners (id BIGINT PRIMARY KEY, body TEXT NOT NULL)",
        "CREATE TABLE owner_mailboxes (address TEXT PRIMARY KEY, owner BIGINT NOT NULL REFERENCES owners(id))",
        "CREATE TABLE organizers (owner BIGINT NOT NULL, id BIGINT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (owner, id))",
        "CREATE TABLE events (code TEXT PRIMARY KEY, owner BIGINT NOT NULL, organizer BIGINT NOT NULL, \
     organizer_uid TEXT, created_at BIGINT NOT NULL, version BIGINT NOT NULL, body TEXT NOT NULL)",
        "CREATE UNIQUE INDEX events_uid ON events (owner, organizer, organizer_uid)",
        "CREATE INDEX events_by_organizer ON events (owner, organizer, created_at, code)",
        "CREATE TABLE revisions (code TEXT NOT NULL REFERENCES events(code), sequence BIGINT NOT NULL, \
     body TEXT NOT NULL, PRIMARY KEY (code, sequence))",
        "CREATE TABLE invitations (token TEXT PRIMARY KEY, code TEXT NOT NULL REFERENCES events(code), \
     address TEXT NOT NULL, owner BIGINT NOT NULL, organizer BIGINT NOT NULL, version BIGINT NOT NULL, \
     body TEXT NOT NULL)",
        "CREATE UNIQUE INDEX invitations_address ON invitations (code, address)",
        "CREATE INDEX invitations_page ON invitations (code, token)",
        "CREATE TABLE history (id BIGSERIAL PRIMARY KEY, token TEXT NOT NULL REFERENCES invitations(token), \
     at BIGINT NOT NULL, body TEXT NOT NULL)",
        "CREATE INDEX history_token ON history (token, id)",
        "CREATE TABLE suppressions (owner BIGINT NOT NULL, address TEXT NOT NULL, body TEXT NOT NULL, \
     PRIMARY KEY (owner, address))",
        "CREATE TABLE pending (id TEXT PRIMARY KEY, code TEXT NOT NULL, owner BIGINT NOT NULL, \
     organizer BIGINT NOT NULL, state TEXT NOT NULL, created_at BIGINT NOT NULL, body TEXT NOT NULL)",
        "CREATE INDEX pending_open ON pending (code, state, created_at)",
        "CREATE TABLE fan_outs (id TEXT PRIMARY KEY, code TEXT NOT NULL, sequence BIGINT NOT NULL, body TEXT NOT NULL)",
        "CREATE INDEX fan_outs_order ON fan_outs (code, sequence)",
        "CREATE TABLE refusals (id BIGSERIAL PRIMARY KEY, owner BIGINT NOT NULL, organizer BIGINT, \
     code TEXT, at BIGINT NOT NULL, body TEXT NOT NULL)",
        "CREATE INDEX refusals_owner ON refusals (owner, organizer, id)",
        "CREATE TABLE deliveries (seq BIGSERIAL PRIMARY KEY, key TEXT NOT NULL UNIQUE, \
     owner BIGINT NOT NULL, state TEXT NOT NULL, due BIGINT NOT NULL, lease_until BIGINT, \
     attempts BIGINT NOT NULL, sent_at BIGINT, failure TEXT, last_error TEXT, body TEXT NOT NULL)",
        "CREATE INDEX deliveries_queued ON deliveries (seq) WHERE state = 'queued'",
        "CREATE INDEX deliveries_lease ON deliveries (lease_until) WHERE state = 'leased'",
    ],
    &[
        // 2: room on every page of invitations for a new version of its rows, so
        // that rewriting one (a fan-out, a settlement: no indexed column changes)
        // stays on its page and adds no index entries (a HOT update).
        "ALTER TABLE invitations SET (fillfactor = 80)",
    ],
    &[
        // 3: list jobs, their rows, the held queue groups and each queued
        // message's group (a column without a default: added without
        // rewriting the table). Ungrouped messages stay out of the group index.
        "CREATE TABLE list_jobs (id TEXT PRIMARY KEY, code TEXT NOT NULL, owner BIGINT NOT NULL, \
     organizer BIGINT NOT NULL, name TEXT NOT NULL, version BIGINT NOT NULL, body TEXT NOT NULL, \
     UNIQUE (code, name))",
        "CREATE TABLE list_rows (job TEXT NOT NULL, row BIGINT NOT NULL, body TEXT NOT NULL, \
     PRIMARY KEY (job, row))",
        "CREATE TABLE held_groups (grp TEXT PRIMARY KEY)",
        "ALTER TABLE deliveries ADD COLUMN grp TEXT",
        "CREATE INDEX deliveries_group ON deliveries (grp) WHERE state = 'queued' AND grp IS NOT NULL",
    ],
    &[
        // 4: claims of a message after its lease ran out (a constant default:
        // PostgreSQL adds the column without rewriting the table).
        "ALTER TABLE deliveries ADD COLUMN reclaims BIGINT NOT NULL DEFAULT 0",
    ],
    &[
        // 5: announcements for the application, numbered in the order they
        // are written, kept until it forgets them.
        "CREATE TABLE announcements (seq BIGSERIAL PRIMARY KEY, owner BIGINT NOT NULL, \
     organizer BIGINT, at BIGINT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL)",
    ],
];
