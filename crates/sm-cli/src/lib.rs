//! `smctl`, the operator CLI of the stream manager: lists, describes, reads, follows and
//! appends to the streams of a running daemon, and shows every stream's export lag at a
//! glance. It speaks the protocol through `sm-client` only, like any other client.
//! It owns the command line ([`Cli`]) and how answers are printed (`format`).
//!
//! # How it is driven
//!
//! `main` parses [`Cli`] (clap), builds a tokio runtime and calls [`run`], which opens one
//! [`sm_client::Client`] (host and port from the flags or `STREAM_MANAGER_SERVER_HOST` /
//! `STREAM_MANAGER_SERVER_PORT`, token from `AWS_CONTAINER_AUTHORIZATION_TOKEN`), runs the
//! subcommand and writes its output to the writer it was given. Every failure becomes a
//! [`CliError`]: one line naming the server status (`stream "x" does not exist
//! (ResourceNotFound)`), which `main` prints on stderr before exiting with status 1.
//!
//! * `read` pages through the stream with non-waiting reads (`readTimeoutMillis` 0) until it
//!   has `--count` messages or reaches the newest.
//! * `tail` long-polls (`minMessageCount` 1, a wait shorter than the request timeout) from the
//!   next sequence number, prints each batch as it arrives and stops on Ctrl-C or `--max`. It
//!   announces its start position on stderr before the first poll.
//! * `status` lists the streams and describes each; a stream deleted in between is left out.
//! * `create` builds a definition from `--definition FILE` (read by `sm-declare`: JSON or
//!   YAML, enums by name or number) and the flags on top (`edit`); `update` starts from the
//!   stream's described definition instead (or the file's, which replaces it whole).
//! * `top` ([`top`]) takes over the terminal (ratatui on crossterm): every `--interval` it
//!   lists and describes the streams, turns two samples into rates (`top::model`, pure) and
//!   redraws; keys are read between refreshes.
//!
//! Formatting (`format`), the flag edits (`edit`) and `top`'s rates are pure and
//! unit-tested; the subcommands are tested as processes against the real daemon
//! (`tests/it`), `top` in a real terminal under tmux.

pub mod cli;
pub mod edit;
pub mod format;
pub mod top;

use std::io::{Read, Write};
use std::time::Duration;

use sm_client::{
    Client, ClientConfig, Error, MessageStreamDefinition, ReadMessagesOptions, StrategyOnFull,
};

pub use cli::{Cli, Command, DefinitionArgs, Format, StreamsCommand};

/// A failure of a subcommand: one line for stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CliError {}

impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        Self(error_line(&e))
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        Self(format!("IO error: {e}"))
    }
}

