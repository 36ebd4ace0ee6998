//! Recovery interrupted by a crash: crash images of another workload are recovered under
//! the simulator, and the crash images of *that* recovery are checked in turn. Recovery
//! is idempotent, so each of them must recover to exactly the state the uninterrupted
//! recovery of the first image gives.

use std::path::Path;

use crndm::internals::sim::{LINE, Mutation, Recording, Sim};

use crate::harness::{
    Budget, Outcome, Report, Rng, Workload, check_image, explore, options, persist_lines, record,
    scratch,
};

/// Whether some journal of `image` may hold a log (its first record's seal is not
/// zero; truncation zeroes it), i.e. whether recovering it does any work.
fn may_hold_a_log(image: &[u8]) -> bool {
    let word = |off: usize| {
        image
            .get(off..off + 8)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    };
    let journals = word(crndm_tests::hdr::region_off(1) as usize) as usize;
    let lane_size = word(crndm_tests::hdr::LANE_SIZE as usize) as usize;
    let lanes = (word(crndm_tests::hdr::LANES as usize) & 0xffff_ffff) as usize;
    (0..lanes).any(|i| word(journals + i * lane_size + 64) != 0)
}

/// Records `w`, takes its crash images (at every `every`-th crash point: all dirty lines
/// kept, and a random subset) whose journals hold a log, recovers each under the
/// simulator (with `mutation` planted in that recovery) and explores that recovery's
/// crash images with `budget`.
pub(crate) fn interrupted_recovery<W: Workload>(
    w: &W,
    every: usize,
    budget: &Budget,
    mutation: Option<Mutation>,
) -> Report {
    let dir = scratch();
    let rec = record(w, dir.path(), None);
    let mut report = Report::new("recovery interrupted by a crash");
    let start = std::time::Instant::now();
    let mut image = rec.initial.clone();
    for (n, ev) in rec.events.iter().enumerate() {
        if n % every.max(1) == 0 && !ev.dirty.is_empty() {
            let mut rng = Rng::new(n as u64 ^ 0x5eed);
            let all: Vec<usize> = (0..ev.dirty.len()).collect();
            let some: Vec<usize> = all
                .iter()
                .copied()
                .filter(|_| rng.next() & 1 == 1)
                .collect();
            for kept in [all, some] {
                let mut first = image.clone();
                for &i in &kept {
                    let l = &ev.dirty[i];
                    let at = l.index as usize * LINE;
                    first[at..at + LINE].copy_from_slice(&l.bytes);
                }
                if !may_hold_a_log(&first) {
                    continue;
                }
                let context = format!(
                    "recovering the crash image of fence #{n} ({}, op {}, {} of {} dirty lines kept)",
                    ev.site,
                    ev.label,
                    kept.len(),
                    ev.dirty.len()
                );
                let k1 = match check_image(
                    w,
                    &dir.path().join("first.pool"),
                    &first,
                    &w.allowed(ev.label),
                    None,
                ) {
                    Ok(Outcome::Pool(k)) => k,
                    Ok(Outcome::NotYetAPool) => continue,
                    Err(m) => {
                        report.failures.push(failure(&context, m));
                        continue;
                    }
                };
                let second = recover_under_sim::<W>(dir.path(), &first, mutation);
                let sub = explore(w, &second, dir.path(), budget, &|_| vec![k1]);
                report.absorb_nested(&context, sub);
                if report.failures.len() >= budget.max_failures {
                    break;
                }
            }
        }
        persist_lines(&mut image, &ev.persisted);
    }
    report.elapsed = start.elapsed();
    report
}

fn failure(context: &str, message: String) -> crate::harness::Failure {
    crate::harness::Failure::without_image(format!("{context}: {message}"))
}

/// Opens `image` under a fresh simulator (so recovery runs under it), closes it and
/// returns the recording.
fn recover_under_sim<W: Workload>(
    dir: &Path,
    image: &[u8],
    mutation: Option<Mutation>,
) -> Recording {
    let path = dir.join("under-sim.pool");
    std::fs::write(&path, image).expect("write the image");
    let sim = Sim::new();
    sim.set_mutation(mutation);
    drop(
        options()
            .simulate(&sim)
            .open_no_root::<W::P>(&path, 0)
            .expect("the first crash image opens"),
    );
    sim.take_recording()
}
