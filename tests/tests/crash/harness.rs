//! The crash harness: run a workload once under the simulator, then rebuild and check the
//! crash images of every fence.
//!
//! # Crash images
//! The simulator's [`Recording`] holds the persisted image when the run started and, for
//! every fence, the lines that differ from the persisted image just before it (with their
//! contents then) and the lines the fence made durable. Replaying it gives, at each crash
//! point, the persisted image and the *candidates*: every line that is not durable, with
//! each contents it had at a fence since it was last made durable (the CPU may have
//! written any of them back on its own; a later flush and fence overwrites them). A crash
//! image is the persisted image with some candidates set to one of their contents;
//! [`Budget`] says which choices are checked. Identical images with identical
//! expectations are checked once.
//!
//! # Checks ([`check_image`])
//! Each image is written to a file and opened as a pool (recovery runs), then:
//! 1. the workload's state equals the model after some committed prefix of its
//!    operations, and that prefix is one the crash point allows (the transaction that
//!    was running may or may not have committed; earlier ones must all be there);
//! 2. `P::check()` finds nothing;
//! 3. the heap's used bytes equal what the reachable objects occupy (no leak, nothing
//!    reachable freed), and the type-free reachability scan (`P::leaks()`) agrees: no
//!    leaked block, no damaged pointer, every used byte reachable;
//! 4. a second open (a second recovery) changes no byte of the file except the
//!    generation word and the journals' epoch-reservation words, which every open
//!    advances. (It opens without the root, so no volatile cell is touched.)

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crndm::internals::sim::{LINE, Mutation, Recording, Sim};
use crndm::{MemPool, O_CF, PSafe, PoolOptions, RootObj};
use crndm_tests::hdr;

/// Size of every pool of the crash suite: small, so images are cheap to write and open.
pub(crate) const POOL_SIZE: u64 = 1 << 20;
/// Journals per pool (each 4 KiB).
pub(crate) const JOURNALS: u32 = 4;

/// The options of every pool of the suite: 1 MiB, 4 journals of 4 KiB.
pub(crate) fn options() -> PoolOptions {
    PoolOptions::new().size(POOL_SIZE).journals(JOURNALS, 4096)
}

/// Bytes of the heap block holding an object of `size` bytes aligned to `align` (the
/// buddy allocator's block sizes: 64 × 2^k).
pub(crate) fn block(size: usize, align: usize) -> u64 {
    (size.max(align).max(64) as u64).next_power_of_two()
}

/// Sets every word of `words` to `v` (workloads that rewrite a page or cell whole).
pub(crate) fn fill<'a>(words: impl Iterator<Item = &'a mut u64>, v: u64) {
    words.for_each(|w| *w = v);
}

/// The value all words of `words` share, or an error saying that `what` is torn.
pub(crate) fn uniform<'a>(
    what: &str,
    mut words: impl Iterator<Item = &'a u64>,
) -> Result<u64, String> {
    let first = *words.next().expect("at least one word");
    match words.position(|&w| w != first) {
        None => Ok(first),
        Some(k) => Err(format!(
            "the {what} is torn: word {} differs from {first}",
            k + 1
        )),
    }
}

/// Bytes of the block of the root object of type `R`.
pub(crate) fn root_block<R>() -> u64 {
    block(size_of::<R>(), align_of::<R>())
}

/// What a workload reads back from a recovered pool.
#[derive(Debug)]
pub(crate) struct Observed {
    /// The workload's progress counter as stored in the pool: the number of operations
    /// up to and including the last one that committed.
    pub(crate) step: usize,
    /// The state, in the workload's own encoding (compared with [`Workload::expected`]).
    pub(crate) state: Vec<u64>,
    /// Heap bytes the reachable objects occupy, the root's block included.
    pub(crate) used: u64,
}

/// A deterministic program of transactions on one pool type, with a model of its state.
pub(crate) trait Workload {
    /// The pool type: one per workload instance, so workloads run in parallel.
    type P: MemPool;
    /// The root object.
    type R: RootObj<Self::P> + PSafe + crndm::RootLayout;

    /// A short name for reports.
    fn name(&self) -> &'static str;

