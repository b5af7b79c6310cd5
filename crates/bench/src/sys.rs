//! What the operating system says about processes: this generator's CPU time (so a run it limited can
//! say so) and a server's resident memory from `/proc/PID/status`.

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

/// CPU use between two readings, in percent of one core.
#[derive(Debug, Clone, Copy)]
pub struct CpuMeter {
    cpu: Duration,
    wall: std::time::Instant,
}

impl CpuMeter {
    pub fn start() -> CpuMeter {
        CpuMeter {
            cpu: own_cpu_time(),
            wall: std::time::Instant::now(),
        }
    }

    /// (CPU seconds, percent of one core) since `start`.
    pub fn read(&self) -> (f64, f64) {
        let cpu = (own_cpu_time() - self.cpu).as_secs_f64();
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
