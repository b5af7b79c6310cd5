//! One module per feature, as Prosody and ejabberd do it.

pub mod events;
pub mod extra_params;
pub mod groupchat;
pub mod iq;
pub mod last;
pub mod message;
pub mod muc;
pub mod presence;
pub mod privacy;
pub mod roster;
