//! One scenario: fresh database, three sidecars, load with one fault, drain, check. Sidecars are
//! stopped and the database dropped whatever happens.

use crate::Args;
use crate::checker::{self, Fault};
use crate::load::{self, Shared};
use crate::procs::{self, Sidecars};
use crate::report::Outcome;
use crate::{churn, redelivery, sql_consumer};
use chrono::Utc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::Mutex;

const ACK_DEADLINE_S: i64 = 5;
const PRODUCERS: usize = 4;
/// Consumers in all; the last of them talks SQL, the others HTTP.
const CONSUMERS: usize = 8;
const SIDECARS: usize = 3;
/// The drain ends after this long without a delivery and an empty queue, or at the cap.
const DRAIN_QUIET: Duration = Duration::from_secs(5);
const DRAIN_CAP: Duration = Duration::from_secs(60);
const LOG_DIR: &str = "target/reliability";

/// Runs scenario `name` (the `idx`th of the run: it picks the sidecars' ports) on a database
/// of its own.
pub async fn run(args: &Args, name: &str, idx: usize, commit: &str) -> Result<Outcome, String> {
    let db = format!(
        "psqlqueue_rel_{}_{}",
        name.replace('-', "_"),
        std::process::id()
    );
    let admin = procs::connect_retry(args.port, "postgres", Duration::from_secs(30)).await?;
    for sql in [
        format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
        format!("CREATE DATABASE {db}"),
    ] {
        admin
            .batch_execute(&sql)
            .await
            .map_err(|e| format!("{sql}: {}", procs::pg_err(&e)))?;
    }
    drop(admin);
    std::fs::create_dir_all(LOG_DIR).map_err(|e| format!("{LOG_DIR}: {e}"))?;
    let base = 18100 + (idx as u16 % 16) * 6;
    let ports: Vec<(u16, u16)> = (0..SIDECARS as u16)
        .map(|i| (base + i, base + 3 + i))
        .collect();
    let db_url = format!(
        "host=127.0.0.1 port={} user=postgres dbname={db}",
        args.port
    );
    let sidecars = Arc::new(Mutex::new(Sidecars::new(
        args.sidecar_bin.clone().into(),
        db_url,
        &ports,
        LOG_DIR,
        name,
    )));
    let result = body(args, name, &db, commit, sidecars.clone()).await;
    sidecars.lock().await.stop_all().await;
    match procs::connect_retry(args.port, "postgres", Duration::from_secs(30)).await {
        Ok(admin) => {
            if let Err(e) = admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .await
            {
                eprintln!("reliability: drop database {db}: {}", procs::pg_err(&e));
            }
        }
        Err(e) => eprintln!("reliability: drop database {db}: {e}"),
    }
    result
}

async fn body(
    args: &Args,
    name: &str,
    db: &str,
    commit: &str,
    sidecars: Arc<Mutex<Sidecars>>,
) -> Result<Outcome, String> {
    procs::connect(args.port, db)
        .await?
        .batch_execute("CREATE EXTENSION psqlqueue")
        .await
        .map_err(|e| {
            format!(
                "CREATE EXTENSION psqlqueue (run make install): {}",
                procs::pg_err(&e)
            )
        })?;
    let urls = {
        let mut sc = sidecars.lock().await;
        for i in 0..SIDECARS {
            sc.start(i)?;
        }
        for i in 0..SIDECARS {
            sc.wait_healthy(i, Duration::from_secs(30)).await?;
        }
        (0..SIDECARS).map(|i| sc.url(i)).collect::<Vec<_>>()
    };
    let is_churn = name == "churn";
    let shared = Arc::new(Shared::new(
        urls.clone(),
        is_churn.then(|| churn::TOPIC.to_owned()),
    ));
    let created = shared
        .client
        .post(format!("{}/v1/queues", urls[0]))
        .json(
            &serde_json::json!({"id": "r", "ack_deadline_seconds": ACK_DEADLINE_S,
            "message_retention_seconds": 3600, "delivery_delay_seconds": 0}),
        )
        .send()
        .await
        .map_err(|e| format!("create queue: {e}"))?;
    if created.status().as_u16() != 201 {
        return Err(format!("create queue: {}", created.status()));
    }
    if is_churn {
        churn::setup(&shared, ACK_DEADLINE_S).await?;
    }

    let t0 = Utc::now();
    let load_for = Duration::from_secs(args.seconds);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| tokio::spawn(load::producer(shared.clone(), p)))
        .collect();
    let mut consumers: Vec<_> = (0..CONSUMERS - 1)
        .map(|c| tokio::spawn(load::consumer(shared.clone(), c)))
        .collect();
    consumers.push(tokio::spawn(sql_consumer::consumer(
        shared.clone(),
        CONSUMERS - 1,
        args.port,
        db.to_owned(),
    )));
    let churner = is_churn.then(|| tokio::spawn(churn::churner(shared.clone())));
    let fault = tokio::spawn(inject(
        args.clone(),
        name.to_owned(),
        db.to_owned(),
        sidecars,
        load_for,
    ));
    tokio::time::sleep(load_for).await;
    shared.stop_producers.store(true, Ordering::SeqCst);
    for p in producers.into_iter().chain(churner) {
        let _ = p.await;
    }
    let (fault, fault_note) = match fault.await {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => (None, format!(" (fault injection failed: {e})")),
        Err(e) => (None, format!(" (fault task panicked: {e})")),
    };

    // Drain: no more chaos; until quiet and empty, or the cap.
    shared.chaos.store(false, Ordering::SeqCst);
    let drain_start = tokio::time::Instant::now();
    let mut remaining: i64;
    let drain_finished = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        remaining = count_rows(args.port, db).await.unwrap_or(-1);
        let quiet = (Utc::now() - shared.last_delivery())
            .to_std()
            .unwrap_or_default()
            >= DRAIN_QUIET;
        if quiet && remaining == 0 {
            break true;
        }
        if drain_start.elapsed() > DRAIN_CAP {
            break false;
        }
    };
    let drain_seconds = drain_start.elapsed().as_secs_f64();
    shared.stop_consumers.store(true, Ordering::SeqCst);
    let run_end = Utc::now();
    for c in consumers {
        let _ = tokio::time::timeout(Duration::from_secs(30), c).await;
    }
    if let Ok(n) = count_rows(args.port, db).await {
        remaining = n;
    }
    let churn_left = if is_churn {
        Some(churn::drain(&shared, args.port, db).await?)
    } else {
        None
    };
    let history = shared.rec.take();
    let mut verdict = checker::check(&history, fault.as_ref(), ACK_DEADLINE_S, t0);
    verdict.churn = churn_left.map(|left| churn::check(&history, left));
    if matches!(name, "sidecar-kill" | "sidecar-term") {
        verdict.redelivery = fault
            .as_ref()
            .map(|f| redelivery::check(&history, f, ACK_DEADLINE_S, run_end, t0));
    }
    Ok(Outcome {
        name: name.to_owned(),
        date: Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        commit: commit.to_owned(),
        load_seconds: args.seconds,
        t0,
        fault,
        fault_note,
        drain_seconds,
        drain_finished,
        remaining_rows: remaining,
        verdict,
    })
}

