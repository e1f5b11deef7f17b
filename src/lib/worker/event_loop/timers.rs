//! Connection deadlines: a request head's timeout, a lingering close's end, the
//! idle sweep (`channel_timeout`, every `cleanup_interval`) and the drain's graceful
//! timeout, checked once per turn of the loop. I/O thread.
use super::connection::{drain_patience, Life};
use super::{Accepting, EventLoop, Phase};
use std::time::{Duration, Instant};

/// The earliest connection deadline (a request head's timeout, a lingering close's
/// end) that may be due, so the timer pass looks at the connections only then —
/// not after every wake-up, which would make each request cost more the more
/// connections are open. Conservative: a deadline that went away (the head arrived,
/// the client closed) just costs one pass that finds nothing; the pass then learns
/// the next earliest deadline from what it saw.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct NextDeadline(Option<Instant>);

impl NextDeadline {
    /// A deadline was set at `at`.
    pub(super) fn expect(&mut self, at: Instant) {
        self.0 = Some(self.0.map_or(at, |t| t.min(at)));
    }

    pub(super) fn due(&self, now: Instant) -> bool {
        self.0.is_some_and(|t| now >= t)
    }
}

impl EventLoop<'_> {
    /// While draining, a keep-alive connection between requests is closed as soon as
    /// its client has rested longer than `drain_patience` (at once, for the usual
    /// idle client); busy ones close after their response. Each is read first,
    /// whatever its readiness says: a request that already arrived is answered,
    /// with `Connection: close`, instead of being dropped.
    pub(super) fn close_idle_while_draining(&mut self, now: Instant) {
        for index in 0..self.conns.len() {
            if let Some(c) = self.conns[index].as_mut() {
                let rested_enough = c
                    .resting_since
                    .is_some_and(|since| now.duration_since(since) >= drain_patience(c));
                if matches!(c.life, Life::Open) && c.conn.is_between_requests() && rested_enough {
                    c.readable = true;
                    self.drive(index);
                }
            }
        }
    }

    pub(super) fn on_tick(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Draining { .. }) {
            self.close_idle_while_draining(now);
        }
        if let Accepting::Backoff { until } = self.accepting {
            if now >= until {
                self.accepting = Accepting::Open;
                self.accept_all();
            }
        }
        let sweep_idle = now >= self.next_cleanup;
        if sweep_idle {
            self.next_cleanup = now + self.settings.cleanup_interval;
        }
        let forced = matches!(self.phase, Phase::Draining { deadline } if now >= deadline);
        if !(sweep_idle || forced || self.deadlines.due(now)) {
            return;
        }
        let head_timeout = self.settings.request_head_timeout;
        let mut next = NextDeadline::default();
        let mut to_close = Vec::new();
        let mut slow_heads = Vec::new();
        for (i, c) in self.conns.iter().enumerate() {
            let Some(c) = c else { continue };
            match c.life {
                Life::Lingering { deadline } if now >= deadline => to_close.push(i),
                Life::Lingering { deadline } => next.expect(deadline),
                Life::Open if forced => to_close.push(i),
                Life::Open => {
                    if let (false, Some(since)) = (head_timeout.is_zero(), c.head_since) {
                        if now.duration_since(since) > head_timeout {
                            slow_heads.push(i);
                            continue;
                        }
                        // Strictly after the timeout: look again just past it.
                        next.expect(since + head_timeout + Duration::from_millis(1));
                    }
                    if sweep_idle
                        && c.conn.is_idle()
                        && now.duration_since(c.last_activity) > self.settings.channel_timeout
                    {
                        log::info!(
                            "channel {i} ({}) timed out after {:?} of inactivity",
                            c.peer.remote_addr,
                            self.settings.channel_timeout
                        );
                        to_close.push(i);
                    }
                }
            }
        }
        self.deadlines = next;
        if forced && !to_close.is_empty() {
            log::warn!(
                "graceful timeout: closing {} connection(s) with requests still in progress",
                to_close.len()
            );
        }
        for i in to_close {
            self.close(i);
        }
        for i in slow_heads {
            if let Some(Some(c)) = self.conns.get_mut(i) {
                log::info!(
                    "channel {i} ({}): request head not received within {:?}; 408",
                    c.peer.remote_addr,
                    self.settings.request_head_timeout
                );
                c.conn.head_timed_out();
                c.head_since = None;
            }
            self.drive(i);
        }
    }
}
