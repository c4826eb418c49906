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
    /// Create a stream from flags, or from a definition file (JSON or YAML, the shape
    /// `describe --json` prints) with flags on top.
    Create {
        /// Stream name (optional with `--definition`, which names it).
        name: Option<String>,
        /// The definition's fields.
        #[command(flatten)]
        def: DefinitionArgs,
    },
    /// Change a stream: the flags given change those fields of its current definition, or
    /// `--definition FILE` replaces the whole definition (flags on top). UpdateMessageStream's
    /// rules apply (persistence cannot change; maxSize not below the stored bytes).
    Update {
        /// Stream name (optional with `--definition`, which names it).
        name: Option<String>,
        /// The definition's fields.
        #[command(flatten)]
        def: DefinitionArgs,
        /// Remove the export with this identifier (its checkpoint is deleted).
        #[arg(long, value_name = "ID")]
        remove_export: Vec<String>,
        /// Pause the export with this identifier.
        #[arg(long, value_name = "ID")]
        disable_export: Vec<String>,
        /// Resume the export with this identifier.
        #[arg(long, value_name = "ID")]
        enable_export: Vec<String>,
    },
    /// Delete a stream and all its messages.
    Delete {
        /// Stream name.
        name: String,
    },
    /// A live full-screen view of every stream and export: append and export rates, sizes,
    /// sequence numbers, lag and last errors. `q`, Esc or Ctrl-C quits.
    Top {
        /// Refresh period in milliseconds.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
        interval: u64,
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
        /// Same as `--format json`.
        #[arg(long, conflicts_with = "format")]
        json: bool,
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
        /// Same as `--format json`.
        #[arg(long, conflicts_with = "format")]
        json: bool,
    },
    /// Append stdin as one message (or one message per line with `--lines`); prints the
    /// sequence numbers.
    Append {
        /// Stream name.
        name: String,
        /// One message per line (without its `\n` or `\r\n`); empty lines are skipped.
        #[arg(long)]
        lines: bool,
        /// Print the sequence numbers as one JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Every stream's size, sequence numbers and export lag, as a table.
    Status {
        /// One JSON object per stream and export instead of the table.
        #[arg(long)]
        json: bool,
    },
}

/// Subcommands of `streams`.
#[derive(Debug, Subcommand)]
pub enum StreamsCommand {
    /// The names of every stream, one per line, sorted.
    List {
        /// Print them as one JSON array.
        #[arg(long)]
        json: bool,
    },
}

/// The fields of a definition that `create` and `update` set by flag.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DefinitionArgs {
    /// A definition file (JSON or YAML; `-` for stdin): the wire shape `describe --json`
    /// prints (or that whole answer), enums by name or number. Other flags apply on top.
    #[arg(long, value_name = "FILE")]
    pub definition: Option<String>,
    /// File (survives restarts; the default) or Memory.
    #[arg(long, value_enum, ignore_case = true)]
    pub persistence: Option<PersistenceArg>,
    /// Maximum size of the stream in bytes (default 268435456, minimum 1024).
    #[arg(long, value_name = "BYTES")]
    pub max_size: Option<i64>,
    /// Segment size in bytes, the unit of deletion (default 16777216, minimum 1024).
    #[arg(long, value_name = "BYTES")]
    pub segment_size: Option<i64>,
    /// Keep messages at least this long, in ms (minimum 60000; default: no TTL).
    #[arg(long, value_name = "MS")]
    pub ttl: Option<i64>,
    /// What an append does when the stream is full (create's default: OverwriteOldestData).
    #[arg(long, value_enum, ignore_case = true)]
    pub strategy: Option<StrategyArg>,
    /// Fsync every append before acknowledging it (`--flush-on-write false` to turn off).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub flush_on_write: Option<bool>,
    /// Export to an HTTP endpoint: `IDENTIFIER=URI` (repeatable; an existing identifier is
    /// replaced).
    #[arg(long, value_name = "ID=URI")]
    pub http_export: Vec<String>,
    /// Body format of the `--http-export`s given.
    #[arg(long, value_enum, ignore_case = true)]
    pub http_format: Option<HttpFormatArg>,
    /// Export to a Kinesis data stream: `IDENTIFIER=KINESIS_STREAM_NAME` (repeatable).
    #[arg(long, value_name = "ID=STREAM")]
    pub kinesis_export: Vec<String>,
    /// batchSize of the exports given by flag.
    #[arg(long, value_name = "N")]
    pub batch_size: Option<i64>,
    /// batchIntervalMillis of the exports given by flag (minimum 60000).
    #[arg(long, value_name = "MS")]
    pub batch_interval: Option<i64>,
    /// priority (1 highest ..= 10) of the exports given by flag.
    #[arg(long, value_name = "N")]
    pub priority: Option<i64>,
    /// startSequenceNumber of the exports given by flag.
    #[arg(long, value_name = "SEQ")]
    pub start_sequence_number: Option<i64>,
}

/// `--persistence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "PascalCase")]
pub enum PersistenceArg {
    /// Segment files under the store root.
    File,
    /// Memory only.
    Memory,
}

/// `--strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "PascalCase")]
pub enum StrategyArg {
    /// Refuse appends to a full stream.
    RejectNewData,
    /// Delete the oldest segments to make room.
    OverwriteOldestData,
}

/// `--http-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HttpFormatArg {
    /// One POST per message, the raw payload as the body (the default).
    RawNotBatched,
    /// One POST per batch, a JSON array of messages.
    JsonBatched,
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
