-- The read-path user: run ONCE on the PRIMARY after the first `pulumi up`, as the master user
-- (stack output dbUser).  The primary admits only the proxy, so go through the proxy (it always
-- targets the primary), from a host in an app security group, with a role that has the exported
-- connect policy:
--
--   export PGPASSWORD="$(aws rds generate-db-auth-token --hostname "$PROXY" --port 5432 --username orders_admin)"
--   psql "host=$PROXY dbname=orders user=orders_admin sslmode=require" -v ON_ERROR_STOP=1 -f dbclient/reader_role.sql
--
-- ($PROXY is the stack output proxyEndpoint.)
-- Roles and grants are replicated to the read replicas: nothing is run on them.  Safe to run
-- again (every step checks or is idempotent), e.g. after restoring a snapshot.
--
-- Why a user of its own: reads go straight to the replicas with IAM authentication (RDS Proxy
-- cannot front instance replicas), which needs a database user granted rds_iam.  In RDS for
-- PostgreSQL a user with rds_iam can no longer log in with a password, and RDS Proxy logs in as
-- the master user with the password from Secrets Manager: granting rds_iam to the master user
-- would lock the proxy out.  The connect policy allows rds-db:connect on the replicas for this
-- user only (stack output dbReaderUser).
--
-- The name must equal database.readerUsername (default orders_reader); if you set another, replace
-- every orders_reader below.  rds_iam is provided by RDS.

BEGIN;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'orders_reader') THEN
        -- No password: the only way in is an IAM token.
        CREATE ROLE orders_reader LOGIN;
    END IF;
END
$$;

-- A role that existed without LOGIN (created by hand) could not be used by the application.
ALTER ROLE orders_reader LOGIN;

DO $$
BEGIN
    IF NOT pg_has_role('orders_reader', 'rds_iam', 'MEMBER') THEN
        GRANT rds_iam TO orders_reader;
    END IF;
END
$$;

-- The database the script runs in (the stack's database.dbName), not a name written here.
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO orders_reader', current_database());
END
$$;

GRANT USAGE ON SCHEMA public TO orders_reader;
-- Read only: no INSERT, UPDATE, DELETE (a replica refuses writes anyway; this also holds if the
-- reader endpoint is ever pointed at a writer).
GRANT SELECT ON ALL TABLES IN SCHEMA public TO orders_reader;
-- Tables the master user creates later (dbclient.schema, migrations) are readable too.  This
-- covers only tables created by the role running this script; for tables owned by another role,
-- run ALTER DEFAULT PRIVILEGES FOR ROLE <owner> ... as well.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO orders_reader;

COMMIT;
