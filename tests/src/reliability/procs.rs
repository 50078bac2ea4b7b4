//! What the harness starts and breaks: sidecar processes, the cluster (pg_ctl as postgres), and
//! database connections.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};
use tokio_postgres::{Client, NoTls};

/// One sidecar: its ports and, while it runs, its process (killed if dropped).
#[derive(Debug)]
pub struct Sidecar {
    pub port: u16,
    pub metrics_port: u16,
    child: Option<Child>,
    log: PathBuf,
}

#[derive(Debug)]
pub struct Sidecars {
    bin: PathBuf,
    db_url: String,
    pub list: Vec<Sidecar>,
}

impl Sidecars {
    pub fn new(
        bin: PathBuf,
        db_url: String,
        ports: &[(u16, u16)],
        log_dir: &str,
        tag: &str,
    ) -> Sidecars {
        let list = ports
            .iter()
            .enumerate()
            .map(|(i, &(port, metrics_port))| Sidecar {
                port,
                metrics_port,
                child: None,
                log: PathBuf::from(format!("{log_dir}/{tag}-sidecar{i}.log")),
            })
            .collect();
        Sidecars { bin, db_url, list }
    }

    pub fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.list[i].port)
    }

    pub fn start(&mut self, i: usize) -> Result<(), String> {
        let sc = &mut self.list[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&sc.log)
            .map_err(|e| format!("sidecar log {}: {e}", sc.log.display()))?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&self.bin)
            .arg("server")
            .env("PSQLQUEUE_DATABASE_URL", &self.db_url)
            .env("PSQLQUEUE_SERVER_HOST", "127.0.0.1")
            .env("PSQLQUEUE_SERVER_PORT", sc.port.to_string())
            .env("PSQLQUEUE_METRICS_HOST", "127.0.0.1")
            .env("PSQLQUEUE_METRICS_PORT", sc.metrics_port.to_string())
            .env("PSQLQUEUE_LOG_LEVEL", "warn")
            .env("PSQLQUEUE_SWEEP_INTERVAL_SECONDS", "0")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("start {}: {e}", self.bin.display()))?;
        sc.child = Some(child);
        Ok(())
    }

    /// SIGKILL, and reap.
    pub async fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.list[i].child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// SIGTERM, then wait up to `grace` for the exit (SIGKILL after). Returns whether it exited
    /// by itself.
    pub async fn term(&mut self, i: usize, grace: Duration) -> bool {
        let Some(mut child) = self.list[i].child.take() else {
            return true;
        };
        if let Some(pid) = child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        match tokio::time::timeout(grace, child.wait()).await {
            Ok(_) => true,
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                false
            }
        }
    }

    pub async fn stop_all(&mut self) {
        for i in 0..self.list.len() {
            self.term(i, Duration::from_secs(10)).await;
        }
    }

    /// Waits until /healthz answers 200 (or the process died, or `limit` passed).
    pub async fn wait_healthy(&mut self, i: usize, limit: Duration) -> Result<(), String> {
        let client = reqwest::Client::new();
        let url = format!("{}/healthz", self.url(i));
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(child) = self.list[i].child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!(
                    "sidecar {i} exited: {status} (log {})",
                    self.list[i].log.display()
                ));
            }
            if let Ok(resp) = client.get(&url).send().await
                && resp.status().as_u16() == 200
            {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("sidecar {i} not healthy after {limit:?}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Runs `pg_ctl <args>` as postgres; the last argument names the action in an error. The
/// server's output goes to the log named in the arguments (never to a pipe of ours: the
/// postmaster outlives pg_ctl).
async fn pg_ctl(pg_bin: &str, args: &[&str]) -> Result<(), String> {
    let status = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(format!("{pg_bin}/pg_ctl"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .map_err(|e| format!("runuser pg_ctl: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("pg_ctl {}: {status}", args.last().unwrap_or(&"")))
    }
}

/// `pg_ctl -D data -m fast -w restart`, its output to `log`.
pub async fn pg_restart(pg_bin: &str, data: &str, log: &str) -> Result<(), String> {
    pg_ctl(
        pg_bin,
        &[
            "-D", data, "-m", "fast", "-w", "-t", "60", "-l", log, "restart",
        ],
    )
    .await
}

/// A crash of the server: `pg_ctl stop -m immediate` (no shutdown checkpoint: the next start
/// runs crash recovery), then start it again. The start is `restart`, which reuses the
/// options the server last ran with (postmaster.opts: its port and socket directory); a plain
/// `start` would read only postgresql.conf.
pub async fn pg_crash(pg_bin: &str, data: &str, log: &str) -> Result<(), String> {
    pg_ctl(pg_bin, &["-D", data, "-m", "immediate", "-w", "stop"]).await?;
    pg_ctl(
        pg_bin,
        &["-D", data, "-w", "-t", "60", "-l", log, "restart"],
    )
    .await
}

/// Drops every packet sent to the database's port on loopback for `hold`, with iptables; the
/// rule is removed whatever happens in between.
pub async fn blackhole(port: u16, hold: std::time::Duration) -> Result<(), String> {
    let rule = |op: &str| {
        let port = port.to_string();
        let op = op.to_owned();
        async move {
            Command::new("iptables")
                .args([
                    &op, "INPUT", "-i", "lo", "-p", "tcp", "--dport", &port, "-j", "DROP",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await
                .map_err(|e| format!("iptables: {e}"))
        }
    };
    let added = rule("-I").await?;
    if !added.success() {
        return Err(format!("iptables -I: {added} (not available here?)"));
    }
    tokio::time::sleep(hold).await;
    let removed = rule("-D").await?;
    if removed.success() {
        Ok(())
    } else {
        Err(format!("iptables -D: {removed}: remove the rule by hand"))
    }
}

pub async fn connect(port: u16, db: &str) -> Result<Client, String> {
    let conn = format!("host=127.0.0.1 port={port} user=postgres dbname={db} connect_timeout=5");
    let (client, connection) = tokio_postgres::connect(&conn, NoTls)
        .await
        .map_err(|e| format!("connect to {db}: {}", pg_err(&e)))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Retries a connection for up to `limit` (the cluster may be restarting).
pub async fn connect_retry(port: u16, db: &str, limit: Duration) -> Result<Client, String> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match connect(port, db).await {
            Ok(c) => return Ok(c),
            Err(e) if tokio::time::Instant::now() > deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// A database error's message (tokio-postgres's Display says only "db error").
pub fn pg_err(e: &tokio_postgres::Error) -> String {
    e.as_db_error().map_or_else(
        || e.to_string(),
        |d| format!("{} ({})", d.message(), d.code().code()),
    )
}