    /// Number of operations.
    fn ops(&self) -> usize;

    /// Whether operation `op` commits (the others abort on purpose).
    fn commits(&self, _op: usize) -> bool {
        true
    }

    /// Whether the recorded run starts with creating the pool (`O_CF` under the
    /// simulator) instead of opening a pool made beforehand.
    fn creates_pool(&self) -> bool {
        false
    }

    /// Runs operation `op` (one outer transaction, which sets the step counter to
    /// `op + 1` if it commits).
    fn run(&self, root: &Self::R, op: usize);

    /// Reads the state of a recovered pool, checking the workload's structural
    /// invariants on the way.
    ///
    /// # Errors
    /// A description of a broken invariant.
    fn observe(&self, root: &Self::R) -> Result<Observed, String>;

    /// The model: the state after the committed operations among the first `step`.
    fn expected(&self, step: usize) -> Vec<u64>;

    /// The step counter after the operations before `op`.
    fn committed_before(&self, op: usize) -> usize {
        (0..op.min(self.ops()))
            .rev()
            .find(|&j| self.commits(j))
            .map_or(0, |j| j + 1)
    }

    /// The step counters a crash during operation `label` may leave (`label == ops()`:
    /// after the last operation).
    fn allowed(&self, label: u64) -> Vec<usize> {
        let op = usize::try_from(label).unwrap_or(usize::MAX).min(self.ops());
        let mut v = vec![self.committed_before(op)];
        if op < self.ops() && self.commits(op) {
            v.push(op + 1);
        }
        v
    }
}

/// Which crash images are built at a crash point.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    /// Every choice when there are at most 2^this many (8: 256 images, e.g. every subset
    /// of 8 lines that each have one candidate contents).
    pub(crate) all_subsets_up_to: usize,
    /// Otherwise: none, all (latest contents), up to this many single lines, as many
    /// all-but-one, and as many random choices.
    pub(crate) sampled: usize,
    /// Check every `every`-th crash point only (1: all).
    pub(crate) every: usize,
    /// Stop after this many inconsistencies (mutation tests need one).
    pub(crate) max_failures: usize,
}

impl Budget {
    /// The suite's budget: exhaustive up to 8 dirty lines.
    pub(crate) const FULL: Budget = Budget {
        all_subsets_up_to: 8,
        sampled: 12,
        every: 1,
        max_failures: 5,
    };

    /// For the second run of a two-crash workload, which is explored once per crash
    /// point of the first: exhaustive up to 4 dirty lines, 4 samples of each kind.
    pub(crate) const SECOND_RUN: Budget = Budget {
        all_subsets_up_to: 4,
        sampled: 4,
        every: 1,
        max_failures: 5,
    };

    /// For mutation tests: stop at the first inconsistency.
    pub(crate) const FIRST_FAILURE: Budget = Budget {
        max_failures: 1,
        ..Budget::FULL
    };
}

/// One inconsistent crash image.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    /// Index of the fence in the recording.
    pub(crate) fence: usize,
    /// Where that fence was issued.
    pub(crate) site: String,
    /// The workload operation running at the crash (its label).
    pub(crate) label: u64,
    /// The lines that could differ from the persisted image at the crash point.
    pub(crate) dirty: Vec<u32>,
    /// The lines the crash image takes from the pool rather than the persisted image,
    /// each with whether it has its latest contents (`false`: contents it had at an
    /// earlier fence, since overwritten without being persisted).
    pub(crate) kept: Vec<(u32, bool)>,
    /// A smallest subset of `kept` that still fails (greedy), if minimised.
    pub(crate) minimal: Option<Vec<(u32, bool)>>,
    /// What the check saw.
    pub(crate) message: String,
    /// Region names of the file, for the line lists.
    layout: Option<Layout>,
}

