//! The command line of `smctl` (clap).

use clap::{Parser, Subcommand, ValueEnum};

/// Command line of `smctl`.
#[derive(Debug, Parser)]
#[command(
    name = "smctl",
    version,
    about = "Operator CLI of the stream manager: inspect, read, follow and append to the streams of a running daemon",
    after_help = "The auth token, when the daemon requires one, is read from AWS_CONTAINER_AUTHORIZATION_TOKEN.\n\
                  Exit status: 0 on success, 1 on any error (one line on stderr naming the server status)."
)]
pub struct Cli {
    /// Host name or address of the daemon.
    #[arg(
        long,
        global = true,
        env = "STREAM_MANAGER_SERVER_HOST",
        default_value = "127.0.0.1"
    )]
    pub host: String,

    /// TCP port of the daemon.
    #[arg(
        long,
        global = true,
        env = "STREAM_MANAGER_SERVER_PORT",
        default_value_t = 8088
    )]
    pub port: u16,

    /// Longest wait for one request (and for a `tail` poll), in seconds.
    #[arg(long, global = true, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Stream names.
    Streams {
        /// What to do with them.
        #[command(subcommand)]
        command: StreamsCommand,
    },
    /// A stream's definition, storage and exports (a summary; `--json` for everything).
    Describe {
        /// Stream name.
        name: String,
        /// Print the full describe answer (`messageStreamInfo`, wire keys) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Up to COUNT messages from sequence number FROM (clamped to the oldest); stops early at
    /// the newest message.
    Read {
        /// Stream name.
        name: String,
        /// First sequence number (below the oldest: the oldest).
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..))]
        from: i64,
        /// Most messages to print.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=i32::MAX as u64))]
        count: u64,
        /// How to print each message.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Follow a stream: print messages as they are appended, until Ctrl-C (or `--max`).
    Tail {
        /// Stream name.
        name: String,
        /// First sequence number to print (default: the next message appended).
        #[arg(long, value_parser = clap::value_parser!(i64).range(0..))]
        from: Option<i64>,
        /// Stop after this many messages.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        max: Option<u64>,
        /// How to print each message.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Append stdin as one message (or one message per line with `--lines`); prints the
    /// sequence numbers.
    Append {
        /// Stream name.
        name: String,
        /// One message per line (without its `\n` or `\r\n`); empty lines are skipped.
        #[arg(long)]
        lines: bool,
    },
    /// Every stream's size, sequence numbers and export lag, as a table.
    Status,
}

/// Subcommands of `streams`.
#[derive(Debug, Subcommand)]
pub enum StreamsCommand {
    /// The names of every stream, one per line, sorted.
    List,
}

/// How `read` and `tail` print a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `SEQ<TAB>payload` with the payload as UTF-8 (invalid bytes as U+FFFD, control characters
    /// escaped), one line per message.
    Text,
    /// `SEQ<TAB>payload` with the payload in lowercase hex.
    Hex,
    /// One JSON object per line: streamName, sequenceNumber, ingestTime, payload (standard
    /// base64, exact) and payloadText (when the payload is UTF-8).
    Json,
}
