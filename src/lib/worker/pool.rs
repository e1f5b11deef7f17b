//! The app thread pool (Waitress's `ThreadedTaskDispatcher`): a fixed number of named
//! threads, each running the app's `thread_init`, then tasks from one shared queue,
//! then `thread_exit`. The I/O thread submits; app threads run. A panic in our own
//! task code is caught so the thread keeps serving (app panics never reach here: the
//! ABI forbids unwinding, and the SDK catches them).
//!
//! Threads are woken sparingly: a task goes to a thread that is already running
//! when there is one (it takes the task when it finishes its own), and a parked
//! thread is woken only when none runs, or when a queued task has waited
//! `SPREAD_AFTER` (the running ones are slow: blocked on I/O, say). Each wake-up is a
//! futex call and a context switch, and under an interpreter lock (Python) a second
//! thread would only wait for the lock: one thread serving the queue is the fastest
//! shape for short requests, and a slow one still gets company.
use super::task::Task;
use crate::app::App;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Whether the pool takes work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// Finish queued tasks, then exit.
    Stopping,
}

/// How long a queued task may wait for a running thread before a parked one is
/// woken for it.
const SPREAD_AFTER: Duration = Duration::from_millis(2);

struct State {
    /// Queued tasks, oldest first.
    tasks: VecDeque<Task>,
    phase: Phase,
    /// Threads running a task, or woken to run one.
    busy: usize,
    /// Threads parked, waiting for a wake-up.
    idle: usize,
    /// Wake-ups granted to parked threads and not yet taken.
    permits: usize,
}

impl State {
    /// Grant a parked thread a wake-up, if one is not already on its way to each.
    /// Returns whether one was granted: the caller then notifies `available` after
    /// releasing the lock, so the woken thread does not wake only to wait for it.
    #[must_use]
    fn grant_wake(&mut self) -> bool {
        if self.idle > self.permits {
            self.permits += 1;
            self.busy += 1;
            true
        } else {
            false
        }
    }
}

struct Queue {
    state: Mutex<State>,
    available: Condvar,
    /// `state.tasks.len()`, written under the lock: lets the I/O thread see that
    /// nothing is queued without taking the lock on every turn of its loop.
    queued: AtomicUsize,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct Pool {
    queue: Arc<Queue>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// Start `n` app threads; fails if any thread's `thread_init` fails.
    pub fn start(app: Arc<App>, n: usize) -> Result<Pool, String> {
        let queue = Arc::new(Queue {
            state: Mutex::new(State {
                tasks: VecDeque::new(),
                phase: Phase::Running,
                // Every thread starts running (thread_init), then parks.
                busy: n,
                idle: 0,
                permits: 0,
            }),
            available: Condvar::new(),
            queued: AtomicUsize::new(0),
        });
        let mut pool = Pool {
            queue: queue.clone(),
            threads: Vec::with_capacity(n),
        };
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        for index in 0..n {
            let app = app.clone();
            let queue = queue.clone();
            let ready = ready_tx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("app-{index}"))
                .spawn(move || app_thread(&app, &queue, index as u32, ready));
            match spawned {
                Ok(handle) => pool.threads.push(handle),
                Err(e) => {
                    pool.shutdown();
                    return Err(format!("cannot start app thread {index}: {e}"));
                }
            }
        }
        drop(ready_tx);
        for _ in 0..n {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(why)) => {
                    pool.shutdown();
                    return Err(why);
                }
                Err(_) => {
                    pool.shutdown();
                    return Err("an app thread exited during thread_init".into());
                }
            }
        }
        Ok(pool)
    }

    /// Queue a task for the next free app thread. I/O thread.
    pub fn submit(&self, task: Task) {
        let mut s = self.queue.lock();
        s.tasks.push_back(task);
        self.queue.queued.store(s.tasks.len(), Ordering::Relaxed);
        let wake = s.busy == 0 && s.grant_wake();
        drop(s);
        if wake {
            self.queue.available.notify_one();
        }
    }

    /// Wake a parked thread if the oldest queued task has waited `SPREAD_AFTER` for
    /// the running ones. Returns when to look again (None: nothing is queued). I/O
    /// thread, once per turn of its loop.
    pub fn spread(&self, now: Instant) -> Option<Instant> {
        // Only this thread queues, so a task it queued is never missed here.
        if self.queue.queued.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut s = self.queue.lock();
        let since = s.tasks.front()?.received();
        if now.duration_since(since) >= SPREAD_AFTER {
            let wake = s.grant_wake();
            drop(s);
            if wake {
                self.queue.available.notify_one();
            }
            return Some(now + SPREAD_AFTER);
        }
        Some(since + SPREAD_AFTER)
    }

    /// Run what is queued, then stop every thread (each runs `thread_exit`) and join.
    pub fn shutdown(&mut self) {
        self.stop_taking_work();
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
    }

    /// As `shutdown`, but wait at most `patience`. A thread still in app code after
    /// that is stuck on a request whose client is gone; it is left behind (the process
    /// exits under it) and the number of such threads is returned.
    pub fn shutdown_within(&mut self, patience: Duration) -> usize {
        self.stop_taking_work();
        let deadline = Instant::now() + patience;
        // A shutdown path, once per process: polling is simpler than a live-thread
        // count and costs nothing measurable.
        while self.threads.iter().any(|h| !h.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let stuck = self.threads.iter().filter(|h| !h.is_finished()).count();
        if stuck == 0 {
            self.shutdown();
        } else {
            self.threads.clear(); // detach: joining would wait for the stuck ones
        }
        stuck
    }

    /// Immediate stop (QUIT, or the master died): tell the threads to stop and do not
    /// wait for them, since one may be stuck in app code forever.
    pub fn abandon(&mut self) {
        self.stop_taking_work();
        self.threads.clear();
    }

    fn stop_taking_work(&self) {
        self.queue.lock().phase = Phase::Stopping;
        self.queue.available.notify_all();
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn app_thread(app: &App, queue: &Queue, index: u32, ready: mpsc::Sender<Result<(), String>>) {
    let mut thread = match app.thread_init(index) {
        Ok(t) => t,
        Err(why) => {
            let _ = ready.send(Err(why));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    drop(ready);
    loop {
        let task = {
            let mut s = queue.lock();
            loop {
                if let Some(task) = s.tasks.pop_front() {
                    queue.queued.store(s.tasks.len(), Ordering::Relaxed);
                    break Some(task);
                }
                if s.phase == Phase::Stopping {
                    break None;
                }
                // Nothing to do: park until granted a wake-up (or stopping).
                s.busy -= 1;
                s.idle += 1;
                while s.permits == 0 && s.phase == Phase::Running {
                    s = queue.available.wait(s).unwrap_or_else(|p| p.into_inner());
                }
                s.idle -= 1;
                if s.permits > 0 {
                    s.permits -= 1; // counted busy by whoever granted it
                } else {
                    s.busy += 1; // woken by the stop: finish what is queued
                }
            }
        };
        let Some(task) = task else { break };
        if catch_unwind(AssertUnwindSafe(|| task.run(app, &mut thread))).is_err() {
            // Task::run aborts its connection on unwind; the thread keeps serving.
            // Log loudly: this is a bug in waitressd, not in the app.
            log::error!("internal error: a task panicked on app thread {index}");
        }
    }
    app.thread_exit(thread);
}
