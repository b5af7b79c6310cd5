//! What the operating system says about processes: this generator's CPU time (so a run it limited can
//! say so), a server's CPU time from `/proc/PID/stat` (so a run the generator limited still tells what
//! the server spent) and its resident memory from `/proc/PID/status`.

use std::time::Duration;

/// CPU time (user + system) this process has used so far.
pub fn own_cpu_time() -> Duration {
    // SAFETY: getrusage only writes into the struct we hand it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU time (user + system, all threads) process `pid` has used so far, if it exists.
pub fn process_cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    parse_cpu_ticks(&stat).map(|ticks| Duration::from_secs_f64(ticks as f64 / ticks_per_second.max(1) as f64))
}

/// utime + stime (fields 14 and 15, in clock ticks) of a `/proc/PID/stat` line. The command name (field
/// 2) is in parentheses and may hold spaces, so fields are counted after its closing parenthesis.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11); // fields 3..=13
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Resident memory of process `pid` in bytes (`VmRSS`), if it exists.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU use between two readings, in percent of one core: of this process, or of another one by pid.
#[derive(Debug, Clone, Copy)]
pub struct CpuMeter {
    pid: Option<u32>,
    cpu: Duration,
    wall: std::time::Instant,
}

impl CpuMeter {
    /// This process.
    pub fn start() -> CpuMeter {
        CpuMeter {
            pid: None,
            cpu: own_cpu_time(),
            wall: std::time::Instant::now(),
        }
    }

    /// Process `pid` (a server under test); None when it cannot be read.
    pub fn of_process(pid: u32) -> Option<CpuMeter> {
        Some(CpuMeter {
            pid: Some(pid),
            cpu: process_cpu_time(pid)?,
            wall: std::time::Instant::now(),
        })
    }

    /// (CPU seconds, percent of one core) since `start`; zero when the process is gone.
    pub fn read(&self) -> (f64, f64) {
        let now = match self.pid {
            None => own_cpu_time(),
            Some(pid) => process_cpu_time(pid).unwrap_or(self.cpu),
        };
        let cpu = now.saturating_sub(self.cpu).as_secs_f64();
        let wall = self.wall.elapsed().as_secs_f64().max(1e-9);
        (cpu, 100.0 * cpu / wall)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\tpalaver\nVmPeak:\t  9000 kB\nVmRSS:\t   1234 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss(status), Some(1234 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn cpu_ticks_are_read_after_a_command_name_with_spaces() {
        let stat = "4242 (palaver serve) S 1 4242 4242 0 -1 4194560 2188 0 0 0 157 42 0 0 20 0 9 0 123 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some(157 + 42));
        assert_eq!(parse_cpu_ticks("4242 (x) S 1"), None);
        assert!(process_cpu_time(std::process::id()).is_some());
    }

    #[test]
    fn this_process_has_memory_and_burns_cpu() {
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
        let before = own_cpu_time();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(own_cpu_time() > before);
    }
}