impl Failure {
    /// A failure that is not tied to one image of a recording.
    pub(crate) fn without_image(message: String) -> Failure {
        Failure {
            fence: 0,
            site: String::from("-"),
            label: 0,
            dirty: Vec::new(),
            kept: Vec::new(),
            minimal: None,
            message,
            layout: None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines = |v: &[u32]| {
            v.iter()
                .map(|&l| describe_line(self.layout.as_ref(), l))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let names = |v: &[(u32, bool)]| {
            v.iter()
                .map(|&(l, latest)| {
                    let name = describe_line(self.layout.as_ref(), l);
                    if latest {
                        name
                    } else {
                        format!("{name} (earlier contents)")
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(
            f,
            "crash at fence #{} ({}) during op {}: kept {} of {} unpersisted lines [{}]",
            self.fence,
            self.site,
            self.label,
            self.kept.len(),
            self.dirty.len(),
            names(&self.kept)
        )?;
        if let Some(m) = &self.minimal {
            write!(f, "; minimal failing subset [{}]", names(m))?;
        }
        write!(f, "; dirty were [{}]: {}", lines(&self.dirty), self.message)
    }
}

/// What exploring one recording found.
#[derive(Clone, Debug, Default)]
pub(crate) struct Report {
    pub(crate) workload: String,
    /// Crash points (fences) whose images were checked.
    pub(crate) crash_points: usize,
    /// Distinct crash images checked.
    pub(crate) images: usize,
    /// Images that were not a pool yet (a crash while the first open formatted the file).
    pub(crate) not_yet_a_pool: usize,
    pub(crate) failures: Vec<Failure>,
    pub(crate) elapsed: Duration,
}

impl Report {
    pub(crate) fn new(workload: impl Into<String>) -> Report {
        Report {
            workload: workload.into(),
            ..Report::default()
        }
    }

    /// Adds `other`'s counts and failures to this report.
    pub(crate) fn absorb(&mut self, other: Report) {
        self.crash_points += other.crash_points;
        self.images += other.images;
        self.not_yet_a_pool += other.not_yet_a_pool;
        self.failures.extend(other.failures);
        self.elapsed += other.elapsed;
    }

    /// Adds `sub`, the report of a nested exploration, to this one: its failures say
    /// `context` first, and its time is not added (it is part of this report's).
    pub(crate) fn absorb_nested(&mut self, context: &str, mut sub: Report) {
        for f in &mut sub.failures {
            f.message = format!("{context}: {}", f.message);
        }
        sub.elapsed = Duration::ZERO;
        self.absorb(sub);
    }

    /// Panics with every failure if there is one.
    pub(crate) fn assert_clean(&self) {
        assert!(
            self.failures.is_empty(),
            "{}: {} inconsistent crash image(s):\n{}",
            self.workload,
            self.failures.len(),
            self.failures
                .iter()
                .map(|f| format!("  {f}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Where the regions of a pool file are, for naming lines in reports.
#[derive(Clone, Copy, Debug)]
struct Layout {
    journals: u64,
    lanes: u64,
    lane_size: u64,
    map: u64,
    heap: u64,
}

impl Layout {
    fn of(image: &[u8]) -> Option<Layout> {
        let u64_at = |off: u64| {
            let o = usize::try_from(off).ok()?;
            Some(u64::from_le_bytes(image.get(o..o + 8)?.try_into().ok()?))
        };
        let u32_at = |off: u64| {
            let o = usize::try_from(off).ok()?;
            Some(u32::from_le_bytes(image.get(o..o + 4)?.try_into().ok()?))
        };
        if image.get(..8)? != hdr::MAGIC_BYTES {
            return None;
        }
        Some(Layout {
            journals: u64_at(hdr::region_off(1))?,
            lanes: u64::from(u32_at(hdr::LANES)?),
            lane_size: u64_at(hdr::LANE_SIZE)?,
            map: u64_at(hdr::region_off(2))?,
            heap: u64_at(hdr::region_off(3))?,
        })
    }
}

fn describe_line(layout: Option<&Layout>, line: u32) -> String {
    let off = u64::from(line) * LINE as u64;
    let Some(l) = layout else {
        return format!("{off:#x}");
    };
    if off < l.journals {
        format!("header+{off:#x}")
    } else if off < l.map && l.lane_size > 0 {
        let lane = (off - l.journals) / l.lane_size;
        format!("lane{lane}+{:#x}", (off - l.journals) % l.lane_size)
    } else if off < l.heap {
        format!("map+{:#x}", off - l.map)
    } else {
        format!("heap+{:#x}", off - l.heap)
    }
}

/// The words every open rewrites: the generation and each journal's epoch bound.
fn volatile_words(image: &[u8]) -> Vec<usize> {
    let mut v = vec![hdr::GENERATION as usize];
    if let Some(l) = Layout::of(image) {
        for i in 0..l.lanes {
            v.push(usize::try_from(l.journals + i * l.lane_size).unwrap_or(usize::MAX));
        }
    }
    v
}

/// A 64-bit hash of one line at its index; image hashes are XORs of these, so they can
/// be updated line by line.
fn line_hash(index: u32, bytes: &[u8]) -> u64 {
    let mut h = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(index).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    for w in bytes.chunks(8) {
        let mut b = [0u8; 8];
        b[..w.len()].copy_from_slice(w);
        h = (h ^ u64::from_le_bytes(b))
            .wrapping_mul(0x1656_67b1_9e37_79f9)
            .rotate_left(29);
    }
    h ^ (h >> 31)
}

fn image_hash(image: &[u8]) -> u64 {
    image
        .chunks(LINE)
        .enumerate()
        .map(|(i, c)| line_hash(u32::try_from(i).unwrap_or(u32::MAX), c))
        .fold(0, |a, h| a ^ h)
}

/// Writes the lines `lines` (those a fence persisted) into `image`.
pub(crate) fn persist_lines(image: &mut [u8], lines: &[crndm::internals::sim::Line]) {
    for l in lines {
        let at = l.index as usize * LINE;
        image[at..at + LINE].copy_from_slice(&l.bytes);
    }
}

fn line_of(image: &[u8], index: u32) -> &[u8] {
    let at = index as usize * LINE;
    &image[at..at + LINE]
}

/// A small deterministic generator (xorshift64*), seeded per crash point.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }
}

/// A line that may hold, on the media, one of `values` (oldest first) instead of its
/// persisted contents: every contents it had at a fence since it last became durable.
#[derive(Clone, Debug)]
pub(crate) struct Candidate {
    pub(crate) index: u32,
    pub(crate) values: Vec<[u8; LINE]>,
}

/// A crash image's choice: `(candidate, value)` pairs, at most one per candidate.
type Choice = Vec<(usize, usize)>;

/// The choices checked at a crash point with these candidates: all of them when there
/// are at most 2^`all_subsets_up_to`, else a sample (see [`Budget`]).
fn choices(cands: &[Candidate], budget: &Budget, rng: &mut Rng) -> Vec<Choice> {
    let limit = 1usize << budget.all_subsets_up_to;
    let product = cands
        .iter()
        .try_fold(1usize, |a, c| a.checked_mul(c.values.len() + 1))
        .filter(|&p| p <= limit);
    if let Some(p) = product {
        return (0..p)
            .map(|mut m| {
                let mut choice = Vec::new();
                for (i, c) in cands.iter().enumerate() {
                    let k = c.values.len() + 1;
                    if m % k != 0 {
                        choice.push((i, m % k - 1));
                    }
                    m /= k;
                }
                choice
            })
            .collect();
    }
    let latest = |i: usize| (i, cands[i].values.len() - 1);
    let d = cands.len();
    let mut out = vec![Vec::new(), (0..d).map(latest).collect()];
    let mut picks: Vec<usize> = (0..d).collect();
    for i in 0..d {
        let j = i + rng.below(d - i);
        picks.swap(i, j);
    }
    for &i in picks.iter().take(budget.sampled) {
        out.push(vec![(i, rng.below(cands[i].values.len()))]);
        out.push((0..d).filter(|&k| k != i).map(latest).collect());
    }
    for _ in 0..budget.sampled {
        let mut c: Choice = Vec::new();
        for (i, cand) in cands.iter().enumerate() {
            if rng.next() & 1 == 1 {
                c.push((i, rng.below(cand.values.len())));
            }
        }
        out.push(c);
    }
    out
}

/// Runs `w` once under the simulator (with `mutation` planted) in `dir` and returns the
/// recording, labelled with the index of the operation running at each fence.
///
/// # Panics
/// If the workload itself fails to run.
pub(crate) fn record<W: Workload>(w: &W, dir: &Path, mutation: Option<Mutation>) -> Recording {
    let path = dir.join("run.pool");
    let sim = Sim::new();
    sim.set_mutation(mutation);
    if !w.creates_pool() {
        // The starting pool, made without the simulator: fully persistent.
        drop(
            options()
                .open::<W::P, W::R>(&path, O_CF)
                .expect("create the pool"),
        );
    }
    let flags = if w.creates_pool() { O_CF } else { 0 };
    let root = options()
        .simulate(&sim)
        .open::<W::P, W::R>(&path, flags)
        .expect("open the pool under the simulator");
    for op in 0..w.ops() {
        sim.mark(op as u64);
        w.run(&root, op);
    }
    sim.mark(w.ops() as u64);
    drop(root);
    sim.take_recording()
}

/// Explores `rec`: checks the crash images of its fences with [`check_image`], each
/// against `allowed(label)`.
///
/// Replaying the recording keeps the persisted image and, per line, the contents it had
/// at each fence since it last became durable (the crash candidates); a crash image is the
/// persisted image with some candidates set to one of their contents.
pub(crate) fn explore<W: Workload>(
    w: &W,
    rec: &Recording,
    dir: &Path,
    budget: &Budget,
    allowed: &dyn Fn(u64) -> Vec<usize>,
) -> Report {
    let final_header = final_header(rec);
    explore_with(
        w.name(),
        rec,
        dir,
        budget,
        allowed,
        &|path, image, allowed| check_image(w, path, image, allowed, final_header.as_deref()),
    )
}

/// A check of one crash image: `(scratch file, image, allowed step counters)`.
pub(crate) type Check<'a> = dyn Fn(&Path, &[u8], &[usize]) -> Result<Outcome, String> + 'a;

/// [`explore`] with another check of each image than [`check_image`] (for runs that are
/// not a [`Workload`], such as the leak repair); `name` names the report.
pub(crate) fn explore_with(
    name: &str,
    rec: &Recording,
    dir: &Path,
    budget: &Budget,
    allowed: &dyn Fn(u64) -> Vec<usize>,
    check: &Check<'_>,
) -> Report {
    let start = Instant::now();
    let mut report = Report::new(name);
    let path = dir.join("crash.pool");
    let mut image = rec.initial.clone();
    let mut hash = image_hash(&image);
    let mut buf = image.clone();
    let mut seen: HashSet<(u64, Vec<usize>)> = HashSet::new();
    // Unpersisted contents per line, oldest first.
    let mut history: BTreeMap<u32, Vec<[u8; LINE]>> = BTreeMap::new();
    for (n, ev) in rec.events.iter().enumerate() {
        for l in &ev.dirty {
            let h = history.entry(l.index).or_default();
            if let Some(p) = h.iter().position(|v| *v == l.bytes) {
                h.remove(p);
            }
            h.push(l.bytes);
        }
        if n % budget.every.max(1) == 0 && report.failures.len() < budget.max_failures {
            report.crash_points += 1;
            let allowed = allowed(ev.label);
            let cands: Vec<Candidate> = history
                .iter()
                .map(|(&index, values)| Candidate {
                    index,
                    values: values.clone(),
                })
                .collect();
            let mut rng = Rng::new((n as u64) << 8 ^ name.len() as u64);
            for choice in choices(&cands, budget, &mut rng) {
                let h = choice.iter().fold(hash, |h, &(c, v)| {
                    let i = cands[c].index;
                    h ^ line_hash(i, line_of(&image, i)) ^ line_hash(i, &cands[c].values[v])
                });
                if !seen.insert((h, allowed.clone())) {
                    continue;
                }
                build(&mut buf, &image, &cands, &choice);
                report.images += 1;
                match check(&path, &buf, &allowed) {
                    Ok(Outcome::Pool(_)) => {}
                    Ok(Outcome::NotYetAPool) => report.not_yet_a_pool += 1,
                    Err(message) => {
                        let describe = |choice: &Choice| {
                            choice
                                .iter()
                                .map(|&(c, v)| (cands[c].index, v + 1 == cands[c].values.len()))
                                .collect::<Vec<_>>()
                        };
                        let minimal = report.failures.is_empty().then(|| {
                            let m = minimise(&path, &image, &cands, &choice, &allowed, check);
                            describe(&m)
                        });
                        report.failures.push(Failure {
                            fence: n,
                            site: ev.site.to_string(),
                            label: ev.label,
                            dirty: cands.iter().map(|c| c.index).collect(),
                            kept: describe(&choice),
                            minimal,
                            message,
                            layout: Layout::of(&image).or_else(|| Layout::of(&buf)),
                        });
                        if report.failures.len() >= budget.max_failures {
                            break;
                        }
                    }
                }
            }
        }
        for l in &ev.persisted {
            hash ^= line_hash(l.index, line_of(&image, l.index)) ^ line_hash(l.index, &l.bytes);
            let at = l.index as usize * LINE;
            image[at..at + LINE].copy_from_slice(&l.bytes);
            history.remove(&l.index);
        }
    }
    report.elapsed = start.elapsed();
    report
}

/// The immutable part of the header (bytes 0..192) of the pool at the end of the
/// recording, if it is a pool then.
fn final_header(rec: &Recording) -> Option<Vec<u8>> {
    let mut image = rec.initial.clone();
    for ev in &rec.events {
        persist_lines(&mut image, &ev.persisted);
    }
    (image.get(..8) == Some(&hdr::MAGIC_BYTES[..]))
        .then(|| image[..hdr::GENERATION as usize].to_vec())
}

/// `buf` = `image` with the chosen contents of the chosen candidates.
fn build(buf: &mut [u8], image: &[u8], cands: &[Candidate], choice: &Choice) {
    buf.copy_from_slice(image);
    for &(c, v) in choice {
        let at = cands[c].index as usize * LINE;
        buf[at..at + LINE].copy_from_slice(&cands[c].values[v]);
    }
}

/// Shrinks a failing choice greedily: drops each line whose absence still fails.
fn minimise(
    path: &Path,
    image: &[u8],
    cands: &[Candidate],
    choice: &Choice,
    allowed: &[usize],
    check: &Check<'_>,
) -> Choice {
    let mut cur = choice.clone();
    let mut buf = image.to_vec();
    let mut i = 0;
    while i < cur.len() {
        let mut trial = cur.clone();
        trial.remove(i);
        build(&mut buf, image, cands, &trial);
        if check(path, &buf, allowed).is_err() {
            cur = trial;
        } else {
            i += 1;
        }
    }
    cur
}

/// What a crash image turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A pool whose state is the workload's at this step counter.
    Pool(usize),
    /// Not a pool yet: the crash came before the first open finished formatting.
    NotYetAPool,
}

/// Writes `image` to `path`, opens it as a pool of `W` (recovery runs) and checks it (see
/// the module docs); `final_header` (for workloads that create the pool) lets an image
/// whose header was not yet durable be "not a pool yet" instead of a failure.
///
/// # Errors
/// What the check saw, in words.
pub(crate) fn check_image<W: Workload>(
    w: &W,
    path: &Path,
    image: &[u8],
    allowed: &[usize],
    final_header: Option<&[u8]>,
) -> Result<Outcome, String> {
    write_file(path, image)?;
    // A recovery mutation is planted through a simulator of the image's own.
    let sim = RECOVERY_MUTATION.with(std::cell::Cell::get).map(|m| {
        let sim = Sim::new();
        sim.set_mutation(Some(m));
        sim
    });
    let opts = match &sim {
        Some(sim) => options().simulate(sim),
        None => options(),
    };
    let root = match opts.open::<W::P, W::R>(path, 0) {
        Ok(r) => r,
        Err(e) => {
            let header_durable = final_header.is_none_or(|h| image.get(..h.len()) == Some(h));
            return if header_durable {
                Err(format!("the pool does not open: {e}"))
            } else {
                Ok(Outcome::NotYetAPool)
            };
        }
    };
    let obs = w.observe(&root)?;
    if !allowed.contains(&obs.step) {
        return Err(format!(
            "step counter {} after recovery, but this crash point allows only {allowed:?}",
            obs.step
        ));
    }
    let expected = w.expected(obs.step);
    if obs.state != expected {
        return Err(format!(
            "state {:?} at step {}, the model says {expected:?}",
            obs.state, obs.step
        ));
    }
    let problems = W::P::check().map_err(|e| e.to_string())?;
    if !problems.is_empty() {
        return Err(format!("allocator check: {problems:?}"));
    }
    let used = W::P::stats().map_err(|e| e.to_string())?.used;
    if used != obs.used {
        return Err(format!(
            "the heap has {used} bytes in use, the reachable objects {} ({})",
            obs.used,
            if used > obs.used {
                "leak"
            } else {
                "reachable memory is free"
            }
        ));
    }
    // The type-free walk from the root agrees: nothing leaked, nothing it reaches is
    // free, and every used byte is reachable.
    let reach = W::P::leaks().map_err(|e| e.to_string())?;
    if reach.leaked_blocks > 0 || reach.damaged_pointers > 0 || reach.reachable_bytes != used {
        return Err(format!(
            "the reachability scan: {} leaked blocks ({} bytes), {} damaged pointers, {} \
             reachable bytes of {used} used",
            reach.leaked_blocks, reach.leaked_bytes, reach.damaged_pointers, reach.reachable_bytes
        ));
    }
    drop(root);
    let first = std::fs::read(path).map_err(|e| e.to_string())?;
    drop(
        options()
            .open_no_root::<W::P>(path, 0)
            .map_err(|e| format!("second open: {e}"))?,
    );
    let second = std::fs::read(path).map_err(|e| e.to_string())?;
    if let Some(off) = first_difference(&first, &second) {
        return Err(format!(
            "a second open changed the file at {:#x} ({})",
            off,
            describe_line(
                Layout::of(&first).as_ref(),
                u32::try_from(off / LINE).unwrap_or(u32::MAX)
            )
        ));
    }
    Ok(Outcome::Pool(obs.step))
}

/// The first byte offset where `a` and `b` differ, ignoring the words every open
/// rewrites.
fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    if a.len() != b.len() {
        return Some(a.len().min(b.len()));
    }
    let skip = volatile_words(a);
    a.iter().zip(b).position(|(x, y)| x != y).and_then(|first| {
        (first..a.len()).find(|&i| a[i] != b[i] && !skip.iter().any(|&w| (w..w + 8).contains(&i)))
    })
}

pub(crate) fn write_file(path: &Path, image: &[u8]) -> Result<(), String> {
    let f = File::options()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| format!("write the image: {e}"))?;
    f.write_all_at(image, 0)
        .and_then(|()| f.set_len(image.len() as u64))
        .map_err(|e| format!("write the image: {e}"))
}

/// A scratch directory on tmpfs for one workload.
pub(crate) fn scratch() -> tempfile::TempDir {
    crndm_tests::shm_dir()
}

/// Records `w` and explores every crash point with `budget`; the allowed steps come
/// from the workload's labels.
pub(crate) fn run<W: Workload>(w: &W, budget: &Budget, mutation: Option<Mutation>) -> Report {
    let dir = scratch();
    let rec = record(w, dir.path(), mutation);
    let in_recovery = mutation.filter(|&m| {
        matches!(
            m,
            Mutation::KeepUncommittedFrees | Mutation::IgnoreRedo | Mutation::UndoOldestFirst
        )
    });
    RECOVERY_MUTATION.with(|m| m.set(in_recovery));
    let report = explore(w, &rec, dir.path(), budget, &|label| w.allowed(label));
    RECOVERY_MUTATION.with(|m| m.set(None));
    report
}

thread_local! {
    /// A planted bug in recovery code, which only runs when a crash image is opened: the
    /// checks of this thread open images with it (see [`check_image`]).
    static RECOVERY_MUTATION: std::cell::Cell<Option<Mutation>> =
        const { std::cell::Cell::new(None) };
}

/// The path of a crndm source file, for resolving mutation call sites.
pub(crate) fn crndm_source(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crndm-core/src")
        .join(file)
}
