//! Database roles given only producer, consumer or admin rights (sql/privileges.sql), acting as
//! themselves: each can do its part and is refused the rest with SQLSTATE 42501, and nothing is
//! granted to PUBLIC.
//!
//! Roles belong to the whole cluster, not to the test's database, so they get names of their
//! own per run and are dropped at the end, failed or not. They act through SET ROLE on the
//! superuser's connection: privileges are checked for the current role exactly as for a role
//! that logged in, and the roles need no LOGIN (nor a line in pg_hba.conf) on a shared server.

use psqlqueue_tests::{TestDb, admin_url};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio_postgres::{Client, Config, NoTls};

/// The roles of one test run: producer, consumer, admin and one given nothing. Dropped with
/// the value, after the test's database (declare it first: locals drop in reverse order), since
/// a role that holds privileges in a database cannot be dropped.
struct Roles {
    producer: String,
    consumer: String,
    admin: String,
    none: String,
}

impl Roles {
    async fn create() -> Roles {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let prefix = format!("psqlqueue_roles_{}_{nanos}", std::process::id());
        let roles = Roles {
            producer: format!("{prefix}_producer"),
            consumer: format!("{prefix}_consumer"),
            admin: format!("{prefix}_admin"),
            none: format!("{prefix}_none"),
        };
        // Generated above (no user input), so safe to splice into the DDL.
        let ddl: String = roles
            .all()
            .iter()
            .map(|role| format!("CREATE ROLE \"{role}\" NOLOGIN;"))
            .collect();
        admin_client()
            .await
            .batch_execute(&ddl)
            .await
            .expect("create the test roles");
        roles
    }

    fn all(&self) -> [&str; 4] {
        [&self.producer, &self.consumer, &self.admin, &self.none]
    }
}

impl Drop for Roles {
    fn drop(&mut self) {
        let names = self
            .all()
            .iter()
            .map(|role| format!("\"{role}\""))
            .collect::<Vec<_>>()
            .join(", ");
        // From a thread of our own, as TestDb does: we may be inside the test's runtime.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let Ok(admin) = admin_url().parse::<Config>() else {
                    return;
                };
                if let Ok((client, connection)) = admin.connect(NoTls).await {
                    tokio::spawn(connection);
                    let _ = client
                        .batch_execute(&format!("DROP ROLE IF EXISTS {names}"))
                        .await;
                }
            });
        })
        .join();
    }
}