async fn count_rows(port: u16, db: &str) -> Result<i64, String> {
    let c = procs::connect(port, db).await?;
    let row = c
        .query_one(
            "SELECT count(*) FROM psqlqueue.messages WHERE queue_id = 'r'",
            &[],
        )
        .await
        .map_err(|e| procs::pg_err(&e))?;
    Ok(row.get(0))
}

/// Waits a third of the load, then injects the scenario's fault. Returns its window and a note.
async fn inject(
    args: Args,
    name: String,
    db: String,
    sidecars: Arc<Mutex<Sidecars>>,
    load_for: Duration,
) -> Result<(Option<Fault>, String), String> {
    tokio::time::sleep(load_for / 3).await;
    let start = Utc::now();
    let fault = |what: &str, hit: Vec<usize>| Fault {
        what: what.to_owned(),
        start,
        end: Utc::now(),
        hit,
    };
    match name.as_str() {
        "db-fast" => {
            procs::pg_restart(&args.pg_bin, &args.pg_data, &args.pg_log).await?;
            Ok((
                Some(fault("`pg_ctl restart -m fast`", (0..SIDECARS).collect())),
                String::new(),
            ))
        }
        "db-crash" => {
            procs::pg_crash(&args.pg_bin, &args.pg_data, &args.pg_log).await?;
            Ok((
                Some(fault(
                    "`pg_ctl stop -m immediate`, then start (crash recovery)",
                    (0..SIDECARS).collect(),
                )),
                String::new(),
            ))
        }
        "db-blackhole" => {
            procs::blackhole(args.port, Duration::from_secs(10)).await?;
            Ok((
                Some(fault(
                    "every packet to the database port dropped for 10 s (iptables on loopback)",
                    (0..SIDECARS).collect(),
                )),
                String::new(),
            ))
        }
        "sidecar-kill" | "sidecar-term" => {
            let mut sc = sidecars.lock().await;
            let note = if name == "sidecar-kill" {
                sc.kill(0).await;
                drop(sc);
                tokio::time::sleep(Duration::from_secs(2)).await;
                sc = sidecars.lock().await;
                String::new()
            } else {
                let exited = sc.term(0, Duration::from_secs(35)).await;
                format!(
                    "; it {} after {:.2} s",
                    if exited {
                        "exited"
                    } else {
                        "did not exit, SIGKILLed"
                    },
                    (Utc::now() - start).num_milliseconds() as f64 / 1000.0
                )
            };
            sc.start(0)?;
            let what = if name == "sidecar-kill" {
                "SIGKILL of sidecar 0, restarted on its port 2 s later"
            } else {
                "SIGTERM of sidecar 0, restarted on its port once it exited"
            };
            let f = fault(what, vec![0]);
            let healthy = sc.wait_healthy(0, Duration::from_secs(30)).await;
            let note = match healthy {
                Ok(()) => format!(
                    "{note}; /healthz 200 again {:.2} s after the restart",
                    (Utc::now() - f.end).num_milliseconds() as f64 / 1000.0
                ),
                Err(e) => format!("{note}; restart failed: {e}"),
            };
            Ok((Some(f), note))
        }
        "backend-kill" => {
            let until = tokio::time::Instant::now() + load_for / 3;
            let (mut terminated, mut failures) = (0usize, 0usize);
            let mut admin = None;
            while tokio::time::Instant::now() < until {
                if admin.is_none() {
                    admin = procs::connect(args.port, "postgres").await.ok();
                }
                if let Some(c) = &admin {
                    match c
                        .query(
                            "SELECT pg_terminate_backend(pid) FROM (SELECT pid FROM pg_stat_activity
                              WHERE datname = $1 AND pid <> pg_backend_pid()
                                AND backend_type = 'client backend' ORDER BY random() LIMIT 1) s",
                            &[&db],
                        )
                        .await
                    {
                        Ok(rows) => terminated += rows.iter().filter(|r| r.get::<_, bool>(0)).count(),
                        Err(_) => {
                            failures += 1;
                            admin = None;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let note = format!("; {terminated} backends terminated ({failures} failed attempts)");
            Ok((
                Some(fault(
                    "one random client backend terminated every 200 ms",
                    (0..SIDECARS).collect(),
                )),
                note,
            ))
        }
        _ => Ok((None, String::new())),
    }
}
