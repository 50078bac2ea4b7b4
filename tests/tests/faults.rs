//! The short version of `make reliability`, inside `make test`: the Jepsen-style checker
//! (tests/src/bin/reliability.rs) runs its baseline, a database restart and the subscription
//! churn for a few seconds each on the preloaded cluster (scripts/preload-cluster.sh, started by
//! `make test`), three sidecars in front of it, and must find no lost, unexpected or
//! acked-then-redelivered message, no overlapping leases and no stray or missing copy (it exits
//! 1 otherwise).

use std::path::PathBuf;
use std::process::Command;

#[test]
fn a_short_run_of_the_fault_checker_finds_nothing_lost() {
    let harness = PathBuf::from(env!("CARGO_BIN_EXE_reliability"));
    // The sidecar binary beside it (`cargo test -p psqlqueue-http` builds it; make test does).
    let sidecar = harness.with_file_name("psqlqueue");
    assert!(
        sidecar.exists(),
        "{} is missing: build it with `cargo build -p psqlqueue-http`",
        sidecar.display()
    );
    let port = std::env::var("PSQLQUEUE_PRELOAD_PORT").unwrap_or_else(|_| "54331".to_owned());
    let home = std::env::var("PSQLQUEUE_TEST_PRELOAD_HOME")
        .unwrap_or_else(|_| format!("/tmp/psqlqueue-preload-{port}"));
    let out = std::env::temp_dir().join(format!("psqlqueue-faults-{}.md", std::process::id()));
    let output = Command::new(&harness)
        .args([
            "--port",
            &port,
            "--seconds",
            "4",
            "--scenarios",
            "baseline,db-fast,churn",
        ])
        .arg("--sidecar-bin")
        .arg(&sidecar)
        .arg("--pg-ctl-data")
        .arg(format!("{home}/data"))
        // The restarted server keeps writing where preload-cluster.sh started it.
        .arg("--pg-log")
        .arg(format!("{home}/log"))
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run the reliability harness");
    let report = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    assert!(
        output.status.success(),
        "the checker failed ({}):\n{report}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        ["| baseline |", "| db-fast |", "| churn |"]
            .iter()
            .all(|row| report.contains(row)),
        "{report}"
    );
}
