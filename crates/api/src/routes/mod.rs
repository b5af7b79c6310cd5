pub mod admin;
pub mod session;
pub mod users;
