//! Two power failures with transactions in between (L1, issue 16 item 3).
//!
//! A workload runs under the simulator and the power fails at one of its fences: the
//! crash image is the persisted image alone (no unpersisted line kept, so the lanes'
//! epoch bounds are exactly what the last persist left). That image is opened under a
//! second simulator (recovery runs), the workload's remaining operations run on it, and
//! every crash image of *that* run is checked like any other.
//!
//! What this guards: the journals' records carry an epoch, and a log is the run of
//! records sharing its first record's epoch. Records of older transactions stay in a
//! lane after its log is truncated (only the first record is invalidated), so if the
//! second run reused the first run's epochs, a crash early in one of its transactions
//! would make recovery read the older transaction's records as part of the new log.
//! Each open persists a new epoch bound before any transaction runs; this workload is
//! the only one that can see that persist missing.

use std::path::Path;

use crndm::internals::sim::{Mutation, Recording, Sim};

use crate::harness::{
    Budget, Failure, Report, Workload, explore, options, persist_lines, record, scratch,
};

/// Records `w` (with `mutation` planted), and at every `every`-th of its fences that
/// falls in the first `ops() / 2` operations (the second run must get as far as the
/// first one did for an epoch to repeat), crashes, recovers, runs the rest of the
/// operations under a second simulator (same mutation) and explores that run's crash
/// images with `budget`.
pub(crate) fn two_crashes<W: Workload>(
    w: &W,
    every: usize,
    budget: &Budget,
    mutation: Option<Mutation>,
) -> Report {
    let dir = scratch();
    let rec = record(w, dir.path(), mutation);
    let mut report = Report::new(format!("two crashes, {}", w.name()));
    let start = std::time::Instant::now();
    let first_half = (w.ops() / 2) as u64;
    let mut image = rec.initial.clone();
    for (n, ev) in rec.events.iter().enumerate() {
        if n % every.max(1) == 0 && ev.label < first_half {
            let context = format!("first crash at fence #{n} ({}, op {})", ev.site, ev.label);
            match second_run(w, dir.path(), &image, ev.label, mutation) {
                Ok(second) => {
                    let sub = explore(w, &second, dir.path(), budget, &|l| w.allowed(l));
                    report.absorb_nested(&context, sub);
                }
                Err(m) => report
                    .failures
                    .push(Failure::without_image(format!("{context}: {m}"))),
            }
            if report.failures.len() >= budget.max_failures {
                break;
            }
        }
        persist_lines(&mut image, &ev.persisted);
    }
    report.elapsed = start.elapsed();
    report
}

/// Opens `image` (a crash during operation `label`) under a fresh simulator with
/// `mutation`, checks that recovery left a step the crash allows, runs the operations
/// from there to the end and returns the recording (recovery included).
///
/// # Errors
/// The first crash's recovery fails or leaves a step the crash does not allow.
fn second_run<W: Workload>(
    w: &W,
    dir: &Path,
    image: &[u8],
    label: u64,
    mutation: Option<Mutation>,
) -> Result<Recording, String> {
    let path = dir.join("second-run.pool");
    std::fs::write(&path, image).map_err(|e| format!("write the image: {e}"))?;
    let sim = Sim::new();
    sim.set_mutation(mutation);
    sim.mark(label);
    let root = options()
        .simulate(&sim)
        .open::<W::P, W::R>(&path, 0)
        .map_err(|e| format!("the first crash image does not open: {e}"))?;
    let obs = w.observe(&root)?;
    let allowed = w.allowed(label);
    if !allowed.contains(&obs.step) || obs.state != w.expected(obs.step) {
        return Err(format!(
            "after the first crash: step {} (allowed {allowed:?}), state {:?}, model {:?}",
            obs.step,
            obs.state,
            w.expected(obs.step)
        ));
    }
    for op in obs.step..w.ops() {
        sim.mark(op as u64);
        w.run(&root, op);
    }
    sim.mark(w.ops() as u64);
    drop(root);
    Ok(sim.take_recording())
}
