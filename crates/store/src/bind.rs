//! Binding filter values (the typed values that list and search calls build their SQL with) to a query,
//! and the placeholders of statements of many rows.

use palaver_core::query::FilterValue;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection};

pub(crate) type AnyQuery<'q> = Query<'q, Any, AnyArguments<'q>>;

/// Binds one value as the next parameter.
pub(crate) fn bind_value<'q>(query: AnyQuery<'q>, value: &FilterValue) -> AnyQuery<'q> {
    match value {
        FilterValue::Int(i) => query.bind(*i),
        FilterValue::Text(t) => query.bind(t.clone()),
    }
}

/// Binds the values as the next parameters, in order.
pub(crate) fn bind_all<'q>(mut query: AnyQuery<'q>, values: &[FilterValue]) -> AnyQuery<'q> {
    for value in values {
        query = bind_value(query, value);
    }
    query
}

/// The conflict clause of the batching writer's statements of many rows: ` OR FAIL` on SQLite, nothing on
/// PostgreSQL. SQLite copies every page such a statement changes into a statement journal when the
/// statement could abort (an `ABORT` constraint such as `NOT NULL`, or an immediate reference), so that it
/// can undo that statement alone; `FAIL` stops without undoing and needs none. The writer never keeps
/// a transaction whose statement failed (it rolls the batch back and retries write by write), and the
/// references these statements check are deferred to the commit (SQLite migration 15).
pub(crate) fn or_fail(conn: &AnyConnection) -> &'static str {
    if is_sqlite(conn) {
        " OR FAIL"
    } else {
        ""
    }
}

/// Whether the connection is SQLite's (the other backend is PostgreSQL).
pub(crate) fn is_sqlite(conn: &AnyConnection) -> bool {
    conn.backend_name() == "SQLite"
}

/// Bind parameters of a statement of many rows. SQLite gets anonymous `?`s: sqlx finds each named
/// parameter's number by asking SQLite for its name, a walk over all of them, which made a 900-parameter
/// statement cost more than the round trips it saved. PostgreSQL needs `$n`.
pub(crate) struct Placeholders {
    numbered: bool,
    next: usize,
}

impl Placeholders {
    pub(crate) fn for_connection(conn: &AnyConnection) -> Placeholders {
        Placeholders {
            numbered: !is_sqlite(conn),
            next: 0,
        }
    }

    /// `head`, then `rows` groups of `width` parameters, then `tail`.
    pub(crate) fn rows(mut self, head: &str, rows: usize, width: usize, tail: &str) -> String {
        let mut sql = String::from(head);
        for i in 0..rows {
            if i > 0 {
                sql.push_str(", ");
            }
            self.row(&mut sql, width);
        }
        sql.push_str(tail);
        sql
    }

    /// Appends `(p, p, …)` with `width` parameters.
    fn row(&mut self, sql: &mut String, width: usize) {
        sql.push('(');
        for i in 0..width {
            if i > 0 {
                sql.push_str(", ");
            }
            self.next += 1;
            if self.numbered {
                sql.push_str(&format!("${}", self.next));
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
}
