//! The named crash points commit and recovery pass, where crash tests stop the process
//! (feature `internals`; published in `crndm::internals`).

/// The environment variable naming the crash point at which [`crash_point`] aborts the
/// process (published as `crndm::internals::CRASH_AT_ENV`).
#[cfg(feature = "internals")]
pub(crate) const CRASH_AT_ENV: &str = "CRNDM_CRASH_AT";

/// A named step where crash tests may stop the process: with the feature `internals`,
/// aborts (as a power cut would stop it: no unwinding, no destructors) if
/// `CRNDM_CRASH_AT` names `point`; otherwise nothing. Published as
/// `crndm::internals::crash_point`, which documents the points.
#[inline]
pub(crate) fn crash_point(_point: &str) {
    #[cfg(feature = "internals")]
    {
        static WANTED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
        let wanted = WANTED.get_or_init(|| std::env::var(CRASH_AT_ENV).ok());
        if wanted.as_deref() == Some(_point) {
            std::process::abort();
        }
    }
}
