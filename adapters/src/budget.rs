//! One decode budget per process: every decode — an upload's validation, a
//! thumbnail batch, an on-demand render on GET — first reserves the memory
//! it may take ([`avatar_pipeline::memory_needed`], known from the headers
//! before a pixel is decoded) from one semaphore, so ten large PNGs in one
//! batch wait for each other instead of running the function out of
//! memory. The budget is [`SHARE`] of the process's memory: `DECODE_MEMORY_MB`
//! when set, else Lambda's `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, else the
//! cgroup's limit (Knative, or any container), else [`FALLBACK_MIB`].
//!
//! The same reservation also takes one of as many pipeline slots as the
//! process has cores (`DECODE_CONCURRENCY`, else
//! `std::thread::available_parallelism`, which reads the cgroup's CPU
//! quota): a burst of ten renders on two cores runs two at a time, first
//! come first served, instead of ten sharing the cores — the same
//! throughput, but each finishes as early as it can (the median wait of a
//! batch about halves).

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Config;

/// The part of the process's memory decodes may take; the rest is the
/// runtime, the clients, the bodies in flight.
pub const SHARE: f64 = 0.6;

/// The budget when nothing says how much memory there is, MiB.
pub const FALLBACK_MIB: u64 = 1024;

/// An image needs more than the whole budget: it can never be decoded here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("decoding needs {needed_mib} MiB, more than the whole decode budget of {budget_mib} MiB")]
pub struct OverBudget {
    /// What the decode needs, MiB.
    pub needed_mib: u64,
    /// The whole budget, MiB.
    pub budget_mib: u64,
}

/// The budget: permits of one MiB each, and the pipeline slots.
#[derive(Debug, Clone)]
pub struct DecodeBudget {
    permits: Arc<Semaphore>,
    total_mib: u64,
    slots: Arc<Semaphore>,
}

/// Memory reserved for one decode, and its pipeline slot; both returned
/// when dropped.
#[derive(Debug)]
pub struct Reservation {
    _memory: OwnedSemaphorePermit,
    _slot: OwnedSemaphorePermit,
}

impl DecodeBudget {
    /// A budget of `total_mib` MiB and one pipeline slot per core.
    pub fn new(total_mib: u64) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::with_slots(total_mib, cores)
    }

    /// A budget of `total_mib` MiB and `slots` decodes at once.
    pub fn with_slots(total_mib: u64, slots: usize) -> Self {
        let total_mib = total_mib.clamp(1, u64::from(u32::MAX));
        Self {
            permits: Arc::new(Semaphore::new(total_mib as usize)),
            total_mib,
            slots: Arc::new(Semaphore::new(slots.max(1))),
        }
    }

    /// The budget of this process (see the module documentation).
    pub fn for_process(config: &Config) -> Self {
        let (total, from) = match config.decode_memory_mb {
            Some(mib) => (mib, "DECODE_MEMORY_MB"),
            None => match process_memory_mib() {
                Some((mib, from)) => ((mib as f64 * SHARE) as u64, from),
                None => (FALLBACK_MIB, "default"),
            },
        };
        let slots = config
            .decode_concurrency
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
        tracing::info!(budget_mib = total, from, slots, "decode budget");
        Self::with_slots(total, slots)
    }

    /// The whole budget, MiB.
    pub fn total_mib(&self) -> u64 {
        self.total_mib
    }

    /// Reserves `bytes` and a pipeline slot, waiting (first come, first
    /// served) while other decodes hold them.
    ///
    /// # Errors
    /// [`OverBudget`] when `bytes` is more than the whole budget.
    pub async fn reserve(&self, bytes: u64) -> Result<Reservation, OverBudget> {
        let needed_mib = bytes.div_ceil(1 << 20).max(1);
        if needed_mib > self.total_mib {
            return Err(OverBudget {
                needed_mib,
                budget_mib: self.total_mib,
            });
        }
        // Memory first, then the slot, always in this order: no deadlock.
        let memory = self
            .permits
            .clone()
            .acquire_many_owned(needed_mib as u32)
            .await
            .expect("the budget's semaphores are never closed");
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the budget's semaphores are never closed");
        Ok(Reservation {
            _memory: memory,
            _slot: slot,
        })
    }

    /// MiB free right now (for metrics and tests).
    pub fn available_mib(&self) -> u64 {
        self.permits.available_permits() as u64
    }
}

/// The memory this process may use, MiB, and where that number came from.
fn process_memory_mib() -> Option<(u64, &'static str)> {
    if let Some(mib) = std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some((mib, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"));
    }
    cgroup_limit_bytes().map(|bytes| (bytes >> 20, "cgroup"))
}

/// This process's cgroup memory limit, bytes: cgroup v2's `memory.max`, or
/// v1's `memory.limit_in_bytes`; `None` when unlimited or unreadable.
fn cgroup_limit_bytes() -> Option<u64> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let parse = |text: String| -> Option<u64> {
        let value = text.trim().parse::<u64>().ok()?;
        // "max" (v2) does not parse; v1 says "unlimited" with a huge number.
        (value < 1 << 60).then_some(value)
    };
    for line in membership.lines() {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let path = path.trim_start_matches('/');
        let file = if controllers.is_empty() {
            format!("/sys/fs/cgroup/{path}/memory.max")
        } else if controllers.split(',').any(|c| c == "memory") {
            format!("/sys/fs/cgroup/memory/{path}/memory.limit_in_bytes")
        } else {
            continue;
        };
        if let Some(limit) = std::fs::read_to_string(file).ok().and_then(parse) {
            return Some(limit);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_more_decodes_at_once_than_slots() {
        let budget = DecodeBudget::with_slots(1000, 2);
        let a = budget.reserve(1 << 20).await.unwrap();
        let _b = budget.reserve(1 << 20).await.unwrap();
        let third = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(1 << 20).await.map(drop) }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!third.is_finished(), "two slots, both taken");
        drop(a);
        third.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn reservations_wait_for_each_other_and_refuse_what_never_fits() {
        let budget = DecodeBudget::with_slots(100, 4);
        let first = budget.reserve(60 << 20).await.unwrap();
        assert_eq!(budget.available_mib(), 40);
        // A second 60 MiB decode waits until the first is done.
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(60 << 20).await.map(drop) }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished());
        drop(first);
        waiting.await.unwrap().unwrap();
        assert_eq!(budget.available_mib(), 100);
        assert_eq!(
            budget.reserve(101 << 20).await.unwrap_err(),
            OverBudget {
                needed_mib: 101,
                budget_mib: 100
            }
        );
    }
}
