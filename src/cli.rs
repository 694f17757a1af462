//! The command line: clap definitions and the dispatch to `commands`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands;
use crate::registry::connect::Client;

const ABOUT: &str = "Backoffice runs AI jobs defined as TOML files in git.

Jobs live in jobs/*.toml of a git repository. `serve` deploys what is committed on the
tracked branch and runs each job on its cron schedule in its own time zone; every run is
recorded in state/runs.db.";

/// The parsed command line.
#[derive(Debug, Parser)]
#[command(name = "backoffice", version, about = ABOUT, max_term_width = 100)]
pub struct Cli {
    /// Folder for runs.db and other runtime files.
    #[arg(
        long,
        global = true,
        env = "BACKOFFICE_STATE",
        default_value = "state",
        value_name = "DIR"
    )]
    pub state: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

/// Text for people, JSON for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Where the committed job files are.
#[derive(Debug, Clone, Args)]
pub struct RepoArgs {
    /// Git repository (bare or with a work tree) holding jobs/.
    #[arg(
        long,
        env = "BACKOFFICE_REPO",
        default_value = ".",
        value_name = "PATH"
    )]
    pub repo: PathBuf,
    /// Branch to track [default: the repository's current branch; `main` with --remote].
    #[arg(long, env = "BACKOFFICE_BRANCH", value_name = "NAME")]
    pub branch: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy the committed jobs/ of a branch and run them on schedule, redeploying on every
    /// commit.
    Serve(ServeArgs),
    /// Validate job files in the working tree (for pull-request CI) and show when they fire.
    Check(CheckArgs),
    /// Show what deploying a ref would add, change and remove.
    Plan(PlanArgs),
    /// Run a job now, through the running daemon or in this process.
    Run(RunArgs),
    /// Try a briefing job without publishing (`--dry-run`), or regenerate a past run's
    /// briefing from its stored items with today's prompt and model (`--replay RUN`).
    Briefing(BriefingArgs),
    /// Check what the jobs need: the model server and its models, Notion, Slack, Gmail,
    /// LangGraph, the git source, the state folder, the listen address. Exit 1 on any ✗.
    Doctor(DoctorArgs),
    /// Recent runs, newest first.
    Runs(RunsArgs),
    /// Next fire times.
    Next(NextArgs),
    /// Deployed commit, sync state, and each job's next run and last outcome.
    Status(StatusArgs),
    /// Write the status site into <state>/site once, from the databases (no daemon needed).
    Site(SiteArgs),
    /// The Context Registry's MCP server on stdio: what Cursor, Claude Desktop and Claude
    /// Code launch (see `connect`). Exits when stdin closes.
    Mcp(McpArgs),
    /// The Context Registry (state/registry.db): import transcripts, show figures.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Knowledge Cards made from your conversations: what is due, review on the terminal,
    /// list, and export to Anki.
    #[command(subcommand)]
    Cards(CardsCommand),
    /// Print the config entry that connects a client to the Context Registry; `--write`
    /// merges it into the client's config file (after a backup).
    Connect(ConnectArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Track a remote repository instead, fetched into the state folder by `git fetch` (path,
    /// file://, https://, ssh://, git@host:…; an https token can come from BACKOFFICE_GIT_TOKEN).
    #[arg(
        long,
        env = "BACKOFFICE_REMOTE",
        value_name = "URL",
        conflicts_with = "repo"
    )]
    pub remote: Option<String>,
    /// How often to fetch the remote.
    #[arg(long, env = "BACKOFFICE_POLL", default_value = "60s", value_parser = parse_duration)]
    pub poll: Duration,
    /// Deploy a commit even if it removes every job (otherwise it is held).
    #[arg(long)]
    pub allow_empty: bool,
    /// On SIGINT/SIGTERM, how long running jobs get to finish.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub grace: Duration,
    /// Address of the status site's HTTP server (port 0 picks a free port).
    #[arg(
        long,
        env = "BACKOFFICE_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR"
    )]
    pub listen: String,
    /// Only write the status site into <state>/site; serve no HTTP.
    #[arg(long)]
    pub no_http: bool,
    /// A name the status site (and --mcp-listen) also answers to in the Host header, for a
    /// reverse proxy in front of it (repeat it, or separate names with commas). Loopback
    /// names and the listen address are always accepted; any other Host gets 403, which
    /// stops DNS-rebinding pages from reading the site through a browser.
    #[arg(
        long = "allow-host",
        env = "BACKOFFICE_ALLOW_HOSTS",
        value_name = "NAME",
        value_delimiter = ','
    )]
    pub allow_hosts: Vec<String>,
    /// Also serve the Context Registry over MCP Streamable HTTP at http://ADDR/mcp
    /// (e.g. 127.0.0.1:8765). Only local Host and Origin headers are accepted; set
    /// BACKOFFICE_MCP_TOKEN to require a bearer token.
    #[arg(long, env = "BACKOFFICE_MCP_LISTEN", value_name = "ADDR")]
    pub mcp_listen: Option<SocketAddr>,
    /// The status site's address as people reach it (https://status.example.com), for the
    /// links in notifications.
    #[arg(long, env = "BACKOFFICE_PUBLIC_URL", value_name = "URL", value_parser = public_url)]
    pub public_url: Option<String>,
    /// What the site's Context Registry page shows: `titles` (session titles and counts) or
    /// `counts` (figures only). Message content is never shown.
    #[arg(
        long,
        env = "BACKOFFICE_SITE_REGISTRY",
        value_enum,
        default_value_t = SiteRegistry::Titles
    )]
    pub site_registry: SiteRegistry,
    #[command(flatten)]
    pub templates: TemplatesArgs,
}

/// How much of the Context Registry the status site shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SiteRegistry {
    /// Session titles, channels, workspaces and counts.
    Titles,
    /// Only counts: for a site others can read.
    Counts,
}

/// `--public-url`: an http(s) URL without spaces, kept without its trailing slash.
fn public_url(text: &str) -> Result<String, String> {
    let trimmed = text.trim().trim_end_matches('/');
    let scheme_ok = trimmed.starts_with("https://") || trimmed.starts_with("http://");
    if scheme_ok && trimmed.len() > "https://".len() && !trimmed.contains(char::is_whitespace) {
        Ok(trimmed.to_string())
    } else {
        Err(format!(
            "`{text}` is not an http(s) URL; give the site's address as people open it, e.g. https://status.example.com"
        ))
    }
}

#[derive(Debug, Args)]
pub struct TemplatesArgs {
    /// Render the status site with your own copy of the templates (every .hbs file of the
    /// repository's templates/ folder, plus style.css) instead of the built-in ones.
    #[arg(long, env = "BACKOFFICE_TEMPLATES", value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SiteArgs {
    #[command(flatten)]
    pub templates: TemplatesArgs,
    /// As `serve --site-registry`: `counts` keeps session titles, workspaces and card texts
    /// off the registry and cards pages.
    #[arg(long, env = "BACKOFFICE_SITE_REGISTRY", value_enum, default_value_t = SiteRegistry::Titles)]
    pub site_registry: SiteRegistry,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Job files or folders to check.
    #[arg(default_value = "jobs", value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
    /// How many fire times to show per job.
    #[arg(long, default_value_t = 5)]
    pub count: usize,
    /// `github` prints GitHub Actions workflow commands, so errors land on the pull
    /// request's lines.
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
}

/// How `check` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
    Github,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Ref to plan (branch, remote-tracking branch, tag or commit) [default: --branch].
    #[arg(long = "ref", value_name = "REF")]
    pub reference: Option<String>,
    /// Plan as `serve --allow-empty` would.
    #[arg(long)]
    pub allow_empty: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Job id: its path under jobs/ without .toml.
    pub job: String,
    /// Run even if a run of the job is in progress (ignores `overlap`).
    #[arg(long)]
    pub force: bool,
    /// Wait for the run (and its retries) to finish and print the outcome. Always the case
    /// when no daemon is running.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub repo: RepoArgs,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct BriefingArgs {
    /// Job id of a briefing job (`orchestrator = "briefing"`).
    pub job: String,
    /// Collect and summarise now; print the briefing, publish nothing, write no ledger.
    #[arg(long, required_unless_present = "replay")]
    pub dry_run: bool,
    /// Regenerate run RUN's briefing from the items stored with it, calling no source API.
    #[arg(long, value_name = "RUN", conflicts_with = "dry_run")]
    pub replay: Option<i64>,
    /// Use this model instead of the job's.
    #[arg(long)]
    pub model: Option<String>,
    #[command(flatten)]
    pub repo: RepoArgs,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// The status site's address `serve` would take.
    #[arg(
        long,
        env = "BACKOFFICE_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR"
    )]
    pub listen: String,
    /// The MCP HTTP address `serve --mcp-listen` would take, if any.
    #[arg(long, env = "BACKOFFICE_MCP_LISTEN", value_name = "ADDR")]
    pub mcp_listen: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only this job's runs.
    pub job: Option<String>,
    /// How many runs to show.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct NextArgs {
    /// Only this job.
    pub job: Option<String>,
    /// How many fire times per job.
    #[arg(long, default_value_t = 5)]
    pub count: usize,
    #[command(flatten)]
    pub repo: RepoArgs,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct McpArgs {
    /// Also append logs to this file (stderr always gets them; some clients hide stderr).
    #[arg(long, env = "BACKOFFICE_MCP_LOG_FILE", value_name = "PATH")]
    pub log_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum CardsCommand {
    /// The questions due now (never their answers).
    Due(CardsListArgs),
    /// Review the due cards here: the question, your answer, the reference answer and its
    /// source, then your grade (1 again, 2 hard, 3 good, 4 easy); `q` stops.
    Review(CardsReviewArgs),
    /// Cards, newest first, with their state and next due date.
    List(CardsListArgs),
    /// Every card (not rejected) in Anki's text import format on stdout:
    /// `backoffice cards export > cards.txt`, then File > Import in Anki. Importing again
    /// updates the notes and keeps their reviews.
    Export(CardsExportArgs),
}

#[derive(Debug, Args)]
pub struct CardsListArgs {
    /// How many cards (1 to 10000).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=10000))]
    pub limit: u16,
    /// Only cards in this state.
    #[arg(long = "only", value_enum, value_name = "STATE")]
    pub only: Option<CardStateArg>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// A card state on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CardStateArg {
    New,
    Learning,
    Review,
    Suspended,
    Rejected,
}

#[derive(Debug, Args)]
pub struct CardsReviewArgs {
    /// At most this many cards in one sitting (1 to 10000).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=10000))]
    pub limit: u16,
}

#[derive(Debug, Args)]
pub struct CardsExportArgs {
    /// The Anki deck the cards go to (created when missing).
    #[arg(long, default_value = crate::cards::export::DEFAULT_DECK)]
    pub deck: String,
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Sessions, messages, channels and database size.
    Stats(RegistryStatsArgs),
    /// Import conversations a client already saved (idempotent: run it as often as you like).
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct RegistryStatsArgs {
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Where imported conversations come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportSource {
    /// Claude Code's JSONL transcripts.
    ClaudeCode,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    pub source: ImportSource,
    /// A transcript file or folder [default: ~/.claude/projects].
    pub path: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    pub client: Client,
    /// Merge the entry into the client's config file (a backup is written first).
    #[arg(long)]
    pub write: bool,
    /// The config file to write [default: the client's user-wide config].
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The server's name in the client.
    #[arg(long, default_value = crate::registry::connect::DEFAULT_NAME)]
    pub name: String,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::duration::parse(text).map_err(|e| e.to_string())
}

/// Parses the command line and runs the command; returns the process exit code.
pub fn main() -> ExitCode {
    crate::memory::limit_arenas();
    let too_short = crate::connectors::secret::register_env();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_) | Command::Mcp(_)) {
        exit_quietly_on_closed_pipe();
    }
    let default_level = match cli.command {
        Command::Serve(_) => tracing::level_filters::LevelFilter::INFO,
        _ => tracing::level_filters::LevelFilter::WARN,
    };
    match &cli.command {
        Command::Mcp(McpArgs {
            log_file: Some(file),
        }) => {
            if let Err(error) = crate::logging::init_with_file(default_level, file) {
                eprintln!(
                    "error: cannot open the log file {}: {error}",
                    file.display()
                );
                return ExitCode::from(2);
            }
        }
        _ => crate::logging::init(default_level),
    }
    for name in too_short {
        tracing::warn!(
            "{name} is shorter than {} characters, too short to be scrubbed from what servers answer; use the real key",
            crate::connectors::secret::MIN_SECRET_LEN
        );
    }
    match commands::execute(cli) {
        Ok(code) => code,
        Err(error) => {
            let message = crate::display::terminal(&error.to_string()).into_owned();
            eprintln!("error: {}", crate::connectors::secret::scrub(&message));
            ExitCode::from(2)
        }
    }
}

/// `backoffice runs | head -1`: when the reader goes away, end as Unix tools do, silently
/// by SIGPIPE, instead of panicking in `println!` with a backtrace. Rust ignores SIGPIPE so
/// that writes fail with an error; a one-shot command has nothing better to do with that
/// error than stop. The daemon and the MCP server keep Rust's default: a client hanging up
/// on one of their sockets or pipes is an error they handle, not their end.
fn exit_quietly_on_closed_pipe() {
    // SAFETY: called at start, before any thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