async fn admin_client() -> Client {
    let config: Config = admin_url().parse().expect("PSQLQUEUE_TEST_ADMIN_URL");
    let (client, connection) = config.connect(NoTls).await.expect("connect to PostgreSQL");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Acts as `role` from now on (None: as the superuser again).
async fn act_as(client: &Client, role: Option<&str>) {
    let sql = role.map_or("RESET ROLE".to_owned(), |r| format!("SET ROLE \"{r}\""));
    client.batch_execute(&sql).await.expect("SET ROLE");
}

/// Runs `sql`, which must succeed.
async fn ok(client: &Client, sql: &str) {
    client
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The SQLSTATE `sql` fails with (a panic naming it when it succeeds).
async fn refused(client: &Client, sql: &str) -> String {
    match client.batch_execute(sql).await {
        Ok(()) => panic!("{sql}: expected an error, it succeeded"),
        Err(err) => err
            .code()
            .map(|code| code.code().to_owned())
            .unwrap_or_else(|| panic!("{sql}: not a database error: {err}")),
    }
}

/// Functions of schema psqlqueue that PUBLIC may execute, and whether it may use the schema.
async fn public_rights(client: &Client) -> (i64, bool) {
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM pg_proc AS p
                      WHERE p.pronamespace = 'psqlqueue'::regnamespace
                        AND has_function_privilege('public', p.oid, 'EXECUTE')),
                    has_schema_privilege('public', 'psqlqueue', 'USAGE')",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn each_role_does_its_part_and_nothing_else() {
    let roles = Roles::create().await;
    let db = TestDb::new().await;
    let client = db.connect().await;
    assert_eq!(
        public_rights(&client).await,
        (0, false),
        "nothing for PUBLIC"
    );

    ok(&client, "SELECT psqlqueue.create_queue('orders', 30, 600)").await;
    let grants = format!(
        "SELECT psqlqueue.grant_producer('{}'); SELECT psqlqueue.grant_consumer('{}');
         SELECT psqlqueue.grant_admin('{}');",
        roles.producer, roles.consumer, roles.admin
    );
    ok(&client, &grants).await;

    // The producer sends and looks queues up; it cannot receive, nor read a table directly.
    act_as(&client, Some(&roles.producer)).await;
    ok(&client, "SELECT psqlqueue.send('orders', 'one')").await;
    ok(&client, "SELECT psqlqueue.send('orders', 'two')").await;
    ok(&client, "SELECT psqlqueue.get_queue('orders')").await;
    for sql in [
        "SELECT * FROM psqlqueue.receive('orders', NULL, 1)",
        "SELECT psqlqueue.purge_queue('orders')",
        "SELECT psqlqueue.create_queue('mine', 30, 600)",
        "SELECT count(*) FROM psqlqueue.messages",
        "SELECT count(*) FROM psqlqueue.peek('orders')",
    ] {
        assert_eq!(refused(&client, sql).await, "42501", "producer: {sql}");
    }

    // The consumer receives and acks; it cannot send or purge.
    act_as(&client, Some(&roles.consumer)).await;
    let row = client
        .query_one(
            "SELECT id, receipt FROM psqlqueue.receive('orders', NULL, 1)",
            &[],
        )
        .await
        .expect("consumer receives");
    let (id, receipt): (String, String) = (row.get(0), row.get(1));
    client
        .execute("SELECT psqlqueue.ack('orders', $1, $2)", &[&id, &receipt])
        .await
        .expect("consumer acks");
    ok(&client, "SELECT psqlqueue.queue_stats('orders')").await;
    ok(&client, "SELECT count(*) FROM psqlqueue.peek('orders')").await;
    for sql in [
        "SELECT psqlqueue.send('orders', 'three')",
        "SELECT psqlqueue.purge_queue('orders')",
        "SELECT psqlqueue.token_scopes('pqq_x')",
        "DELETE FROM psqlqueue.messages",
    ] {
        assert_eq!(refused(&client, sql).await, "42501", "consumer: {sql}");
    }

    // The admin does everything the extension offers, tokens included, still without any
    // table of its own: only the role grants stay with the superuser.
    act_as(&client, Some(&roles.admin)).await;
    ok(
        &client,
        "SELECT psqlqueue.create_queue('audit', 30, 600);
         SELECT psqlqueue.create_topic('events');
         SELECT psqlqueue.create_subscription('all', 'events', 'audit');
         SELECT psqlqueue.publish('events', 'e');
         SELECT psqlqueue.send('orders', 'three');
         SELECT * FROM psqlqueue.receive('audit', NULL, 10);
         SELECT * FROM psqlqueue.queue_metrics();
         SELECT psqlqueue.create_token('ci', ARRAY['send:orders']);
         SELECT * FROM psqlqueue.list_tokens();
         SELECT psqlqueue.token_scopes('pqq_x');
         SELECT psqlqueue.revoke_token('ci');
         SELECT psqlqueue.sweep(10);
         SELECT psqlqueue.purge_queue('orders');
         SELECT psqlqueue.delete_subscription('all');
         SELECT psqlqueue.delete_topic('events');
         SELECT psqlqueue.delete_queue('audit');",
    )
    .await;
    let grant = format!("SELECT psqlqueue.grant_producer('{}')", roles.none);
    for sql in [grant.as_str(), "SELECT count(*) FROM psqlqueue.tokens"] {
        assert_eq!(refused(&client, sql).await, "42501", "admin: {sql}");
    }

    // A role given nothing cannot even look a queue up.
    act_as(&client, Some(&roles.none)).await;
    assert_eq!(
        refused(&client, "SELECT psqlqueue.get_queue('orders')").await,
        "42501"
    );

    // revoke_access takes the consumer's rights back.
    act_as(&client, None).await;
    ok(
        &client,
        &format!("SELECT psqlqueue.revoke_access('{}')", roles.consumer),
    )
    .await;
    ok(&client, "SELECT psqlqueue.send('orders', 'four')").await;
    act_as(&client, Some(&roles.consumer)).await;
    assert_eq!(
        refused(
            &client,
            "SELECT * FROM psqlqueue.receive('orders', NULL, 1)"
        )
        .await,
        "42501"
    );

    // The sidecar's set: everything an admin does but managing tokens; it checks them.
    act_as(&client, None).await;
    ok(
        &client,
        &format!("SELECT psqlqueue.grant_sidecar('{}')", roles.consumer),
    )
    .await;
    act_as(&client, Some(&roles.consumer)).await;
    ok(
        &client,
        "SELECT psqlqueue.token_scopes('pqq_x');
         SELECT psqlqueue.create_queue('sidecar-made', 30, 600);
         SELECT * FROM psqlqueue.queue_metrics();
         SELECT psqlqueue.try_sweep(10);",
    )
    .await;
    for sql in [
        "SELECT psqlqueue.create_token('minted', ARRAY['admin'])",
        "SELECT * FROM psqlqueue.list_tokens()",
        "SELECT psqlqueue.revoke_token('ci')",
    ] {
        assert_eq!(refused(&client, sql).await, "42501", "sidecar: {sql}");
    }

    act_as(&client, None).await;
    assert_eq!(
        public_rights(&client).await,
        (0, false),
        "granting to roles gave PUBLIC nothing"
    );
    drop(client);
    db.drop_db().await;
    drop(roles);
}
