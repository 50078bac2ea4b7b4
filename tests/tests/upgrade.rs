//! The path a user's database takes between releases: the previous version installed and in
//! use, then `ALTER EXTENSION psqlqueue UPDATE`. It must end with exactly what a fresh install
//! of this version has, with the data still there and working.
//!
//! Needs the previous release's install script in the server's extension directory
//! (`scripts/install-ext.sh` installs `sql/archive/`).

use psqlqueue_tests::TestDb;
use tokio_postgres::Client;

/// Every released version before this one whose upgrade path is tested.
const PREVIOUS: &[&str] = &[
    "0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "0.9.0", "0.10.0",
    "0.11.0", "0.12.0", "0.13.0", "0.14.0", "0.15.0",
];

/// One line per property of the extension's objects, sorted, so two databases compare as
/// lists: member objects, function definitions (body, volatility, SET options), triggers,
/// columns (with their collations), constraints (with their comments), indexes, storage
/// options, comments, privileges and dump configuration.
const CATALOG: &str = r"
SELECT line FROM (
    SELECT 'member ' || pg_describe_object(d.classid, d.objid, d.objsubid)
      FROM pg_depend AS d JOIN pg_extension AS e ON d.refobjid = e.oid
     WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' AND e.extname = 'psqlqueue'
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure::text || E'\n' || pg_get_functiondef(p.oid)
           || E'\ncomment ' || coalesce(obj_description(p.oid, 'pg_proc'), '-')
           || E'\nacl ' || coalesce(p.proacl::text, '-')
      FROM pg_proc AS p WHERE p.pronamespace = 'psqlqueue'::regnamespace
    UNION ALL
    SELECT format('relation %s kind %s options %s acl %s comment %s', c.relname, c.relkind,
                  coalesce(c.reloptions::text, '-'), coalesce(c.relacl::text, '-'),
                  coalesce(obj_description(c.oid, 'pg_class'), '-'))
      FROM pg_class AS c WHERE c.relnamespace = 'psqlqueue'::regnamespace
    UNION ALL
    SELECT 'trigger ' || pg_get_triggerdef(t.oid)
      FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid
     WHERE c.relnamespace = 'psqlqueue'::regnamespace AND NOT t.tgisinternal
    UNION ALL
    SELECT format('column %s.%s %s collate %s not null %s default %s comment %s', c.relname, a.attname,
                  format_type(a.atttypid, a.atttypmod), coalesce(nullif(a.attcollation, 0)::regcollation::text, '-'),
                  a.attnotnull,
                  coalesce(pg_get_expr(ad.adbin, ad.adrelid), '-'),
                  coalesce(col_description(c.oid, a.attnum), '-'))
      FROM pg_class AS c
      JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef AS ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
     WHERE c.relnamespace = 'psqlqueue'::regnamespace
    UNION ALL
    SELECT format('constraint %s.%s %s comment %s', con.conrelid::regclass, con.conname,
                  pg_get_constraintdef(con.oid), coalesce(obj_description(con.oid, 'pg_constraint'), '-'))
      FROM pg_constraint AS con WHERE con.connamespace = 'psqlqueue'::regnamespace
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(i.indexrelid)
      FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid
     WHERE c.relnamespace = 'psqlqueue'::regnamespace
    UNION ALL
    SELECT format('dumped %s where %s', cfg.rel::regclass, coalesce(cond.c, '-'))
      FROM pg_extension AS e,
           unnest(e.extconfig) WITH ORDINALITY AS cfg(rel, n)
      LEFT JOIN LATERAL unnest(e.extcondition) WITH ORDINALITY AS cond(c, k) ON cond.k = cfg.n
     WHERE e.extname = 'psqlqueue'
) AS catalog(line)
ORDER BY line";

