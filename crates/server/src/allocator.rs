//! The server's allocator, mimalloc, and how long it keeps memory it no longer uses.
//!
//! mimalloc hands pages nobody uses back to the kernel after a delay (1 s by default), and the next
//! allocation there faults them in again, zero-filled. A chat server frees and reallocates the same
//! amounts all the time (stanzas, output buffers), so with 1 s it kept paying for that: in 1-1 chat at
//! 10,000 msg/s on one core, 43,000 page faults in 15 s, and zeroing pages was 3.7 % of the runtime
//! thread's samples. A 10 s delay (jemalloc's default decay) halved the faults and cost 5 % less CPU
//! (docs/benchmarks.md, "December 5, third sitting"); memory freed for good still goes back, 10 s later.
//! `MIMALLOC_PURGE_DELAY` in the environment still wins.
//!
//! And the process takes no transparent huge pages. mimalloc asks for them on the memory it reserves,
//! and the first touch of each then faults in and zeroes 2 MiB at once on whatever thread touched it:
//! on a virtual machine, where the host backs guest memory as it is first used, perf caught the
//! runtime's one thread zeroing for 20–30 ms at a time (the pair and dialog caches and the writer's
//! batches growing), so the p99 of 1-1 chat at 10,000 msg/s jumped to 15–25 ms in one second of
//! three. With 4 KiB pages the same runs had ten times the page faults, each short: p99 3.3–3.9 ms
//! instead of 5.5–12.7 ms at 12,000 msg/s, the same peak, 4–8 % more CPU (docs/benchmarks.md,
//! "December 7, seventeenth sitting"). `MIMALLOC_ALLOW_THP` in the environment leaves the choice to
//! mimalloc.

/// mimalloc instead of the system's allocator: in 1-1 chat, glibc's `malloc` and `free` took a fifth of
/// the server's instructions (callgrind); see docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long memory nobody uses stays with the process before it goes back to the kernel, in ms.
const PURGE_DELAY_MS: std::os::raw::c_long = 10_000;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (mimalloc.h), which the Rust bindings do not
/// name; `purge_delay_is_the_option_it_names` checks it against the option's default.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Sets mimalloc's purge delay, unless the environment set it, and turns transparent huge pages off
/// for the process unless the environment says otherwise. Call first thing in `main`.
pub fn configure() {
    // SAFETY: mimalloc's options may be set at any time; the call takes two integers.
    unsafe { libmimalloc_sys::mi_option_set_default(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) }
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        no_transparent_huge_pages();
    }
}

/// From now on no memory of this process is backed by transparent huge pages, whatever `madvise`
/// asked for (mimalloc reads its own THP option before `main`, so the process-wide switch is the
/// one that still works here). Linux only; a kernel without the switch leaves things as they are.
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes an integer flag and three zero arguments, and changes only
    // which page size later faults of this process use.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One test for everything `configure` sets: the purge delay's default is read before it runs, so
    /// nothing else in this process may call `configure` first.
    #[test]
    fn configure_sets_the_purge_delay_it_names_and_turns_huge_pages_off() {
        // SAFETY: reading an option takes one integer.
        let get = || unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        // The bundled mimalloc's default for the purge delay: another option here would not read 1000.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(get(), 1000);
        }
        configure();
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(get(), PURGE_DELAY_MS);
        }
        #[cfg(target_os = "linux")]
        if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
            // SAFETY: PR_GET_THP_DISABLE takes four zero arguments and returns the flag.
            let disabled = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
            assert_eq!(disabled, 1);
        }
    }
}
