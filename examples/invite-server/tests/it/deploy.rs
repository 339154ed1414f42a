//! What an operator installs: the systemd unit, checked by systemd's own
//! `systemd-analyze` (verify, and the exposure rating of its sandboxing)
//! and its user by `systemd-sysusers` (into a scratch root), its command
//! line run by the real binary, and its stop timeout against
//! the server's own shutdown grace; and the operator's guide, whose every
//! configuration snippet the server reads.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use invite_server::Config;

const BIN: &str = env!("CARGO_BIN_EXE_invite-server");

fn here(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The unit's `[Service]` settings (a repeated key keeps its last value).
fn service_settings(unit: &str) -> HashMap<String, String> {
    let mut section = "";
    let mut settings = HashMap::new();
    for line in unit.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            section = line;
            continue;
        }
        if section == "[Service]"
            && let Some((k, v)) = line.split_once('=')
        {
            settings.insert(k.to_owned(), v.to_owned());
        }
    }
    settings
}

#[test]
fn the_systemd_unit_passes_systemd_analyze() {
    let unit = here("deploy/invite-server.service");
    let out = Command::new(here("scripts/verify-unit.sh"))
        .arg(&unit)
        .arg(BIN)
        .output()
        .expect("run scripts/verify-unit.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "systemd-analyze refused the unit:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("verify: OK"), "{stdout}");
    assert!(
        stdout.contains("sysusers: OK (invite-server:x:")
            && stdout.contains(":/var/lib/invite-server:/usr/sbin/nologin"),
        "{stdout}"
    );
    assert!(stdout.contains("Overall exposure level"), "{stdout}");
}

#[test]
fn the_systemd_unit_runs_the_server_as_its_own_user_and_waits_for_its_shutdown() {
    let text = std::fs::read_to_string(here("deploy/invite-server.service")).unwrap();
    let s = service_settings(&text);
    let get = |k: &str| s.get(k).map_or("", String::as_str);
    assert!(!["", "root"].contains(&get("User")), "a user of its own");
    for (k, v) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("StateDirectory", "invite-server"),
        ("Restart", "on-failure"),
        ("KillSignal", "SIGTERM"),
    ] {
        assert_eq!(get(k), v, "{k}");
    }
    // The stop timeout covers the server's own: HTTP requests and SMTP
    // sessions finish side by side, then the worker records what it holds
    // (up to a relay's reply timeout; allow 30 s), then the webhook posts in
    // flight are answered (up to their timeout).
    let stop: u64 = get("TimeoutStopSec")
        .parse()
        .expect("TimeoutStopSec in seconds");
    let defaults = Config::default();
    let http = defaults.http.shutdown_grace_seconds;
    let smtp = calinvite_smtp::listener::ListenerConfig::new("x")
        .shutdown_grace
        .as_secs();
    let needed = http.max(smtp) + 30 + defaults.webhooks.timeout_seconds;
    assert!(
        stop >= needed,
        "TimeoutStopSec={stop} s, but the server may take {needed} s to stop"
    );

    // Its command line, as the binary reads it: `serve` swapped for
    // `print-config`, the configuration file for a copy of the guide's.
    let exec = get("ExecStart");
    let args: Vec<&str> = exec.split_whitespace().collect();
    assert_eq!(args[0], "/usr/local/bin/invite-server", "{exec}");
    assert_eq!(args.last(), Some(&"serve"), "{exec}");
    let config_at = args
        .iter()
        .position(|a| *a == "--config")
        .expect("--config in ExecStart");
    assert_eq!(args[config_at + 1], "/etc/invite-server/invite-server.toml");
    let dir = std::env::temp_dir().join(format!("invite-server-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("invite-server.toml");
    std::fs::write(&file, &guide_snippets()[0]).unwrap();
    let mut run: Vec<String> = args[1..].iter().map(|a| (*a).to_owned()).collect();
    run[config_at] = file.display().to_string();
    *run.last_mut().unwrap() = "print-config".into();
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("CALINVITE_") {
            c.env_remove(k);
        }
    }
    let out = c.args(&run).output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{run:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shown.contains("/var/lib/invite-server"), "{shown}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The ```toml blocks of the operator's guide.
fn guide_snippets() -> Vec<String> {
    let guide = std::fs::read_to_string(here("OPERATIONS.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in guide.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```toml") => current = Some(String::new()),
            (Some(_), "```") => blocks.push(current.take().unwrap()),
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

#[test]
fn every_configuration_in_the_operators_guide_is_read_by_the_server() {
    let blocks = guide_snippets();
    assert!(blocks.len() >= 2, "{} toml blocks", blocks.len());
    for block in &blocks {
        let parsed: Result<Config, _> = toml::from_str(block);
        match parsed {
            Ok(c) => c.check().unwrap_or_else(|e| panic!("{e}:\n{block}")),
            Err(e) => panic!("the server would refuse this:\n{block}\n{e}"),
        }
    }
    // The first is the whole production file: everything in the state
    // directory, mail through a relay, a public MX that checks SPF, DKIM
    // and DMARC.
    let all: Config = toml::from_str(&blocks[0]).unwrap();
    assert_eq!(all.data_dir, Path::new("/var/lib/invite-server"));
    assert_eq!(all.smtp.verify, invite_server::config::Verify::Dns);
    assert_eq!(all.outbound.kind, invite_server::config::OutboundKind::Smtp);
}

#[test]
fn every_setting_and_variable_the_operators_guide_names_exists() {
    let guide = std::fs::read_to_string(here("OPERATIONS.md")).unwrap();
    // `CALINVITE_…` variables.
    let mut named = 0;
    for (i, _) in guide.match_indices("CALINVITE_") {
        let name: String = guide[i..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        if name.ends_with('_') {
            // "`CALINVITE_…` variables": the prefix, not a name.
            continue;
        }
        named += 1;
        assert!(
            name == "CALINVITE_CONFIG"
                || invite_server::config::ENV.iter().any(|(n, _)| *n == name),
            "{name} is not a variable the server reads"
        );
    }
    assert!(named >= 2);
    // Settings written as `[section] key`.
    let defaults = toml::Table::try_from(Config::default()).unwrap();
    let mut settings = 0;
    for (i, _) in guide.match_indices("`[") {
        let rest = &guide[i + 2..];
        let Some((section, after)) = rest.split_once("] ") else {
            continue;
        };
        let key: String = after
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        if key.is_empty() || section.contains(['`', '\n']) {
            continue;
        }
        let mut node = defaults.get(section.split('.').next().unwrap());
        for part in section.split('.').skip(1).chain([key.as_str()]) {
            node = node.and_then(|n| n.get(part));
        }
        // An unset option (such as `[http] public_url`) has no default.
        let optional = [
            "public_url",
            "url",
            "schema",
            "capture_dir",
            "username",
            "password",
            "helo",
        ];
        assert!(
            node.is_some() || optional.contains(&key.as_str()),
            "[{section}] {key} is not a setting"
        );
        settings += 1;
    }
    assert!(settings >= 10, "{settings} settings named");
}
