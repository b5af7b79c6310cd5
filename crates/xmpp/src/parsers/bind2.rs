//! Bind2 (XEP-0386), inline in SASL2: xmpp-parsers' `BindQuery` (the client's `<bind>` with its `<tag>`
//! and the features to enable inline, such as XEP-0198 `<enable/>` and carbons' `<enable/>`, kept as
//! elements), `Bound` (the server's `<bound/>`) and `BindFeature` (the inline features advertised).

pub use xmpp_parsers::bind2::{BindFeature, BindQuery, Bound};