/// One line for a client error: the server's message and its status name, else what the
/// client saw (connection, timeout, validation).
pub fn error_line(e: &Error) -> String {
    let line = match e.status_error() {
        Some(s) => {
            let status = format::status_name(s.status());
            match s.message() {
                Some(m) if !m.is_empty() => format!("{m} ({status})"),
                _ => format!("the server answered {status}"),
            }
        }
        // Connection errors already name the address and the IO error.
        None => e.to_string(),
    };
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// How long one `tail` poll waits on the server for new messages.
const TAIL_POLL: Duration = Duration::from_secs(10);
/// Most messages asked for in one read.
const PAGE: u64 = 10_000;

/// The client configuration of a command line.
pub fn client_config(cli: &Cli) -> ClientConfig {
    ClientConfig {
        auth_token: std::env::var("AWS_CONTAINER_AUTHORIZATION_TOKEN").ok(),
        request_timeout: Duration::from_secs(cli.timeout),
        ..ClientConfig::new(cli.host.clone(), cli.port)
    }
}

/// Runs the subcommand, writing its output to `out` (flushed after each message for `tail`)
/// and reading `append`'s payload from `input`.
pub async fn run(cli: Cli, out: &mut dyn Write, input: &mut dyn Read) -> Result<(), CliError> {
    let target = format!("{}:{}", cli.host, cli.port);
    let client = Client::new(client_config(&cli));
    match cli.command {
        Command::Streams {
            command: StreamsCommand::List { json },
        } => {
            let mut names = client.list_streams().await?;
            names.sort();
            if json {
                writeln!(out, "{}", serde_json::Value::from(names))?;
            } else {
                for n in names {
                    writeln!(out, "{n}")?;
                }
            }
        }
        Command::Create { name, def } => {
            let mut d = load_definition(&def, input)?.unwrap_or_default();
            set_name(&mut d, name)?;
            edit::apply(&mut d, &def)?;
            d.strategy_on_full
                .get_or_insert(StrategyOnFull::OverwriteOldestData);
            client.create_message_stream(&d).await?;
            writeln!(out, "created stream {:?}", d.name)?;
        }
        Command::Update {
            name,
            def,
            remove_export,
            disable_export,
            enable_export,
        } => {
            let mut d = match load_definition(&def, input)? {
                Some(d) => d,
                None => {
                    let Some(n) = &name else {
                        return Err(CliError(
                            "update needs a stream name (or --definition FILE)".into(),
                        ));
                    };
                    client.describe_message_stream(n).await?.definition
                }
            };
            set_name(&mut d, name)?;
            edit::apply(&mut d, &def)?;
            edit::change_exports(&mut d, &remove_export, &disable_export, &enable_export)?;
            client.update_message_stream(&d).await?;
            writeln!(out, "updated stream {:?}", d.name)?;
        }
        Command::Delete { name } => {
            client.delete_message_stream(&name).await?;
            writeln!(out, "deleted stream {name:?}")?;
        }
        Command::Top { interval } => {
            top::run(&client, Duration::from_millis(interval), &target).await?;
        }
        Command::Describe { name, json } => {
            let info = client.describe_message_stream(&name).await?;
            if json {
                let v = serde_json::to_string_pretty(&info)
                    .map_err(|e| CliError(format!("encoding JSON: {e}")))?;
                writeln!(out, "{v}")?;
            } else {
                out.write_all(format::describe_summary(&info).as_bytes())?;
            }
        }
        Command::Read {
            name,
            from,
            count,
            format,
            json,
        } => {
            let format = if json { Format::Json } else { format };
            read(&client, &name, from, count, format, out).await?;
        }
        Command::Tail {
            name,
            from,
            max,
            format,
            json,
        } => {
            let format = if json { Format::Json } else { format };
            tokio::select! {
                r = tail(&client, &name, from, max, format, out) => r?,
                r = tokio::signal::ctrl_c() => r?,
            }
        }
        Command::Append { name, lines, json } => {
            let mut data = Vec::new();
            input.read_to_end(&mut data)?;
            let payloads: Vec<&[u8]> = if lines {
                data.split(|b| *b == b'\n')
                    .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                    .filter(|l| !l.is_empty())
                    .collect()
            } else {
                if data.is_empty() {
                    return Err(CliError(
                        "stdin is empty: a message needs at least one byte".into(),
                    ));
                }
                vec![&data[..]]
            };
            // One at a time: the sequence numbers follow the input's order.
            let seqs = client.append_many(&name, payloads, 1).await?;
            if json {
                writeln!(out, "{}", serde_json::Value::from(seqs))?;
            } else {
                for seq in seqs {
                    writeln!(out, "{seq}")?;
                }
            }
        }
        Command::Status { json } => {
            let mut names = client.list_streams().await?;
            names.sort();
            let mut infos = Vec::new();
            for n in names {
                match client.describe_message_stream(&n).await {
                    Ok(info) => infos.push(info),
                    Err(Error::ResourceNotFound(_)) => {} // deleted since the list
                    Err(e) => return Err(e.into()),
                }
            }
            if json {
                let v: Vec<serde_json::Value> = infos.iter().map(format::status_json).collect();
                writeln!(out, "{}", serde_json::Value::from(v))?;
            } else {
                let mut rows = vec![format::status_header()];
                for info in &infos {
                    rows.extend(format::status_rows(info));
                }
                out.write_all(format::table(&rows).as_bytes())?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// The definition of `--definition FILE` (`-`: stdin), if given.
fn load_definition(
    a: &DefinitionArgs,
    input: &mut dyn Read,
) -> Result<Option<MessageStreamDefinition>, CliError> {
    let Some(file) = &a.definition else {
        return Ok(None);
    };
    let text = if file == "-" {
        let mut s = String::new();
        input.read_to_string(&mut s)?;
        s
    } else {
        std::fs::read_to_string(file).map_err(|e| CliError(format!("reading {file}: {e}")))?
    };
    let name = if file == "-" { "<stdin>" } else { file };
    sm_declare::parse_definition(name, &text)
        .map(Some)
        .map_err(|e| CliError(e.to_string()))
}

/// Puts the command line's stream name into the definition (they must agree when both are
/// given).
fn set_name(d: &mut MessageStreamDefinition, name: Option<String>) -> Result<(), CliError> {
    match name {
        Some(n) if d.name.is_empty() => d.name = n,
        Some(n) if n != d.name => {
            return Err(CliError(format!(
                "the stream name {n:?} differs from the definition's {:?}",
                d.name
            )))
        }
        _ => {}
    }
    if d.name.is_empty() {
        return Err(CliError(
            "a stream name is needed (as an argument or in --definition)".into(),
        ));
    }
    Ok(())
}

async fn read(
    client: &Client,
    name: &str,
    from: i64,
    count: u64,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut next = from;
    let mut left = count;
    while left > 0 {
        let options = ReadMessagesOptions {
            desired_start_sequence_number: Some(next),
            min_message_count: Some(1),
            max_message_count: Some(i64::try_from(left.min(PAGE)).unwrap_or(1)),
            read_timeout_millis: Some(0),
        };
        let batch = match client.read_messages(name, options).await {
            Ok(b) => b,
            // Past the newest message: done.
            Err(Error::NotEnoughMessages(_)) => break,
            Err(e) => return Err(e.into()),
        };
        let Some(last) = batch.last() else { break };
        next = last.sequence_number + 1;
        for m in &batch {
            out.write_all(format::message_line(m, format).as_bytes())?;
        }
        left = left.saturating_sub(batch.len() as u64);
    }
    Ok(())
}

async fn tail(
    client: &Client,
    name: &str,
    from: Option<i64>,
    max: Option<u64>,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut next = match from {
        Some(n) => n,
        None => {
            client
                .describe_message_stream(name)
                .await?
                .storage_status
                .newest_sequence_number
                + 1
        }
    };
    eprintln!("smctl: following stream {name:?} from sequence number {next} (Ctrl-C to stop)");
    let wait = TAIL_POLL.min(client.request_timeout() / 2);
    let mut left = max.unwrap_or(u64::MAX);
    while left > 0 {
        let options = ReadMessagesOptions {
            desired_start_sequence_number: Some(next),
            min_message_count: Some(1),
            max_message_count: Some(i64::try_from(left.min(PAGE)).unwrap_or(1)),
            read_timeout_millis: Some(i64::try_from(wait.as_millis()).unwrap_or(10_000)),
        };
        let batch = match client.read_messages(name, options).await {
            Ok(b) => b,
            Err(Error::NotEnoughMessages(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        let Some(last) = batch.last() else { continue };
        next = last.sequence_number + 1;
        for m in &batch {
            out.write_all(format::message_line(m, format).as_bytes())?;
        }
        out.flush()?;
        left = left.saturating_sub(batch.len() as u64);
    }
    Ok(())
}
