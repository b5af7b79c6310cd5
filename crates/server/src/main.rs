//! `palaver`: the chat server and its administration commands.

mod admin_cli;
mod allocator;
mod cli;
mod config;
mod http;
mod import;
mod logging;
mod metrics;
mod serve;
mod sqlite_memory;
mod tls;
mod token_key;
mod transfer;

use clap::Parser;

fn main() -> std::process::ExitCode {
    allocator::configure();
    if let Err(code) = sqlite_memory::configure() {
        eprintln!("palaver: SQLite kept its own memory settings (result code {code})");
    }
    let args = cli::Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("cannot start the async runtime");
    match runtime.block_on(cli::run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("palaver: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
