//! Binding filter values (the typed values that list and search calls build their SQL with) to a query.

use palaver_core::query::FilterValue;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;

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
