//! XEP-0030 service discovery: xmpp-parsers' queries and results.

pub use xmpp_parsers::disco::{
    DiscoInfoQuery, DiscoInfoResult, DiscoItemsQuery, DiscoItemsResult, Identity, Item,
};
