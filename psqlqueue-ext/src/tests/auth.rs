//! API tokens: their form, that only their hashes are kept, what token_scopes answers for live,
//! revoked and made-up ones, and the names and scopes create_token refuses.
use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use crate::tests::support::*;
    use pgrx::prelude::*;

    /// Creates a token and returns it.
    fn create(name: &str, scopes: &str) -> String {
        one::<String>(&format!(
            "SELECT psqlqueue.create_token('{name}', {scopes})"
        ))
    }

    /// What token_scopes answers for `token`, as text ("-" for NULL).
    fn scopes_of(token: &str) -> String {
        one::<String>(&format!(
            "SELECT coalesce(psqlqueue.token_scopes({token})::text, '-')"
        ))
    }

    #[pg_test]
    fn a_token_is_pqq_and_256_random_bits() {
        let token = create("ci", "ARRAY['admin']");
        assert_eq!(token.len(), 4 + 64, "{token}");
        assert!(token.starts_with("pqq_"), "{token}");
        assert!(
            token[4..]
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
            "lowercase hex: {token}"
        );
        assert_ne!(create("other", "ARRAY['admin']"), token);
        assert_eq!(
            one::<i64>(
                "SELECT count(DISTINCT psqlqueue.new_token()) FROM generate_series(1, 1000)"
            ),
            1000
        );
    }

    #[pg_test]
    fn only_the_hash_of_a_token_is_stored() {
        let token = create("ci", "ARRAY['send:orders']");
        let hex = &token[4..];
        // The whole row as text, its bytea in hex: neither the token nor its random part.
        let row = one::<String>("SELECT t::text FROM psqlqueue.tokens AS t");
        assert!(!row.contains(hex), "{row}");
        assert!(!row.contains(&token), "{row}");
        assert!(one::<bool>(&format!(
            "SELECT token_hash = sha256(convert_to('{token}', 'UTF8')) FROM psqlqueue.tokens"
        )));
        // Nor does the list show the hash.
        let listed = one::<String>(
            "SELECT string_agg(to_jsonb(l)::text, ' ') FROM psqlqueue.list_tokens() AS l",
        );
        let hash = one::<String>("SELECT encode(token_hash, 'hex') FROM psqlqueue.tokens");
        assert!(!listed.contains(&hash) && !listed.contains(hex), "{listed}");
        assert_eq!(
            one::<String>("SELECT pg_get_function_result('psqlqueue.list_tokens()'::regprocedure)"),
            "TABLE(name text, scopes text[], created_at timestamp with time zone, revoked_at timestamp with time zone)"
        );
    }

    #[pg_test]
    fn token_scopes_answers_for_live_tokens_only() {
        let ci = create("ci", "ARRAY['send:orders', 'consume:*']");
        let ops = create("ops", "ARRAY['admin']");
        assert_eq!(scopes_of(&format!("'{ci}'")), "{send:orders,consume:*}");
        assert_eq!(scopes_of(&format!("'{ops}'")), "{admin}");
        for made_up in [
            "'pqq_0000000000000000000000000000000000000000000000000000000000000000'".to_owned(),
            format!("'{}'", &ci[4..]),
            format!("'{ci} '"),
            format!("upper('{ci}')"),
            "''".to_owned(),
            "NULL".to_owned(),
        ] {
            assert_eq!(scopes_of(&made_up), "-", "{made_up}");
        }
        run("SELECT psqlqueue.revoke_token('ci')");
        assert_eq!(scopes_of(&format!("'{ci}'")), "-", "revoked");
        assert_eq!(
            scopes_of(&format!("'{ops}'")),
            "{admin}",
            "the other one lives"
        );
    }

    #[pg_test]
    fn list_tokens_shows_names_scopes_and_revocations_in_name_order() {
        create("zeta", "ARRAY['publish:events']");
        create("alpha", "ARRAY['manage:*', 'send:q']");
        run("SELECT psqlqueue.revoke_token('zeta')");
        assert_eq!(
            one::<String>(
                "SELECT string_agg(format('%s %s %s', name, scopes, revoked_at IS NOT NULL), '; ')
                   FROM psqlqueue.list_tokens()"
            ),
            "alpha {manage:*,send:q} f; zeta {publish:events} t"
        );
    }

    #[pg_test]
    fn revoking_twice_keeps_the_first_time() {
        create("ci", "ARRAY['admin']");
        run("SELECT psqlqueue.revoke_token('ci')");
        let first = one::<String>("SELECT revoked_at::text FROM psqlqueue.tokens");
        sleep(0.01);
        run("SELECT psqlqueue.revoke_token('ci')");
        assert_eq!(
            one::<String>("SELECT revoked_at::text FROM psqlqueue.tokens"),
            first
        );
    }

    #[pg_test]
    fn names_are_unique_even_after_a_revocation() {
        create("ci", "ARRAY['admin']");
        assert_error(
            "SELECT psqlqueue.create_token('ci', ARRAY['send:*'])",
            "23505",
            "token \"ci\" already exists",
        );
        run("SELECT psqlqueue.revoke_token('ci')");
        assert_error(
            "SELECT psqlqueue.create_token('ci', ARRAY['send:*'])",
            "23505",
            "already exists",
        );
        assert_error(
            "SELECT psqlqueue.revoke_token('nope')",
            "P0002",
            "token \"nope\" not found",
        );
        assert_eq!(one::<i64>("SELECT count(*) FROM psqlqueue.tokens"), 1);
    }

    #[pg_test]
    fn bad_names_and_scopes_are_refused() {
        let too_long_name = format!("'{}'", "n".repeat(129));
        for name in ["''", "'bad name!'", "NULL", too_long_name.as_str()] {
            assert_error(
                &format!("SELECT psqlqueue.create_token({name}, ARRAY['admin'])"),
                "22023",
                "invalid name: must be 1 to 128 characters",
            );
        }
        let too_long_target = format!("ARRAY['send:{}']", "q".repeat(129));
        let bad = [
            ("ARRAY['read:x']", "got 'read:x'"),
            ("ARRAY['send:']", "got 'send:'"),
            ("ARRAY['send']", "got 'send'"),
            ("ARRAY['send:bad name!']", "got 'send:bad name!'"),
            ("ARRAY['send:a:b']", "got 'send:a:b'"),
            ("ARRAY['admin:x']", "got 'admin:x'"),
            ("ARRAY['Send:x']", "got 'Send:x'"),
            ("ARRAY['admin', ' admin']", "got ' admin'"),
            (too_long_target.as_str(), "must be admin or ACTION:NAME"),
            ("ARRAY['send:a', 'admin', 'send:a']", "got 'send:a' twice"),
            ("ARRAY[]::text[]", "must list 1 to 64 scopes, got 0"),
            ("NULL", "must list 1 to 64 scopes, got null"),
            ("ARRAY['admin', NULL]", "must not contain null"),
            ("'{{admin,send:a}}'", "one-dimensional"),
            (
                "(SELECT array_agg('send:q' || i) FROM generate_series(1, 65) AS i)",
                "got 65",
            ),
        ];
        for (scopes, needle) in bad {
            let sql = format!("SELECT psqlqueue.create_token('t', {scopes})");
            assert_error(&sql, "22023", needle);
            assert!(outcome(&sql).contains("invalid scopes: "), "{sql}");
        }
        assert_eq!(one::<i64>("SELECT count(*) FROM psqlqueue.tokens"), 0);
        // The edges that are fine.
        create(
            "a.b_c-D9",
            "ARRAY['admin', 'send:*', 'consume:a.b_c-D9', 'manage:x', 'publish:t']",
        );
        create("long", &format!("ARRAY['send:{}']", "q".repeat(128)));
        create(
            "many",
            "(SELECT array_agg('send:q' || i) FROM generate_series(1, 64) AS i)",
        );
        create(&"n".repeat(128), "ARRAY['admin']");
        assert_eq!(one::<i64>("SELECT count(*) FROM psqlqueue.tokens"), 4);
    }
}
