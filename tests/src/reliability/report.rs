//! The markdown: one section per scenario, and a summary table.

use crate::checker::{Fault, Verdict};
use crate::churn::ChurnVerdict;
use crate::history::Ts;
use crate::redelivery::Redelivery;
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

/// The figures and findings of the churn checks.
fn churn_lines(out: &mut String, c: &ChurnVerdict) {
    let copies = c
        .copies
        .iter()
        .map(|(q, n)| format!("{q} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        out,
        "- churn: producers publish to topic `t` (attributes color red/green/blue, size s/m), subscribed \
         unfiltered by `r` throughout; subscriptions to x0 (color red), x1 (no filter) and x2 (color green \
         or blue, and size s) created **{}** and deleted **{}** times (answered 201 / 204) every 50-100 ms \
         through the sidecars",
        c.creates, c.deletes
    );
    let _ = writeln!(
        out,
        "- churn copies drained from the extra queues: {copies} ({} rows left); {} publishes answered 201 \
         while a matching subscription surely existed, each needing a copy",
        c.left, c.must_copy
    );
    let _ = writeln!(
        out,
        "- **churn: unexpected copies {}, filter mismatches {}, copies outside a subscription's lifetime {}, \
         missing copies {}, copy counts unlike the publish's answer {}, churner surprises {}, 5xx answers \
         to publish/create/delete {}**",
        c.unexpected.len(),
        c.filter_mismatch.len(),
        c.outside_subscription.len(),
        c.missing.len(),
        c.fanout_mismatch.len(),
        c.surprises.len(),
        c.server_errors
    );
}

/// The figures of the killed sidecar's leases.
fn redelivery_line(out: &mut String, r: &Redelivery) {
    let _ = writeln!(
        out,
        "- leases of the sidecar hit (in force during the fault, made through it or settled through it \
         without answer, never acked or nacked 2xx): {} orphaned; {} redelivered, at most **{}** s after \
         the lease end (bound {} s), **{} late, {} never redelivered**; not measured: {} whose ack got no \
         answer and may have committed, {} whose run ended before lease end + {} s, {} after a lease we \
         never saw",
        r.orphaned,
        r.measured,
        opt(r.max_late_s),
        crate::redelivery::BOUND_S,
        r.late.len(),
        r.never.len(),
        r.maybe_acked,
        r.run_ended,
        crate::redelivery::BOUND_S,
        r.unseen_between
    );
}

/// One scenario's section: its figures, error table and every violation found (up to a cap).
pub fn section(o: &Outcome) -> String {
    let v = &o.verdict;
    let rel = |t: Ts| (t - o.t0).num_milliseconds() as f64 / 1000.0;
    let mut out = String::new();
    let _ = writeln!(out, "## {}\n", o.name);
    let _ = writeln!(out, "- date: {}, commit: {}", o.date, o.commit);
    let _ = writeln!(
        out,
        "- load: {} s, 4 producers, 8 consumers (7 over HTTP, limit 5, wait 1 s; 1 over SQL, limit 5, polling \
         every {} ms when empty; 3% of batches dropped, 5% of messages nacked), 3 sidecars, ack deadline 5 s",
        o.load_seconds,
        crate::sql_consumer::EMPTY_PAUSE.as_millis()
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
    let share = v.sql_share.map_or_else(String::new, |((b, bn), (a, an))| {
        let pct = |x: usize, n: usize| 100.0 * x as f64 / n.max(1) as f64;
        format!(
            ": {b} of {bn} before the fault ({:.0}%), {a} of {an} after the outage ({:.0}%)",
            pct(b, bn),
            pct(a, an)
        )
    });
    let _ = writeln!(
        out,
        "- deliveries: {} ({} distinct payloads, {} delivered more than once; {} to the consumer over SQL{share}), \
         batches dropped: {}",
        v.deliveries, v.delivered_payloads, v.duplicates, v.sql_deliveries, v.crashed_batches
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
    if let Some(c) = &v.churn {
        churn_lines(&mut out, c);
    }
    if let Some(r) = &v.redelivery {
        redelivery_line(&mut out, r);
    }
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
    if let Some(c) = &v.churn {
        list(&mut out, "Churn: unexpected copies", &c.unexpected);
        list(&mut out, "Churn: filter mismatches", &c.filter_mismatch);
        list(
            &mut out,
            "Churn: copies outside a subscription's lifetime",
            &c.outside_subscription,
        );
        list(&mut out, "Churn: missing copies", &c.missing);
        list(&mut out, "Churn: copy counts", &c.fanout_mismatch);
        list(&mut out, "Churn: churner surprises", &c.surprises);
    }
    if let Some(r) = &v.redelivery {
        list(&mut out, "Late redeliveries of orphaned leases", &r.late);
        list(&mut out, "Orphaned leases never redelivered", &r.never);
    }
    out.push('\n');
    out
}

/// The scenario-specific figures of the summary: churn's, or the orphaned leases'.
fn extra_cell(v: &Verdict) -> String {
    if let Some(c) = &v.churn {
        return format!(
            "subs +{} −{}, {} copies, {} violations",
            c.creates,
            c.deletes,
            c.copies.values().sum::<usize>(),
            c.violations()
        );
    }
    if let Some(r) = &v.redelivery {
        return format!(
            "{} orphaned leases back ≤ {} s after their end ({} late)",
            r.measured,
            opt(r.max_late_s),
            r.violations()
        );
    }
    "-".to_owned()
}

/// The summary table, one row per scenario.
pub fn summary(outcomes: &[Outcome]) -> String {
    let mut out = String::from(
        "| scenario | sent | 201 | indet. | delivered | over SQL | acked | lost | unexpected | acked→redelivered | overlapping | duplicates | errors during / outside | recovery s (any / all hit) | drain | scenario checks | verdict |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |\n",
    );
    for o in outcomes {
        let v = &o.verdict;
        let (d, x) = v
            .errors
            .values()
            .fold((0, 0), |(a, b), (d, o)| (a + d, b + o));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {d} / {x} | {} / {} | {} | {} | {} |",
            o.name,
            v.attempted,
            v.sent_ok,
            v.indeterminate,
            v.deliveries,
            v.sql_deliveries,
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
            extra_cell(v),
            if v.violations() == 0 && o.drain_finished {
                "ok"
            } else {
                "**FAIL**"
            }
        );
    }
    out
}