async fn catalog(client: &Client) -> Vec<String> {
    client
        .query(CATALOG, &[])
        .await
        .expect("describe the extension's catalog")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// Fails with the lines only one side has, which is what a reader of the failure needs.
fn assert_same_catalog(upgraded: &[String], fresh: &[String], from: &str) {
    let only_upgraded: Vec<&String> = upgraded.iter().filter(|l| !fresh.contains(l)).collect();
    let only_fresh: Vec<&String> = fresh.iter().filter(|l| !upgraded.contains(l)).collect();
    assert!(
        only_upgraded.is_empty() && only_fresh.is_empty(),
        "{from} upgraded differs from a fresh install\n--- only after the upgrade:\n{}\n--- only in a fresh install:\n{}",
        only_upgraded
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        only_fresh
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
    );
    assert_eq!(upgraded.len(), fresh.len(), "same number of catalog lines");
}

/// Drops the database, then the roles it granted to: roles are cluster-wide, and a role that
/// still holds privileges in a database cannot be dropped.
async fn drop_roles_after(db: TestDb, roles: &[&str]) {
    db.drop_db().await;
    let (admin, connection) =
        tokio_postgres::connect(&psqlqueue_tests::admin_url(), tokio_postgres::NoTls)
            .await
            .expect("connect to the server");
    tokio::spawn(connection);
    let drops: String = roles
        .iter()
        .map(|role| format!("DROP ROLE {role};"))
        .collect();
    admin.batch_execute(&drops).await.expect("drop roles");
}

#[tokio::test]
async fn every_upgrade_path_ends_at_a_fresh_install_with_the_data_kept() {
    let fresh_db = TestDb::new().await;
    let fresh = catalog(&fresh_db.connect().await).await;
    assert!(
        fresh
            .iter()
            .any(|l| l.starts_with("function psqlqueue.receive(")),
        "the catalog query sees the extension's functions"
    );

    for &from in PREVIOUS {
        let db = TestDb::empty().await;
        let client = db.connect().await;
        // The version string comes from the constant above, not from input.
        client
            .batch_execute(&format!("CREATE EXTENSION psqlqueue VERSION '{from}'"))
            .await
            .unwrap_or_else(|e| {
                panic!("install {from} (is sql/archive installed? run `make install`): {e}")
            });
        // Data written by the old version: a leased message, a waiting one, a subscription.
        client
            .batch_execute(
                "SELECT psqlqueue.create_queue('orders', 30, 600);
                 SELECT psqlqueue.create_topic('events');
                 SELECT psqlqueue.create_subscription('all', 'events', 'orders', NULL);
                 SELECT psqlqueue.send('orders', 'leased');
                 SELECT * FROM psqlqueue.receive('orders', NULL, 1);
                 SELECT psqlqueue.send('orders', 'waiting');",
            )
            .await
            .unwrap();

        client
            .batch_execute("ALTER EXTENSION psqlqueue UPDATE")
            .await
            .unwrap_or_else(|e| panic!("update from {from}: {e}"));
        let version: String = client
            .query_one(
                "SELECT extversion FROM pg_extension WHERE extname = 'psqlqueue'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(version, env!("CARGO_PKG_VERSION"), "updated from {from}");
        assert_same_catalog(&catalog(&client).await, &fresh, from);

        // The old data under the new functions: the lease taken before the upgrade still holds.
        let bodies: Vec<String> = client
            .query(
                "SELECT body FROM psqlqueue.receive('orders', NULL, 10)",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(bodies, vec!["waiting".to_owned()], "from {from}");
        let delivered: i32 = client
            .query_one(
                "SELECT psqlqueue.publish('events', 'after', NULL, NULL)",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            delivered, 1,
            "the subscription survived the update from {from}"
        );
        // Its holder has no receipt (old versions drew none): the update gave the lease one, so
        // the receipt-less ack of the original API still works on it, and only on it.
        client
            .batch_execute(
                "SELECT psqlqueue.ack('orders', id) FROM psqlqueue.messages WHERE body = 'leased'",
            )
            .await
            .unwrap_or_else(|e| panic!("ack of a lease taken before the update from {from}: {e}"));
        let left: i64 = client
            .query_one(
                "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'orders'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(left, 2, "nothing else lost in the update from {from}");
        drop(client);
        db.drop_db().await;
    }
    fresh_db.drop_db().await;
}

/// Roles given a set before 0.8.0 keep what it now holds: whoever could receive may peek
/// after the update (the update grants it), and a producer still may not.
#[tokio::test]
async fn the_update_to_0_8_0_lets_roles_that_receive_peek() {
    let db = TestDb::empty().await;
    let client = db.connect().await;
    let suffix = db.name().to_owned();
    let (consumer, producer) = (format!("{suffix}_c"), format!("{suffix}_p"));
    client
        .batch_execute(&format!(
            "CREATE EXTENSION psqlqueue VERSION '0.7.0';
             CREATE ROLE {consumer}; CREATE ROLE {producer};
             SELECT psqlqueue.grant_consumer('{consumer}');
             SELECT psqlqueue.grant_producer('{producer}');
             ALTER EXTENSION psqlqueue UPDATE TO '0.8.0';"
        ))
        .await
        .expect("install 0.7.0, grant, update");
    let may = |role: String| {
        let client = &client;
        async move {
            client
                .query_one(
                    "SELECT has_function_privilege($1, 'psqlqueue.peek(text, int, text)', 'EXECUTE')",
                    &[&role],
                )
                .await
                .expect("privilege check")
                .get::<_, bool>(0)
        }
    };
    let (consumer_may, producer_may) = (may(consumer.clone()).await, may(producer.clone()).await);
    drop(client);
    drop_roles_after(db, &[&consumer, &producer]).await;
    assert!(
        consumer_may,
        "a consumer granted at 0.7.0 may peek after the update"
    );
    assert!(!producer_may, "a producer may not peek");
}

/// Roles given a set at `from` hold all of it after `ALTER EXTENSION psqlqueue UPDATE` to
/// `to` (the default version when None), and a consumer is given no internal function.
async fn sets_stay_whole(from: &str, to: Option<&str>) {
    let db = TestDb::empty().await;
    let client = db.connect().await;
    let suffix = db.name().to_owned();
    let roles = [
        (format!("{suffix}_a"), "admin"),
        (format!("{suffix}_s"), "sidecar"),
        (format!("{suffix}_c"), "consumer"),
    ];
    let grants: String = roles
        .iter()
        .map(|(role, kind)| format!("CREATE ROLE {role}; SELECT psqlqueue.grant_{kind}('{role}');"))
        .collect();
    let target = to.map_or(String::new(), |version| format!(" TO '{version}'"));
    client
        .batch_execute(&format!(
            "CREATE EXTENSION psqlqueue VERSION '{from}'; {grants}
             ALTER EXTENSION psqlqueue UPDATE{target};"
        ))
        .await
        .expect("install, grant, update");
    let mut missing = Vec::new();
    for (role, kind) in &roles {
        let lacks: String = client
            .query_one(
                "SELECT coalesce(string_agg(f::text, ', ' ORDER BY f::text), '')
                   FROM psqlqueue.role_functions($2) AS f
                  WHERE NOT has_function_privilege($1, f::oid, 'EXECUTE')",
                &[role, kind],
            )
            .await
            .expect("privilege check")
            .get(0);
        if !lacks.is_empty() {
            missing.push(format!("{kind}: {lacks}"));
        }
    }
    let consumer_holds: String = client
        .query_one(
            "SELECT coalesce(string_agg(p.oid::regprocedure::text, ', '), '')
               FROM pg_proc AS p
              WHERE p.pronamespace = 'psqlqueue'::regnamespace
                AND p.proname IN ('batch_is_plain', 'lease_failure', 'ulids')
                AND has_function_privilege($1, p.oid, 'EXECUTE')",
            &[&roles[2].0],
        )
        .await
        .expect("privilege check")
        .get(0);
    drop(client);
    let names: Vec<&str> = roles.iter().map(|(role, _)| role.as_str()).collect();
    drop_roles_after(db, &names).await;
    assert!(
        missing.is_empty(),
        "{from}: functions of a set lost in the update: {missing:?}"
    );
    assert_eq!(
        consumer_holds, "",
        "{from}: a consumer holds no internal function"
    );
}

/// The update to 0.12.0 made lease_failure anew (dropping its grants) and added batch_is_plain.
#[tokio::test]
async fn the_update_to_0_12_0_keeps_the_sets_of_granted_roles_whole() {
    sets_stay_whole("0.11.0", Some("0.12.0")).await;
}

/// From every release since, to this one (0.16.0 added ulids).
#[tokio::test]
async fn the_update_to_this_release_keeps_the_sets_of_granted_roles_whole() {
    for &from in PREVIOUS.iter().skip_while(|&&version| version != "0.12.0") {
        sets_stay_whole(from, None).await;
    }
}
