//! `invite-server`: run your own calendar invite server.
//!
//! ```text
//! invite-server [--config FILE] [--data-dir DIR] [--http-listen ADDR] [--smtp-listen ADDR]
//!               [--database-url URL] [--no-demo] [COMMAND]
//! ```
//!
//! With no command it serves: the HTTP API, the inbound SMTP listener and
//! the delivery worker, on embedded defaults (SQLite and captured mail in
//! `./invite-server-data`, everything on loopback). On the first start it
//! makes a demo tenant and prints its API key (once) and a `curl` line that
//! sends a first invitation. SIGTERM or Ctrl-C stops it: no new requests,
//! those in flight finish, nothing queued is lost.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use invite_server::config::{ENV, LogFormat, OutboundKind};
use invite_server::{Config, RunningServer};

const ABOUT: &str = "Run your own calendar invite server: an HTTP API that sends native \
calendar invitations and reads the answers, the SMTP listener that takes organizers' \
invitations and recipients' replies, and the delivery worker, in one process.";

#[derive(Parser, Debug)]
#[command(name = "invite-server", version, about = ABOUT, after_long_help = env_help())]
struct Cli {
    /// A TOML configuration file (`invite-server example-config` writes one).
    #[arg(short, long, env = "CALINVITE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where the SQLite database and the captured mail live.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The HTTP API's address and port (port 0 picks one).
    #[arg(long, value_name = "ADDR")]
    http_listen: Option<String>,
    /// The SMTP listener's address and port.
    #[arg(long, value_name = "ADDR")]
    smtp_listen: Option<String>,
    /// `sqlite:///path/file.db` or `postgres://user@host/db`.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Log as JSON lines.
    #[arg(long)]
    json_logs: bool,
    /// Make no demo tenant on first start.
    #[arg(long)]
    no_demo: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve (the default).
    Serve,
    /// Print the configuration in force (passwords hidden).
    PrintConfig,
    /// Print a commented configuration file with every setting.
    ExampleConfig,
    /// Print the OpenAPI 3.1 document of the HTTP API.
    Openapi,
    /// Register a domain owner (its mailboxes are create@, rsvp@ and
    /// bounces@ its domain) and print its API key, once.
    AddOwner {
        /// The sending domain, whose MX is this server.
        #[arg(long)]
        domain: String,
        /// The name notices are sent by.
        #[arg(long)]
        name: String,
    },
    /// Make an API key for a domain owner or one of its organizers and
    /// print it, once.
    CreateKey {
        /// The domain owner's id.
        #[arg(long)]
        owner: u64,
        /// The organizer's id (default: a key of the whole domain owner).
        #[arg(long)]
        organizer: Option<u64>,
        /// What the key is for.
        #[arg(long, default_value = "")]
        label: String,
    },
}

fn env_help() -> String {
    let mut s = String::from(
        "Settings come from built-in defaults, then the --config file, then these \
         environment variables, then the flags above:\n",
    );
    for (name, path) in ENV {
        s.push_str(&format!("  {name:<42} {path}\n"));
    }
    s
}

fn out(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

fn load(cli: &Cli) -> Result<Config, String> {
    let mut env: Vec<(String, String)> = std::env::vars().collect();
    let mut flag = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            env.push((name.to_owned(), v));
        }
    };
    flag(
        "CALINVITE_DATA_DIR",
        cli.data_dir.as_ref().map(|d| d.display().to_string()),
    );
    flag("CALINVITE_HTTP_LISTEN", cli.http_listen.clone());
    flag("CALINVITE_SMTP_LISTEN", cli.smtp_listen.clone());
    flag("CALINVITE_DATABASE_URL", cli.database_url.clone());
    flag("CALINVITE_LOG_FORMAT", cli.json_logs.then(|| "json".into()));
    flag(
        "CALINVITE_DEMO_ENABLED",
        cli.no_demo.then(|| "false".into()),
    );
    Config::load(cli.config.as_deref(), env).map_err(|e| e.to_string())
}

fn init_logs(config: &Config) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| config.log.filter.clone());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        _ => builder.try_init(),
    };
}

