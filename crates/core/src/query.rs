//! The filter vocabulary the list and search calls of several domains share (users, dialogs, history).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    Nin,
    StartsWith,
    /// Every value matches (for a dialog's occupants: the dialog has all of them).
    All,
    /// Case-insensitive substring.
    Contains,
    /// Comma-separated tags: matches a user having any of the values as one of its tags.
    HasTag,
}

/// A typed filter value: integers for ids and dates (milliseconds), text otherwise.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    Int(i64),
    Text(String),
}
