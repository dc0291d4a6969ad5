"""The cloud store's schema: migrations, applied in order and counted (SQLite: `PRAGMA user_version`;
PostgreSQL: the `provlab_schema` table).

Never edit a migration that has shipped; append a new one. `Store` applies the ones a database has not seen.
Migrations are written once, for both databases, in SQLite's words from this subset: `INTEGER`,
`INTEGER PRIMARY KEY` (a generated id), `REAL` (a float, 64-bit), `TEXT`, `COLLATE NOCASE`, `REFERENCES`,
`UNIQUE`, `PRIMARY KEY (…)`, `DEFAULT`, `CREATE INDEX`, `ALTER TABLE … ADD COLUMN`. The PostgreSQL backend
maps the type names (`postgres_backend.mapped_migration`); `tests/cloud/test_store_backends.py` proves both
databases end with the same tables and columns.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: the foundation schema
    """
    CREATE TABLE orgs (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        parent_id INTEGER REFERENCES orgs(id)
    );
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        email TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        org_id INTEGER NOT NULL REFERENCES orgs(id),
        role TEXT NOT NULL DEFAULT 'Admin'
    );
    CREATE TABLE sessions (
        key TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        created_at REAL NOT NULL
    );
    CREATE TABLE templates (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        org_id INTEGER NOT NULL REFERENCES orgs(id)
    );
    CREATE TABLE devices (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        template_id TEXT NOT NULL REFERENCES templates(id),
        org_id INTEGER NOT NULL REFERENCES orgs(id),
        owner_id INTEGER REFERENCES users(id),
        token TEXT UNIQUE,
        created_at REAL NOT NULL,
        last_login_at REAL,
        info TEXT NOT NULL DEFAULT '{}',
        meta TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE tokens (
        token TEXT PRIMARY KEY,
        template_id TEXT NOT NULL REFERENCES templates(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        org_id INTEGER NOT NULL REFERENCES orgs(id),
        device_id INTEGER REFERENCES devices(id),
        issued_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        activated_at REAL,
        revoked_at REAL
    );
    CREATE TABLE pin_values (
        device_id INTEGER NOT NULL REFERENCES devices(id),
        pin TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (device_id, pin)
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        kind TEXT NOT NULL,
        device_id INTEGER,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    """,
    # 2: the device side (issue 3): soft-deleted devices, token kinds, template declarations, device event log
    """
    ALTER TABLE devices ADD COLUMN deleted_at REAL;
    ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'dynamic';
    ALTER TABLE tokens ADD COLUMN revoked_reason TEXT;
    CREATE INDEX tokens_device ON tokens(device_id);
    CREATE INDEX events_kind ON events(kind);
    CREATE TABLE datastreams (
        template_id TEXT NOT NULL REFERENCES templates(id),
        id INTEGER NOT NULL,
        pin TEXT NOT NULL,
        name TEXT NOT NULL,
        data_type TEXT NOT NULL DEFAULT 'string',
        PRIMARY KEY (template_id, id),
        UNIQUE (template_id, pin),
        UNIQUE (template_id, name)
    );
    CREATE TABLE template_events (
        template_id TEXT NOT NULL REFERENCES templates(id),
        code TEXT NOT NULL,
        PRIMARY KEY (template_id, code)
    );
    CREATE TABLE metafields (
        template_id TEXT NOT NULL REFERENCES templates(id),
        id INTEGER NOT NULL,
        name TEXT NOT NULL,
        PRIMARY KEY (template_id, id),
        UNIQUE (template_id, name)
    );
    CREATE TABLE device_log (
        id INTEGER PRIMARY KEY,
        device_id INTEGER NOT NULL REFERENCES devices(id),
        ts REAL NOT NULL,
        code TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX device_log_device ON device_log(device_id);
    """,
    # 3: tenancy (issue 4): org flags, user activation, per-org role matrices, template enablement,
    # invitations, OAuth2 clients
    """
    ALTER TABLE orgs ADD COLUMN can_create_suborgs INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE users ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
    CREATE TABLE role_permissions (
        org_id INTEGER NOT NULL REFERENCES orgs(id),
        role TEXT NOT NULL,
        permission TEXT NOT NULL,
        PRIMARY KEY (org_id, role, permission)
    );
    CREATE TABLE org_templates (
        org_id INTEGER NOT NULL REFERENCES orgs(id),
        template_id TEXT NOT NULL REFERENCES templates(id),
        PRIMARY KEY (org_id, template_id)
    );
    CREATE TABLE invitations (
        token TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        invited_by INTEGER NOT NULL REFERENCES users(id),
        created_at REAL NOT NULL,
        used_at REAL
    );
    CREATE TABLE oauth_clients (
        client_id TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL,
        user_id INTEGER NOT NULL REFERENCES users(id),
        created_at REAL NOT NULL
    );
    """,
    # 4: credentials that expire and follow their owner (issue 13): a session's expiry (lab time, epoch
    # seconds; NULL rows from older files count as expired) and the OAuth2 client that minted a bearer;
    # clients can be revoked
    """
    ALTER TABLE sessions ADD COLUMN expires_at REAL;
    ALTER TABLE sessions ADD COLUMN client_id TEXT;
    CREATE INDEX sessions_client ON sessions(client_id);
    CREATE INDEX sessions_user ON sessions(user_id);
    ALTER TABLE oauth_clients ADD COLUMN revoked_at REAL;
    """,
    # 5: OAuth2 refresh tokens (Blynk's `grant_type=refresh_token`): single use, each for one client and the user
    # its bearer acts as, with an expiry in lab time (epoch seconds)
    """
    CREATE TABLE oauth_refresh_tokens (
        token TEXT PRIMARY KEY,
        client_id TEXT NOT NULL REFERENCES oauth_clients(client_id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE INDEX oauth_refresh_tokens_client ON oauth_refresh_tokens(client_id);
    CREATE INDEX oauth_refresh_tokens_user ON oauth_refresh_tokens(user_id);
    """,
)
