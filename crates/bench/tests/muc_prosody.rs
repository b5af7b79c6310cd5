//! The group scenario against another XMPP server's multi-user chat rooms: a real Prosody (Debian's
//! package `prosody`, which `.ci/run` installs) on a free port with a throwaway configuration. Its
//! first occupants create the rooms by joining and configure them as instant rooms, everyone else joins,
//! and every message reaches every occupant. Counts only, never timings.

use palaver_bench::link::Endpoint;
use palaver_bench::load::Steps;
use palaver_bench::sasl::Mechanism;
use palaver_bench::scenarios::{group, Common};
use palaver_bench::target::{parse_accounts, Target};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "bench-password";
const MUC_SERVICE: &str = "conference.localhost";

/// A Prosody process, killed when dropped.
struct Prosody {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prosody {
    /// Starts Prosody with a multi-user chat service and `users` accounts `u1` … `u{users}`.
    fn start(users: usize) -> Prosody {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("prosody.cfg.lua");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(&config, configuration(dir.path(), &data, port)).unwrap();
        for n in 1..=users {
            let status = Command::new("prosodyctl")
                .args([
                    "--config",
                    config.to_str().unwrap(),
                    "register",
                    &format!("u{n}"),
                    "localhost",
                    PASSWORD,
                ])
                .stdout(Stdio::null())
                .status()
                .expect("prosodyctl runs (Debian package prosody; .ci/run installs it)");
            assert!(status.success(), "prosodyctl register u{n}");
        }
        let child = Command::new("prosody")
            .args(["--config", config.to_str().unwrap(), "-F"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prosody runs (Debian package prosody; .ci/run installs it)");
        let prosody = Prosody {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "prosody did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        prosody
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn configuration(dir: &Path, data: &Path, port: u16) -> String {
    format!(
        r#"run_as_root = true
daemonize = false
pidfile = "{dir}/prosody.pid"
data_path = "{data}"
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {port} }}
s2s_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "internal"
log = {{ error = "{dir}/prosody.log" }}
modules_enabled = {{ "roster"; "saslauth"; "disco"; "ping" }}
modules_disabled = {{ "s2s"; "tls" }}
VirtualHost "localhost"
Component "{MUC_SERVICE}" "muc"
"#,
        dir = dir.display(),
        data = data.display(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_rooms_are_created_joined_and_filled_on_prosody() {
    let (groups, occupants) = (2, 4);
    let prosody = Prosody::start(groups * occupants);
    let accounts: String = (1..=groups * occupants)
        .map(|n| format!("{{\"login\":\"u{n}\"}}\n"))
        .collect();
    let target = Arc::new(Target {
        label: "prosody".into(),
        endpoint: Endpoint::tcp(format!("127.0.0.1:{}", prosody.port).parse().unwrap()),
        domain: "localhost".into(),
        muc_domain: MUC_SERVICE.into(),
        mechanism: Mechanism::Plain,
        accounts: parse_accounts(&accounts, Some(PASSWORD)).unwrap(),
        username_template: "{login}".into(),
        app: None,
        rest: None,
    });
    let report = group::run(
        target,
        group::GroupConfig {
            rooms: group::Rooms::Muc {
                service: MUC_SERVICE.into(),
            },
            occupants,
            groups,
            steps: Steps::one_second_at(20.0),
            save_to_history: false,
            body_size: 64,
            common: Common {
                login_rate: 100.0,
                ..Common::default()
            },
        },
    )
    .await
    .expect("every room created and configured, every occupant joined");
    assert_eq!(
        report.logins[0].succeeded,
        (groups * occupants) as u64,
        "{:?}",
        report.logins
    );
    let step = &report.steps[0];
    let sent = step.deliveries.sent;
    assert_eq!(sent, 20, "{step:?}");
    assert_eq!(step.deliveries.expected, sent * occupants as u64, "{step:?}");
    assert_eq!(step.deliveries.received, step.deliveries.expected, "{step:?}");
    assert_eq!(
        (
            step.deliveries.lost,
            step.deliveries.duplicates,
            step.bounces,
            step.errors
        ),
        (0, 0, 0, 0),
        "{step:?}"
    );
    assert_eq!(report.params["rooms"], "muc");
}
