//! The markdown: one section per scenario, and a summary table.

use crate::checker::{Fault, Verdict};
use crate::history::Ts;
use std::fmt::Write;

/// Everything one scenario's section prints.
#[derive(Debug)]
pub struct Outcome {
    pub name: String,
    pub date: String,
    pub commit: String,
    pub load_seconds: u64,
    pub t0: Ts,
    pub fault: Option<Fault>,
    pub fault_note: String,
    pub drain_seconds: f64,
    pub drain_finished: bool,
    pub remaining_rows: i64,
    pub verdict: Verdict,
}

/// Listed violations per kind, at most this many lines each.
const MAX_LINES: usize = 20;

fn list(out: &mut String, title: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n**{title}** ({}):\n", items.len());
    for item in items.iter().take(MAX_LINES) {
        let _ = writeln!(out, "- {item}");
    }
    if items.len() > MAX_LINES {
        let _ = writeln!(out, "- ... {} more", items.len() - MAX_LINES);
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |s| format!("{s:.2}"))
}

pub fn section(o: &Outcome) -> String {
    let v = &o.verdict;
    let rel = |t: Ts| (t - o.t0).num_milliseconds() as f64 / 1000.0;
    let mut out = String::new();
    let _ = writeln!(out, "## {}\n", o.name);
    let _ = writeln!(out, "- date: {}, commit: {}", o.date, o.commit);
    let _ = writeln!(
        out,
        "- load: {} s, 4 producers, 8 consumers (limit 5, wait 1 s; 3% of batches dropped, 5% of messages nacked), 3 sidecars, ack deadline 5 s",
        o.load_seconds
    );
    match &o.fault {
        Some(f) => {
            let _ = writeln!(
                out,
                "- fault: {} from +{:.2} s to +{:.2} s{}",
                f.what,
                rel(f.start),
                rel(f.end),
                o.fault_note
            );
        }
        None => {
            let _ = writeln!(out, "- fault: none{}", o.fault_note);
        }
    }
    let _ = writeln!(
        out,
        "- sends: {} attempted, {} acknowledged (201), {} indeterminate ({} of them delivered)",
        v.attempted, v.sent_ok, v.indeterminate, v.indeterminate_delivered
    );
    let _ = writeln!(
        out,
        "- deliveries: {} ({} distinct payloads, {} delivered more than once), batches dropped: {}",
        v.deliveries, v.delivered_payloads, v.duplicates, v.crashed_batches
    );
    let _ = writeln!(
        out,
        "- settles: {} acked (204), {} nacked (204), {} refused (409), {} indeterminate",
        v.acked, v.nacked, v.settle_refused, v.settle_indeterminate
    );
    let _ = writeln!(
        out,
        "- **lost {}, unexpected {}, acked-then-redelivered {}, overlapping leases {}**",
        v.lost.len(),
        v.unexpected.len(),
        v.acked_then_redelivered.len(),
        v.overlapping.len()
    );
    let _ = writeln!(
        out,
        "- recovery after the fault's end: first 2xx from any sidecar {} s, from every sidecar hit {} s \
         (bound {} s{})",
        opt(v.recovery_any),
        opt(v.recovery_all),
        crate::checker::RECOVERY_BOUND_S,
        v.slow_recovery
            .as_deref()
            .map_or_else(String::new, |why| format!(": **broken**, {why}"))
    );
    let _ = writeln!(
        out,
        "- 5xx answers other than 503: **{}** (must be 0)",
        v.server_errors
    );
    if let (Some(f), Some(end)) = (&o.fault, v.outage_end) {
        let _ = writeln!(
            out,
            "- outage window (fault start to that first 2xx): {:.2} s",
            (end - f.start).num_milliseconds() as f64 / 1000.0
        );
    }
    let _ = writeln!(
        out,
        "- drain: {} after {:.1} s, {} rows left in psqlqueue.messages",
        if o.drain_finished {
            "finished"
        } else {
            "NOT finished (cap 60 s)"
        },
        o.drain_seconds,
        o.remaining_rows
    );
    if v.errors.is_empty() {
        let _ = writeln!(out, "- error answers: none");
    } else {
        let _ = writeln!(
            out,
            "\n| error answer (operation, status) | during the outage | outside |"
        );
        let _ = writeln!(out, "| --- | ---: | ---: |");
        for (k, (d, o)) in &v.errors {
            let _ = writeln!(out, "| {k} | {d} | {o} |");
        }
    }
    list(&mut out, "Lost", &v.lost);
    list(&mut out, "Unexpected", &v.unexpected);
    list(
        &mut out,
        "Acked then redelivered",
        &v.acked_then_redelivered,
    );
    list(&mut out, "Overlapping leases", &v.overlapping);
    list(
        &mut out,
        "Payloads stored under two ids",
        &v.payloads_with_two_ids,
    );
    out.push('\n');
    out
}

pub fn summary(outcomes: &[Outcome]) -> String {
    let mut out = String::from(
        "| scenario | sent | 201 | indet. | delivered | acked | lost | unexpected | acked→redelivered | overlapping | duplicates | errors during / outside | recovery s (any / all hit) | drain | verdict |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n",
    );
    for o in outcomes {
        let v = &o.verdict;
        let (d, x) = v
            .errors
            .values()
            .fold((0, 0), |(a, b), (d, o)| (a + d, b + o));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {d} / {x} | {} / {} | {} | {} |",
            o.name,
            v.attempted,
            v.sent_ok,
            v.indeterminate,
            v.deliveries,
            v.acked,
            v.lost.len(),
            v.unexpected.len(),
            v.acked_then_redelivered.len(),
            v.overlapping.len(),
            v.duplicates,
            opt(v.recovery_any),
            opt(v.recovery_all),
            if o.drain_finished {
                format!("{:.1} s", o.drain_seconds)
            } else {
                "unfinished".to_owned()
            },
            if v.violations() == 0 && o.drain_finished {
                "ok"
            } else {
                "**FAIL**"
            }
        );
    }
    out
}
