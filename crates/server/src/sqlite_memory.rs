//! How the embedded SQLite allocates memory. Both settings are read once, when SQLite initialises:
//! `configure` must run before anything opens a database.
//!
//! - Its memory statistics are off: SQLite keeps them by taking one process-wide mutex around every
//!   allocation and every free, and the server reads none of them (it sets no heap limit either). In a
//!   callgrind profile of 1-1 chat among new pairs, SQLite's mutexes took 1.9 % of the server's
//!   instructions; without the statistics the total fell by 1.0–1.7 % (docs/benchmarks.md).
//! - It allocates from mimalloc, the server's own allocator, instead of the C library's `malloc`: in
//!   the same profile glibc's `malloc` and `free` under SQLite's statements and commits were about 4 % of
//!   the server's instructions (docs/benchmarks.md, "December 5, third sitting").

use libsqlite3_sys as sqlite;
use std::os::raw::{c_int, c_void};

/// Turns SQLite's memory statistics off and gives it mimalloc's functions. Fails (with SQLite's result
/// code) only when SQLite was already initialised, in which case it keeps its settings.
pub fn configure() -> Result<(), c_int> {
    // SAFETY: both options are documented for use before `sqlite3_initialize`, and SQLite refuses them
    // with SQLITE_MISUSE afterwards rather than misbehaving. MEMSTATUS takes an int; MALLOC takes a
    // pointer to methods that SQLite copies, and every function in them is sound for any argument
    // SQLite passes (below).
    unsafe {
        match sqlite::sqlite3_config(sqlite::SQLITE_CONFIG_MEMSTATUS, 0 as c_int) {
            sqlite::SQLITE_OK => {}
            refused => return Err(refused),
        }
        match sqlite::sqlite3_config(
            sqlite::SQLITE_CONFIG_MALLOC,
            &MIMALLOC.0 as *const sqlite::sqlite3_mem_methods,
        ) {
            sqlite::SQLITE_OK => Ok(()),
            refused => Err(refused),
        }
    }
}

/// SQLite's allocator interface over mimalloc. SQLite asks for sizes between 1 and about 2 GiB (it
/// answers larger or zero requests itself) and needs 8-byte alignment, which mimalloc always gives.
static MIMALLOC: Methods = Methods(sqlite::sqlite3_mem_methods {
    xMalloc: Some(allocate),
    xFree: Some(free),
    xRealloc: Some(reallocate),
    xSize: Some(size),
    xRoundup: Some(round_up),
    xInit: Some(init),
    xShutdown: Some(shutdown),
    pAppData: std::ptr::null_mut(),
});

/// The methods as a static: function pointers and a null application pointer, never written.
struct Methods(sqlite::sqlite3_mem_methods);

// SAFETY: nothing in the methods is ever written, and the functions they point to may run on any thread.
unsafe impl Sync for Methods {}

unsafe extern "C" fn allocate(bytes: c_int) -> *mut c_void {
    libmimalloc_sys::mi_malloc(bytes.max(0) as usize)
}

unsafe extern "C" fn free(block: *mut c_void) {
    libmimalloc_sys::mi_free(block)
}

unsafe extern "C" fn reallocate(block: *mut c_void, bytes: c_int) -> *mut c_void {
    libmimalloc_sys::mi_realloc(block, bytes.max(0) as usize)
}

/// The size SQLite may use of a block: at least what it asked for.
unsafe extern "C" fn size(block: *mut c_void) -> c_int {
    c_int::try_from(libmimalloc_sys::mi_usable_size(block)).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn round_up(bytes: c_int) -> c_int {
    c_int::try_from(libmimalloc_sys::mi_good_size(bytes.max(0) as usize)).unwrap_or(bytes)
}

unsafe extern "C" fn init(_: *mut c_void) -> c_int {
    sqlite::SQLITE_OK
}

unsafe extern "C" fn shutdown(_: *mut c_void) {}

#[cfg(test)]
mod tests {
    use super::*;

    /// No other test of this binary touches SQLite, so this one initialises it.
    #[test]
    fn sqlite_allocates_from_mimalloc() {
        configure().expect("SQLite was initialised before configure");
        // SAFETY: a block SQLite allocated, asked about and freed by SQLite and mimalloc.
        unsafe {
            let block = sqlite::sqlite3_malloc(100);
            assert!(!block.is_null());
            assert!(libmimalloc_sys::mi_is_in_heap_region(block));
            assert!(sqlite::sqlite3_msize(block) >= 100);
            let block = sqlite::sqlite3_realloc(block, 5000);
            assert!(libmimalloc_sys::mi_is_in_heap_region(block));
            assert!(sqlite::sqlite3_msize(block) >= 5000);
            sqlite::sqlite3_free(block);
        }
        // A database works on it.
        let mut db = std::ptr::null_mut();
        let name = c":memory:";
        // SAFETY: a fresh connection, used by this thread only and closed at the end.
        unsafe {
            assert_eq!(sqlite::sqlite3_open(name.as_ptr(), &mut db), sqlite::SQLITE_OK);
            let sql = c"CREATE TABLE t (x TEXT); INSERT INTO t SELECT hex(randomblob(500)) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) SELECT i FROM n);";
            let status =
                sqlite::sqlite3_exec(db, sql.as_ptr(), None, std::ptr::null_mut(), std::ptr::null_mut());
            assert_eq!(status, sqlite::SQLITE_OK);
            assert_eq!(sqlite::sqlite3_close(db), sqlite::SQLITE_OK);
        }
    }
}
