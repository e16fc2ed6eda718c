//! `alastor doctor` end to end through the binary: exit codes, actionable lines, the token never printed,
//! and the Discord reachability check against a gateway stub on 127.0.0.1 (never a public address).

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::process::{Command, Output};

const TOKEN: &str = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GAbCdE.abcdefghijklmnopqrstuvwxyz0123456789AB";

struct Install {
    dir: tempfile::TempDir,
}

impl Install {
    /// A working directory with a data folder and one good station pack.
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("data")).expect("data");
        std::fs::create_dir(dir.path().join("stations")).expect("stations");
        std::fs::write(
            dir.path().join("stations/local.toml"),
            "[[station]]\nname = \"Local FM\"\nurls = [\"http://127.0.0.1:9/local\"]\n",
        )
        .expect("pack");
        Self { dir }
    }

    fn doctor(&self, args: &[&str], token: Option<&str>, config: Option<&str>) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_alastor"));
        command
            .current_dir(self.dir.path())
            .arg("doctor")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("ALASTOR_STATIONS_DIR", self.dir.path().join("stations"))
            .env("ALASTOR_DATA_DIR", self.dir.path().join("data"));
        if let Some(token) = token {
            command.env("DISCORD_TOKEN", token);
        }
        if let Some(config) = config {
            let path = self.dir.path().join("alastor.toml");
            std::fs::write(&path, config).expect("config");
        }
        command.output().expect("run alastor doctor")
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn line<'a>(output: &'a str, check: &str) -> &'a str {
    output
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(check))
        .unwrap_or_else(|| panic!("no `{check}` line in:\n{output}"))
}

#[test]
fn quick_passes_on_a_good_install_without_printing_the_token() {
    let install = Install::new();
    let output = install.doctor(&["--quick"], Some(TOKEN), None);
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert!(line(&out, "token").starts_with("ok"), "{out}");
    assert!(line(&out, "stations").contains("1 station(s)"), "{out}");
    assert!(
        !out.contains("discord"),
        "--quick must not touch the network:\n{out}"
    );
    for part in TOKEN.split('.') {
        assert!(!out.contains(part), "token part printed:\n{out}");
    }
}

#[test]
fn missing_token_fails_with_a_hint() {
    let install = Install::new();
    let output = install.doctor(&["--quick"], None, None);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(line(&out, "token").starts_with("FAIL"), "{out}");
    assert!(out.contains("DISCORD_TOKEN"), "{out}");
}

#[test]
fn malformed_token_fails_and_is_not_echoed() {
    let install = Install::new();
    let bad = "Bot-secretsecretsecret-without-dots";
    let output = install.doctor(&["--quick"], Some(bad), None);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(
        line(&out, "token").contains("three dot-separated parts"),
        "{out}"
    );
    assert!(!out.contains("secretsecret"), "{out}");
}

#[test]
fn broken_config_is_reported_by_key_instead_of_crashing() {
    let install = Install::new();
    let output = install.doctor(
        &["--quick"],
        Some(TOKEN),
        Some("[check]\ntimeout = \"soon\"\n"),
    );
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    let config = line(&out, "config");
    assert!(
        config.starts_with("FAIL") && config.contains("check.timeout"),
        "{out}"
    );
}

#[test]
fn corrupt_store_fails_with_a_restore_hint() {
    let install = Install::new();
    std::fs::write(
        install.dir.path().join("data/alastor.redb"),
        b"not a database at all",
    )
    .expect("write");
    let output = install.doctor(&["--quick"], Some(TOKEN), None);
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(line(&out, "store").starts_with("FAIL"), "{out}");
    assert!(out.contains("alastor data import"), "{out}");
}

/// Serves `responses` (one per connection) and returns the base URL.
fn gateway_stub(status_line: &'static str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0_u8; 4096];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{address}/api/v10")
}

#[test]
fn full_doctor_reaches_the_configured_discord_api() {
    let install = Install::new();
    let base = gateway_stub("HTTP/1.1 200 OK", r#"{"url":"wss://127.0.0.1/gateway"}"#);
    let output = install.doctor(
        &[],
        Some(TOKEN),
        Some(&format!("[discord]\napi_base = \"{base}\"\n")),
    );
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert!(line(&out, "discord").starts_with("ok"), "{out}");
}

#[test]
fn unreachable_discord_api_fails_the_full_doctor() {
    let install = Install::new();
    let base = gateway_stub("HTTP/1.1 502 Bad Gateway", "{}");
    let output = install.doctor(
        &[],
        Some(TOKEN),
        Some(&format!("[discord]\napi_base = \"{base}\"\n")),
    );
    let out = text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(line(&out, "discord").contains("502"), "{out}");
}

#[test]
fn sample_preflights_stations_and_names_the_failing_ones() {
    let install = Install::new();
    let base = gateway_stub("HTTP/1.1 200 OK", r#"{"url":"wss://127.0.0.1/gateway"}"#);
    let output = install.doctor(
        &["--sample", "1", "--timeout", "3s"],
        Some(TOKEN),
        Some(&format!("[discord]\napi_base = \"{base}\"\n")),
    );
    let out = text(&output);
    // Port 9 on 127.0.0.1 refuses connections: the one sampled station fails, by id.
    assert_eq!(output.status.code(), Some(1), "{out}");
    let streams = line(&out, "streams");
    assert!(
        streams.contains("0/1") && streams.contains("local-fm"),
        "{out}"
    );
}