/// What a person reads when the server has started.
fn banner(server: &RunningServer) -> String {
    let c = server.config();
    let url = server.public_url();
    let mut s = format!(
        "calinvite invite server {}\n\n  HTTP API        {url}   (OpenAPI: {url}/openapi.json)\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(smtp) = server.smtp_addr() {
        s.push_str(&format!("  SMTP listener   {smtp}\n"));
    }
    s.push_str(&format!(
        "  database        {}\n",
        invite_server::config::redact_url(&c.database_url())
    ));
    let capture = c.capture_dir();
    match c.outbound.kind {
        OutboundKind::Smtp => s.push_str(&format!(
            "  outgoing mail   SMTP relay {}:{}\n",
            c.outbound.smtp.host, c.outbound.smtp.port
        )),
        _ => s.push_str(&format!(
            "  outgoing mail   captured in {} (one .eml file per message)\n",
            capture.display()
        )),
    }
    s.push_str(&format!("  metrics         {url}/metrics\n"));
    if let Some(d) = server.demo() {
        s.push_str(&format!(
            "\nDemo tenant: mail from {} to {} becomes an event; demo event {}.\n",
            d.organizer_address, d.ingest, d.event
        ));
        let key = match &d.key {
            Some(k) => {
                s.push_str(&format!(
                    "Demo API key (a domain owner's; shown this once, never again — keep it):\n  {k}\n"
                ));
                s.push_str(&format!(
                    "Console: {url}/console — sign in as {} (the link is mailed there).\n",
                    d.console_admin
                ));
                k.clone()
            }
            None => {
                s.push_str("The demo API key was printed on the first start.\n");
                "$CALINVITE_KEY".to_owned()
            }
        };
        s.push_str(&format!(
            "\nSend a first invitation:\n  curl -sS -X POST {url}/v1/events/{}/invitations \\\n    \
             -H \"Authorization: Bearer {key}\" -H 'Content-Type: application/json' \\\n    \
             -d '{{\"address\": \"guest@example.net\", \"name\": \"A Guest\"}}'\n",
            d.event
        ));
        if c.outbound.kind == OutboundKind::Capture {
            s.push_str(&format!(
                "It is written to {} as an .eml file.\n",
                capture.join("guest@example.net").display()
            ));
        }
    }
    s.push_str("\nCtrl-C (or SIGTERM) stops the server; nothing queued is lost.");
    s
}

async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let server = RunningServer::start(config)
        .await
        .map_err(|e| e.to_string())?;
    out(&banner(&server));
    signal().await;
    let stopped = server.shutdown().await;
    if let Some(q) = stopped.still_queued.filter(|q| *q > 0) {
        out(&format!(
            "stopped; {q} messages stay queued for the next start"
        ));
    } else {
        out("stopped");
    }
    Ok(())
}

async fn add_owner(config: Config, domain: &str, name: &str) -> Result<(), String> {
    let opened = invite_server::open(&config)
        .await
        .map_err(|e| e.to_string())?;
    let (owner, key) = invite_server::admin::add_owner(&opened, domain, name)
        .await
        .map_err(|e| e.to_string())?;
    // Its web answer and unsubscribe links point at this server.
    let base = invite_server::public::links::links_base(
        config.http.public_url.as_deref(),
        &config.http.listen,
    )?;
    invite_server::public::links::update_owners(&opened, &base).await?;
    let d = &owner.mail_domain;
    out(&format!(
        "domain owner {} registered for {d}: point the domain's MX at this server's SMTP listener\n\
         mailboxes: {} (organizers' invitations), {} (answers), {} (delivery reports)\n\
         API key {} (shown this once):\n  {}",
        owner.id.0, owner.ingest, owner.reply, owner.bounce, key.id, key.key
    ));
    Ok(())
}

async fn create_key(
    config: Config,
    owner: u64,
    organizer: Option<u64>,
    label: &str,
) -> Result<(), String> {
    let opened = invite_server::open(&config)
        .await
        .map_err(|e| e.to_string())?;
    let key = invite_server::admin::create_key(&opened, owner, organizer, label)
        .await
        .map_err(|e| e.to_string())?;
    out(&format!(
        "API key {} (shown this once):\n  {}",
        key.id, key.key
    ));
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match load(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("invite-server: {e}");
            return ExitCode::from(2);
        }
    };
    match &cli.command {
        Some(Command::PrintConfig) => {
            out(&config.to_toml());
            return ExitCode::SUCCESS;
        }
        Some(Command::ExampleConfig) => {
            out(Config::example_toml());
            return ExitCode::SUCCESS;
        }
        Some(Command::Openapi) => {
            out(&serde_json::to_string_pretty(&invite_server::openapi()).unwrap_or_default());
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    init_logs(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("invite-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            None | Some(Command::Serve) => serve(config).await,
            Some(Command::AddOwner { domain, name }) => add_owner(config, &domain, &name).await,
            Some(Command::CreateKey {
                owner,
                organizer,
                label,
            }) => create_key(config, owner, organizer, &label).await,
            Some(_) => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("invite-server: {e}");
            ExitCode::FAILURE
        }
    }
}
