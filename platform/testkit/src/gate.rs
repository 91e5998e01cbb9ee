//! Where the test servers hold their answers on demand: closed, a request
//! waits at the gate (counted as held) until it opens.

use std::sync::Mutex;

#[derive(Debug, Default)]
struct Count {
    closed: bool,
    held: usize,
}

/// A gate answers wait at while a test keeps it closed.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    count: Mutex<Count>,
    opened: tokio::sync::Notify,
}

impl Gate {
    fn count(&self) -> std::sync::MutexGuard<'_, Count> {
        self.count.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// From now on answers wait.
    pub(crate) fn close(&self) {
        self.count().closed = true;
    }

    /// Every waiting answer goes, and no more wait.
    pub(crate) fn open(&self) {
        self.count().closed = false;
        self.opened.notify_waiters();
    }

    /// Answers waiting now.
    pub(crate) fn held(&self) -> usize {
        self.count().held
    }

    /// Waits while the gate is closed, counted as held meanwhile (and no
    /// longer once dropped: a server that stops waiting — its client went
    /// away — is not held). Whether it waited.
    pub(crate) async fn pass(&self) -> bool {
        if !self.count().closed {
            return false;
        }
        self.count().held += 1;
        let _counted = Held(self);
        loop {
            // Registered before looking, so an opening in between is seen.
            let opened = self.opened.notified();
            if !self.count().closed {
                return true;
            }
            opened.await;
        }
    }
}

struct Held<'a>(&'a Gate);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut count = self.0.count();
        count.held = count.held.saturating_sub(1);
    }
}
