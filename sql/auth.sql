-- API tokens: the bearer secrets the HTTP sidecar accepts, each with the scopes it grants
-- (check_scopes, checks.sql, says what one may be). They are managed here, in the database,
-- so every sidecar in front of it agrees on them and revoking one is a single UPDATE.
--
-- A token is shown once, by create_token; the table keeps only its SHA-256. A token is 256
-- random bits (new_token, token.rs), so a plain hash is enough: whoever reads the table (or a
-- dump of it) cannot recover or guess a token from it, and no salt or slow hash is needed, which
-- a secret of a few guessable characters would require. Lookups are by hash too: the token
-- itself is never compared, so how long a lookup takes tells nothing about it.

CREATE TABLE psqlqueue.tokens (
    name       text        PRIMARY KEY
                           CONSTRAINT tokens_name_format CHECK (name ~ '^[a-zA-Z0-9._-]{1,128}$'),
    token_hash bytea       NOT NULL UNIQUE,   -- sha256 of the token's UTF-8 bytes; also token_scopes' index
    scopes     text[]      NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz,                   -- NULL: live; a revoked token is kept, so its name stays taken
    -- AWS credentials for the SQS API (create_access_key): requests are signed with Signature V4,
    -- an HMAC keyed by the secret, so the sidecar must read the secret itself, not a hash of it
    -- (as AWS keeps its secret keys). Readable only by the extension's owner and through
    -- access_key (the sidecar's role); a dump holds it, like any credential store's backup.
    access_key_id     text UNIQUE,
    secret_access_key text
);
COMMENT ON CONSTRAINT tokens_name_format ON psqlqueue.tokens IS 'Restates psqlqueue.check_id (checks.sql).';

-- Dumped like the other tables (schema.sql): a restored database accepts the same tokens.
SELECT pg_catalog.pg_extension_config_dump('psqlqueue.tokens', '');

CREATE FUNCTION psqlqueue.create_token(name text, scopes text[])
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    token text;
BEGIN
    IF NOT psqlqueue.id_is_valid(create_token.name) THEN
        PERFORM psqlqueue.raise_invalid('name',
            format('must be 1 to 128 characters of a-z, A-Z, 0-9, ".", "_" or "-", got %s',
                   coalesce(quote_literal(left(create_token.name, 140)), 'null')));
    END IF;
    PERFORM psqlqueue.check_scopes(create_token.scopes);
    token := psqlqueue.new_token();
    -- convert_to, not a cast to bytea: the cast reads backslashes as escapes. ON CONFLICT on the
    -- name's key only (named: a bare "name" would be ambiguous with the argument), so a taken
    -- name is a clean 23505 and a hash collision (never expected) stays a plain unique violation
    -- rather than passing for one.
    INSERT INTO psqlqueue.tokens AS t (name, token_hash, scopes, created_at)
    VALUES (create_token.name, sha256(convert_to(token, 'UTF8')), create_token.scopes, clock_timestamp())
    ON CONFLICT ON CONSTRAINT tokens_pkey DO NOTHING;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_exists('token', create_token.name);
    END IF;
    RETURN token;
END
$$;
COMMENT ON FUNCTION psqlqueue.create_token(text, text[]) IS
    'Creates an API token with these scopes and returns it: the only time it is shown, since only its SHA-256 is '
    'stored. Scopes: admin, or ACTION:NAME with ACTION send, consume, manage or publish and NAME * or a queue or '
    'topic id. Errors: 22023 bad name or scopes, 23505 the name is taken (revoked tokens keep theirs).';

CREATE FUNCTION psqlqueue.list_tokens()
RETURNS TABLE (name text, scopes text[], created_at timestamptz, revoked_at timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- Never the hashes: they are of no use to a reader, and a caller of this need not see them.
    SELECT t.name, t.scopes, t.created_at, t.revoked_at FROM psqlqueue.tokens AS t ORDER BY t.name
$$;
COMMENT ON FUNCTION psqlqueue.list_tokens() IS
    'Lists API tokens ordered by name: scopes, when created and when revoked (NULL: live). Never the tokens or '
    'their hashes.';

CREATE FUNCTION psqlqueue.revoke_token(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Revoking again is not an error (a retried command should succeed) and keeps the first time.
    UPDATE psqlqueue.tokens AS t
       SET revoked_at = coalesce(t.revoked_at, clock_timestamp())
     WHERE t.name = revoke_token.name;
    IF NOT FOUND THEN
        PERFORM psqlqueue.raise_not_found('token', revoke_token.name);
    END IF;
END
$$;
COMMENT ON FUNCTION psqlqueue.revoke_token(text) IS
    'Revokes an API token: token_scopes no longer knows it (sidecars that cached it refuse it within seconds). '
    'Revoking a revoked token changes nothing. Errors: P0002 no such token.';

CREATE FUNCTION psqlqueue.token_scopes(token text)
RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- An empty token is refused here rather than hashed: no token is empty.
    SELECT t.scopes FROM psqlqueue.tokens AS t
     WHERE t.token_hash = sha256(convert_to(token_scopes.token, 'UTF8'))
       AND t.revoked_at IS NULL
       AND token_scopes.token <> ''
$$;
COMMENT ON FUNCTION psqlqueue.token_scopes(text) IS
    'The scopes of a live API token, NULL for an unknown, revoked, empty or NULL one. How the HTTP sidecar '
    'authenticates a request (it caches the answer for a few seconds).';

CREATE FUNCTION psqlqueue.create_access_key(token_name text)
RETURNS TABLE (access_key_id text, secret_access_key text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id_bits text := substr(psqlqueue.new_token(), 5);      -- 64 random hex digits after pqq_
    secret_bits text := substr(psqlqueue.new_token(), 5);
BEGIN
    -- AWS-shaped: a 20-character id (PQQA and 64 random bits in hex) and a 40-character secret
    -- (160 random bits in hex). A token has one key; creating another replaces it.
    UPDATE psqlqueue.tokens AS t
       SET access_key_id = 'PQQA' || upper(left(id_bits, 16)), secret_access_key = left(secret_bits, 40)
     WHERE t.name = create_access_key.token_name AND t.revoked_at IS NULL
    RETURNING t.access_key_id, t.secret_access_key INTO access_key_id, secret_access_key;
    IF NOT FOUND THEN
        IF EXISTS (SELECT FROM psqlqueue.tokens AS t WHERE t.name = create_access_key.token_name) THEN
            RAISE EXCEPTION USING
                ERRCODE = 'object_not_in_prerequisite_state',
                MESSAGE = format('token "%s" is revoked', create_access_key.token_name),
                TABLE = 'tokens';
        END IF;
        PERFORM psqlqueue.raise_not_found('token', create_access_key.token_name);
    END IF;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION psqlqueue.create_access_key(text) IS
    'Gives a live API token an AWS access key id and secret access key for the SQS API (Signature V4), with the '
    'token''s scopes, and returns them; a new key replaces the token''s previous one. Revoking the token '
    'revokes the key. Errors: P0002 no such token, 55000 the token is revoked.';

CREATE FUNCTION psqlqueue.access_key(access_key_id text)
RETURNS TABLE (secret_access_key text, scopes text[])
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.secret_access_key, t.scopes FROM psqlqueue.tokens AS t
     WHERE t.access_key_id = access_key.access_key_id AND t.revoked_at IS NULL
$$;
COMMENT ON FUNCTION psqlqueue.access_key(text) IS
    'The secret and scopes of a live token''s access key (no row for an unknown or revoked one): how the HTTP '
    'sidecar verifies a Signature V4 request.';
