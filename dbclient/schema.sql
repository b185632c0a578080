-- dbclient schema.  Idempotent: every statement can be run again.

-- Idempotency keys (dbclient.retry.run_transaction(..., idempotency_key=...)).
-- The key is inserted first thing in the transaction it protects, and the JSON
-- result written just before COMMIT, so "key present" == "transaction committed".
-- Old keys can be deleted by created_at once no client can still retry them.
CREATE TABLE IF NOT EXISTS dbclient_idempotency_keys (
    key        text        PRIMARY KEY,
    result     jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS dbclient_idempotency_keys_created_at ON dbclient_idempotency_keys (created_at);
-- end idempotency

-- The scenario's orders table, read by dbclient.lambda_handler.
CREATE TABLE IF NOT EXISTS orders (
    id          bigint        PRIMARY KEY,
    customer_id bigint        NOT NULL,
    status      text          NOT NULL DEFAULT 'pending',
    total       numeric(12,2) NOT NULL,
    created_at  timestamptz   NOT NULL DEFAULT now()
);
