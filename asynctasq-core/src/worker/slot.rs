//! A running job's slot: one of the worker's `concurrency` permits, which
//! the job gives back while it waits for its model rows.
//!
//! A job that takes sea-orm models spends its first milliseconds waiting
//! for a fetch, and a slot held through that wait runs nothing. So while
//! its rows are being fetched the job lends its slot to the claim loop,
//! which claims and starts other jobs with it, and takes a slot again (in
//! turn, behind jobs already waiting for one) once its rows arrive. At most
//! [`WorkerConfig::fetch_ahead`](super::WorkerConfig::fetch_ahead) jobs wait
//! without a slot: a job that finds no seat in that waiting room keeps its
//! slot through the fetch, as it would with `fetch_ahead = 0`.
//!
//! The time a job waits to get a slot back is not part of its timeout
//! ([`Slot::waited`]): a job is not timed out for waiting on other jobs.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// One job's slot, shared by the job's task and its model requests.
pub(crate) struct Slot {
    slots: Arc<Semaphore>,
    waiting_room: Arc<Semaphore>,
    state: Mutex<SlotState>,
    /// Told when the job has its slot back.
    returned: Notify,
}

#[derive(Default)]
struct SlotState {
    /// The job's slot, while it holds it.
    permit: Option<OwnedSemaphorePermit>,
    /// Its seat in the waiting room, while it has lent its slot.
    seat: Option<OwnedSemaphorePermit>,
    /// Model requests of the job waiting for rows now.
    waits: usize,
    /// Since when the job waits to get its slot back.
    reclaiming_since: Option<Instant>,
    /// How long it waited for its slot back, in all.
    waited: Duration,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot").finish_non_exhaustive()
    }
}

/// Counts a model request as no longer waiting, however it ends.
struct Waiting<'a>(&'a Slot);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.lock().waits -= 1;
    }
}

