//! The `cpu_affinity` setting: which CPU each worker runs on (nginx's
//! `worker_cpu_affinity`). `off` leaves placement to the kernel; `auto` binds worker
//! slot i to the i-th CPU this process may use, round robin; a list (`0,2,4-7`)
//! binds slot i to the i-th CPU of the list, round robin. A bound worker's every
//! thread (the I/O thread, the app threads, whatever the app starts) shares its one
//! CPU: the request's hand-offs between them then cost no cross-CPU wake-up, which on
//! a small machine is most of what a request costs. Parsed and checked here (against
//! the CPUs the master may use, read with sched_getaffinity); applied by the worker
//! right after fork (`worker::bind_cpu`).
use super::{bad, ConfigError};

/// Where workers run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpuAffinity {
    /// Wherever the kernel puts them.
    Off,
    /// Slot i on the i-th usable CPU (round robin).
    Auto,
    /// Slot i on the i-th CPU of this list (round robin), in the order given.
    List(Vec<usize>),
}

impl CpuAffinity {
    /// Parse `off`, `auto` or a CPU list, and check the list against the CPUs this
    /// process may use (a CPU it may not use would fail every worker's boot).
    pub fn parse(text: &str) -> Result<CpuAffinity, ConfigError> {
        let text = text.trim();
        let invalid = |why: &str| bad("cpu-affinity", text, why);
        match text.to_ascii_lowercase().as_str() {
            "off" => return Ok(CpuAffinity::Off),
            "auto" => return Ok(CpuAffinity::Auto),
            _ => {}
        }
        let mut cpus = Vec::new();
        for part in text.split(',').map(str::trim) {
            let (first, last) = match part.split_once('-') {
                Some((a, b)) => (cpu_number(a), cpu_number(b)),
                None => (cpu_number(part), cpu_number(part)),
            };
            let (Some(first), Some(last)) = (first, last) else {
                return Err(invalid("must be off, auto or a CPU list such as 0,2,4-7"));
            };
            if first > last {
                return Err(invalid("a CPU range must go upwards (4-7, not 7-4)"));
            }
            cpus.extend(first..=last);
        }
        let usable = usable_cpus();
        if let Some(cpu) = cpus.iter().find(|c| !usable.contains(c)) {
            return Err(invalid(&format!(
                "CPU {cpu} is not one this process may use ({})",
                describe_cpus(&usable)
            )));
        }
        Ok(CpuAffinity::List(cpus))
    }

    /// The CPU worker slot `slot` runs on, if it is bound. `usable`: the CPUs this
    /// process may use, ascending.
    pub fn cpu_for(&self, slot: u32, usable: &[usize]) -> Option<usize> {
        let cpus = match self {
            CpuAffinity::Off => return None,
            CpuAffinity::Auto => usable,
            CpuAffinity::List(list) => list,
        };
        if cpus.is_empty() {
            return None;
        }
        Some(cpus[slot as usize % cpus.len()])
    }

    /// As `--check-config` and the README write it.
    pub fn describe(&self) -> String {
        match self {
            CpuAffinity::Off => "off".into(),
            CpuAffinity::Auto => "auto".into(),
            CpuAffinity::List(cpus) => describe_cpus(cpus),
        }
    }
}

fn cpu_number(text: &str) -> Option<usize> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&n| n < 4096)
}

/// The CPUs this process may run on (sched_getaffinity), ascending; every CPU the
/// machine reports when the mask cannot be read.
pub fn usable_cpus() -> Vec<usize> {
    use nix::sched::{sched_getaffinity, CpuSet};
    use nix::unistd::Pid;
    match sched_getaffinity(Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count())
            .filter(|&c| set.is_set(c).unwrap_or(false))
            .collect(),
        Err(_) => (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect(),
    }
}

/// `0-3,6`: a list of CPUs in the kernel's own notation (`Cpus_allowed_list`).
pub fn describe_cpus(cpus: &[usize]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        out.push(if j > i {
            format!("{}-{}", cpus[i], cpus[j])
        } else {
            cpus[i].to_string()
        });
        i = j + 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_lists() {
        assert_eq!(CpuAffinity::parse("off").unwrap(), CpuAffinity::Off);
        assert_eq!(CpuAffinity::parse(" AUTO ").unwrap(), CpuAffinity::Auto);
        let first = usable_cpus()[0];
        assert_eq!(
            CpuAffinity::parse(&first.to_string()).unwrap(),
            CpuAffinity::List(vec![first])
        );
        for bad in ["x", "", "none", "1-", "-1", "3-1", "1,,2", "0x1", "99999"] {
            let e = CpuAffinity::parse(bad).unwrap_err();
            assert_eq!(e.setting, "cpu-affinity", "{bad}");
        }
        let e = CpuAffinity::parse("4095").unwrap_err();
        assert!(
            e.why.contains("CPU 4095 is not one this process may use"),
            "{e}"
        );
    }

    #[test]
    fn slots_go_round_robin() {
        let usable = [0, 1, 2, 3];
        assert_eq!(CpuAffinity::Off.cpu_for(0, &usable), None);
        let auto: Vec<_> = (0..6)
            .map(|s| CpuAffinity::Auto.cpu_for(s, &usable))
            .collect();
        assert_eq!(auto, [0, 1, 2, 3, 0, 1].map(Some));
        let list = CpuAffinity::List(vec![3, 1]);
        let listed: Vec<_> = (0..3).map(|s| list.cpu_for(s, &usable)).collect();
        assert_eq!(listed, [3, 1, 3].map(Some));
    }

    #[test]
    fn cpu_lists_are_written_as_the_kernel_writes_them() {
        assert_eq!(describe_cpus(&[0, 1, 2, 3, 6]), "0-3,6");
        assert_eq!(describe_cpus(&[0, 1, 5]), "0-1,5");
        assert_eq!(describe_cpus(&[2]), "2");
        assert_eq!(CpuAffinity::List(vec![4, 5, 6, 7]).describe(), "4-7");
    }
}
