pub mod admin;
pub mod blobs;
pub mod dialogs;
pub mod messages;
pub mod push;
pub mod session;
pub mod users;