impl Slot {
    /// The slot of a job that holds `permit` of `slots`; it may lend it
    /// while one of the `waiting_room`'s seats is free.
    pub(crate) fn new(
        permit: OwnedSemaphorePermit,
        slots: Arc<Semaphore>,
        waiting_room: Arc<Semaphore>,
    ) -> Arc<Self> {
        Arc::new(Slot {
            slots,
            waiting_room,
            state: Mutex::new(SlotState {
                permit: Some(permit),
                ..SlotState::default()
            }),
            returned: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Awaits `rows` (a model request's answer) with the slot lent out when
    /// a waiting-room seat is free; once the job's last request is
    /// answered, takes a slot again before returning.
    pub(crate) async fn lend_while<F: Future>(&self, rows: F) -> F::Output {
        {
            let mut state = self.lock();
            state.waits += 1;
            if state.permit.is_some()
                && let Ok(seat) = self.waiting_room.clone().try_acquire_owned()
            {
                state.seat = Some(seat);
                state.permit = None;
            }
        }
        let waiting = Waiting(self);
        let answer = rows.await;
        drop(waiting);
        let reclaim = {
            let mut state = self.lock();
            let reclaim = state.waits == 0 && state.permit.is_none();
            if reclaim {
                state.reclaiming_since = Some(Instant::now());
            }
            reclaim
        };
        if reclaim {
            let permit = self
                .slots
                .clone()
                .acquire_owned()
                .await
                .expect("the worker's slots are never closed");
            let mut state = self.lock();
            if let Some(since) = state.reclaiming_since.take() {
                state.waited += since.elapsed();
            }
            state.permit = Some(permit);
            state.seat = None;
            drop(state);
            self.returned.notify_waiters();
        }
        answer
    }

    /// How long the job has waited for its slot back, counting a wait in
    /// progress; and whether one is.
    fn waited(&self) -> (Duration, bool) {
        let state = self.lock();
        let now = state.reclaiming_since.map(|since| since.elapsed());
        (state.waited + now.unwrap_or_default(), now.is_some())
    }

    /// Runs `job` for at most `limit`, not counting the time it waits for
    /// its `slot` back (a job without one: a plain timeout); `None` when the
    /// limit passed first.
    pub(crate) async fn within<F: Future>(
        slot: Option<&Slot>,
        limit: Duration,
        job: F,
    ) -> Option<F::Output> {
        let Some(slot) = slot else {
            return tokio::time::timeout(limit, job).await.ok();
        };
        let start = Instant::now();
        let (before, _) = slot.waited();
        let mut job = std::pin::pin!(job);
        loop {
            let returned = slot.returned.notified();
            let mut returned = std::pin::pin!(returned);
            returned.as_mut().enable();
            let (waited, reclaiming) = slot.waited();
            if reclaiming {
                // The clock is stopped until the job has its slot back.
                tokio::select! {
                    output = &mut job => return Some(output),
                    _ = returned => continue,
                }
            }
            tokio::select! {
                output = &mut job => return Some(output),
                _ = tokio::time::sleep_until(start + limit + (waited - before)) => {
                    let (now_waited, reclaiming) = slot.waited();
                    if now_waited == waited && !reclaiming {
                        return None;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot_of(slots: &Arc<Semaphore>, room: usize) -> (Arc<Slot>, Arc<Semaphore>) {
        let room = Arc::new(Semaphore::new(room));
        let permit = slots.clone().try_acquire_owned().unwrap();
        (Slot::new(permit, slots.clone(), room.clone()), room)
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_lends_its_slot_while_its_rows_are_fetched() {
        let slots = Arc::new(Semaphore::new(1));
        let (slot, room) = slot_of(&slots, 1);
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let fetch = tokio::spawn({
            let slot = slot.clone();
            async move { slot.lend_while(rx).await.unwrap() }
        });
        tokio::task::yield_now().await;
        // Lent: another job runs in the slot, the seat is taken.
        let other = slots.clone().try_acquire_owned().expect("the slot is lent");
        assert_eq!(room.available_permits(), 0);
        tx.send(7).unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(
            !fetch.is_finished(),
            "took the slot back while it was in use"
        );
        drop(other);
        assert_eq!(fetch.await.unwrap(), 7);
        assert_eq!(slots.available_permits(), 0, "the job holds its slot again");
        assert_eq!(room.available_permits(), 1, "the seat is free again");
        assert!(slot.waited().0 >= Duration::from_millis(30));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_seat_a_job_keeps_its_slot() {
        let slots = Arc::new(Semaphore::new(1));
        let (slot, _room) = slot_of(&slots, 0);
        let answer = slot.lend_while(async {
            assert_eq!(slots.available_permits(), 0);
            3
        });
        assert_eq!(answer.await, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn the_timeout_does_not_count_the_wait_for_a_slot() {
        let slots = Arc::new(Semaphore::new(1));
        let (slot, _room) = slot_of(&slots, 1);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let job = {
            let slot = slot.clone();
            async move {
                slot.lend_while(rx).await.unwrap();
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
        };
        let timed = tokio::spawn({
            let slot = slot.clone();
            async move { Slot::within(Some(&slot), Duration::from_millis(100), job).await }
        });
        tokio::task::yield_now().await;
        let other = slots.clone().try_acquire_owned().unwrap();
        tx.send(()).unwrap();
        // 500 ms waiting for the slot, then 60 ms of work: within 100 ms.
        tokio::time::sleep(Duration::from_millis(500)).await;
        drop(other);
        assert!(
            timed.await.unwrap().is_some(),
            "timed out while waiting for a slot"
        );
        // Work alone longer than the limit still times out.
        let slow = tokio::time::sleep(Duration::from_millis(150));
        assert!(
            Slot::within(Some(&slot), Duration::from_millis(100), slow)
                .await
                .is_none()
        );
        // A job without a slot: a plain timeout.
        let slow = tokio::time::sleep(Duration::from_millis(150));
        assert!(
            Slot::within(None, Duration::from_millis(100), slow)
                .await
                .is_none()
        );
    }
}
