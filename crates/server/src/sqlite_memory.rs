//! SQLite's memory statistics, turned off: SQLite keeps them by taking one process-wide mutex around
//! every allocation and every free, and the server reads none of them (it sets no heap limit either).
//! In a callgrind profile of 1-1 chat among new pairs, SQLite's mutexes took 1.9 % of the server's
//! instructions; without the statistics the total fell by 1.0–1.7 % (docs/benchmarks.md), and no SQLite
//! connection thread waits on another for memory.
//!
//! SQLite reads this once, when it initialises: `configure` must run before anything opens a database.

use libsqlite3_sys as sqlite;
use std::os::raw::c_int;

/// Turns SQLite's memory statistics off. Fails (with SQLite's result code) only when SQLite was already
/// initialised, in which case it keeps them and nothing else changes.
pub fn configure() -> Result<(), c_int> {
    // SAFETY: the option is documented for use before `sqlite3_initialize`, and SQLite refuses it with
    // SQLITE_MISUSE afterwards rather than misbehaving; its one argument is an int.
    match unsafe { sqlite::sqlite3_config(sqlite::SQLITE_CONFIG_MEMSTATUS, 0 as c_int) } {
        sqlite::SQLITE_OK => Ok(()),
        refused => Err(refused),
    }
}
