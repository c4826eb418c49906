//! Configuration: the Greengrass component's variables, mirrored by command-line flags.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::builder::BoolishValueParser;
use clap::Parser;
use sm_credentials::Secret;

/// Command line and environment of the daemon. Every flag has the environment variable that
/// Greengrass (or a standalone user) sets.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "stream-manager",
    version,
    about = "A drop-in replacement for the AWS IoT Greengrass stream manager server"
)]
pub struct Args {
    /// Folder that holds the streams (created if missing). Default: $XDG_DATA_HOME/stream-manager,
    /// else $HOME/.local/share/stream-manager, else ./stream-manager-store.
    #[arg(long, env = "STREAM_MANAGER_STORE_ROOT_DIR")]
    pub store_root: Option<PathBuf>,

    /// TCP port to listen on; 0 picks a free port (logged, and written to --port-file).
    #[arg(long, env = "STREAM_MANAGER_SERVER_PORT", default_value_t = 8088)]
    pub port: u16,

    /// Address to listen on. Anything but loopback exposes the streams to the network.
    #[arg(long, env = "STREAM_MANAGER_SERVER_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// Require a valid auth token in Connect (true/false). Default: true under Greengrass (the
    /// nucleus's IPC variables are set; tokens are checked with ValidateAuthorizationToken),
    /// false standalone.
    #[arg(long, env = "STREAM_MANAGER_AUTHENTICATE_CLIENT", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub authenticate_client: Option<bool>,

    /// File with the accepted auth tokens, one per line (standalone authentication).
    #[arg(long, env = "STREAM_MANAGER_AUTH_TOKENS_FILE")]
    pub auth_tokens_file: Option<PathBuf>,

    /// The nucleus's IPC socket (set by Greengrass for every component it starts).
    #[arg(
        long = "ipc-socket",
        env = "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT"
    )]
    pub ipc_socket: Option<PathBuf>,

    /// This component's IPC token (set by Greengrass; a secret, never logged).
    #[arg(long, env = "SVCUID", hide_env_values = true)]
    pub svcuid: Option<Secret>,

    /// How often the telemetry metrics go to the nucleus (PutComponentMetric), in ms.
    #[arg(long, env = "STREAM_MANAGER_TELEMETRY_INTERVAL_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(100..=86_400_000))]
    pub telemetry_interval_ms: u64,

    /// TRACE, DEBUG, INFO, WARN or ERROR.
    #[arg(long, env = "LOG_LEVEL", default_value = "INFO")]
    pub log_level: String,

    /// Largest accepted request frame in bytes (the protocol's maximum is 1073741824).
    #[arg(long, env = "STREAM_MANAGER_MAX_FRAME_BYTES", default_value_t = sm_wire::PROTOCOL_MAX_FRAME)]
    pub max_frame_bytes: u32,

    /// Most connections open at once; above it a new connection is accepted and closed at once
    /// (logged at WARN, at most every 10 s).
    #[arg(long, env = "STREAM_MANAGER_MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Most requests in progress on one connection; reading it pauses while this many are pending.
    #[arg(long, env = "STREAM_MANAGER_MAX_IN_FLIGHT", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_in_flight: u32,

    /// Most response bytes queued for one connection's socket; above it the connection's
    /// requests are not read until its client reads enough of its responses.
    #[arg(long, env = "STREAM_MANAGER_MAX_WRITE_QUEUE_BYTES", default_value_t = 64 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..=1 << 40))]
    pub max_write_queue_bytes: u64,

    /// Write the listening port to this file once the server accepts connections.
    #[arg(long, env = "STREAM_MANAGER_PORT_FILE")]
    pub port_file: Option<PathBuf>,

    /// Most export sends in progress at once.
    #[arg(long, env = "STREAM_MANAGER_EXPORTER_THREAD_POOL_SIZE", default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    pub exporter_thread_pool_size: u16,

    /// Average bandwidth cap of all exports together, in kilobits per second (unset = none).
    #[arg(long, env = "STREAM_MANAGER_EXPORTER_MAX_BANDWIDTH", value_parser = clap::value_parser!(u64).range(1..))]
    pub exporter_max_bandwidth: Option<u64>,

    /// First delay before retrying a failed export, in ms (doubles up to 5 minutes, with jitter).
    #[arg(long, env = "STREAM_MANAGER_EXPORTER_RETRY_BASE_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=300_000))]
    pub exporter_retry_base_ms: u64,

    /// Least time between two Kinesis calls of a stream whose shard map is unknown (no
    /// kinesis:ListShards), in ms; 0 = none (the pace then adapts to throttling alone).
    #[arg(long, env = "STREAM_MANAGER_EXPORTER_KINESIS_INTER_CALL_DELAY_MS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub exporter_kinesis_inter_call_delay_ms: u64,

    /// AWS region of the exports (default: AWS_DEFAULT_REGION, then the config file's profile).
    #[arg(long, env = "AWS_REGION")]
    pub aws_region: Option<String>,

    /// Endpoint of every AWS service (tests, VPC endpoints, FIPS).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,

    /// Endpoint of Kinesis Data Streams.
    #[arg(long, env = "AWS_ENDPOINT_URL_KINESIS")]
    pub endpoint_url_kinesis: Option<String>,

    /// Endpoint of IoT SiteWise (data plane).
    #[arg(long, env = "AWS_ENDPOINT_URL_IOTSITEWISE")]
    pub endpoint_url_iotsitewise: Option<String>,

    /// Endpoint of IoT Analytics.
    #[arg(long, env = "AWS_ENDPOINT_URL_IOTANALYTICS")]
    pub endpoint_url_iotanalytics: Option<String>,

    /// Endpoint of S3 (path-style addressing is used when it is set).
    #[arg(long, env = "AWS_ENDPOINT_URL_S3")]
    pub endpoint_url_s3: Option<String>,

    /// Extra CA certificates (PEM) to trust for the exports' HTTPS calls and an https://
    /// proxy; Greengrass sets GG_ROOT_CA_PATH.
    #[arg(long, env = "GG_ROOT_CA_PATH")]
    pub ca_bundle: Option<PathBuf>,

    /// Use the AWS services' FIPS endpoints (true/false). Default: AWS_GG_FIPS_MODE (set by
    /// the nucleus), else the config file's use_fips_endpoint, else false.
    #[arg(long, env = "AWS_USE_FIPS_ENDPOINT", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub use_fips_endpoint: Option<bool>,

    /// Proxy of every export request, http://[user:password@]host[:port] or https://…
    /// (standalone use; beats HTTPS_PROXY, HTTP_PROXY and ALL_PROXY, which the nucleus sets).
    #[arg(long, env = "STREAM_MANAGER_PROXY_URL", hide_env_values = true)]
    pub proxy_url: Option<Secret>,

    /// Hosts that bypass the proxy, comma-separated (beats NO_PROXY): domains (with or without
    /// a leading dot), IP addresses, CIDR blocks, any of them with :port, or *.
    #[arg(long, env = "STREAM_MANAGER_NO_PROXY")]
    pub no_proxy: Option<String>,

    /// Largest Kinesis record (data + partition key) in bytes: 1 MiB, or up to 10 MiB for
    /// streams configured for large records.
    #[arg(long, env = "STREAM_MANAGER_EXPORTER_KINESIS_MAX_RECORD_BYTES", default_value_t = 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..=10 * 1024 * 1024))]
    pub kinesis_max_record_bytes: u64,

    /// Smallest part of S3 multipart uploads, in bytes (S3's minimum, 5 MiB, is also the default).
    #[arg(long, env = "STREAM_MANAGER_EXPORTER_S3_DESTINATION_MULTIPART_UPLOAD_MIN_PART_SIZE_BYTES", default_value_t = 5 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(5 * 1024 * 1024..=5 * 1024 * 1024 * 1024))]
    pub s3_min_part_size: u64,

    /// Folders whose files S3 tasks may upload (repeat the flag, or separate with ':' in the
    /// variable). Unset: any file the daemon can read, as in the reference.
    #[arg(
        long = "s3-allowed-dir",
        env = "STREAM_MANAGER_S3_ALLOWED_DIRS",
        value_delimiter = ':'
    )]
    pub s3_allowed_dirs: Vec<PathBuf>,

    /// Timeout of one HTTP export request, in ms.
    #[arg(long, env = "STREAM_MANAGER_EXPORTER_HTTP_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub exporter_http_timeout_ms: u64,

    /// Serve Prometheus metrics (GET /metrics) and health (GET /health) over HTTP on this
    /// HOST:PORT, e.g. 127.0.0.1:9464 (port 0 picks a free one, logged). Unset or empty: off.
    #[arg(long, env = "STREAM_MANAGER_METRICS_ADDRESS")]
    pub metrics_address: Option<String>,

    /// Allow --metrics-address to be a non-loopback address (the endpoint has no
    /// authentication).
    #[arg(long, env = "STREAM_MANAGER_METRICS_ALLOW_NON_LOOPBACK", default_value = "false", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub metrics_allow_non_loopback: bool,

    /// Streams to create and keep updated, declared in a YAML or JSON file (README,
    /// "Declared streams"); applied at start-up (a bad file stops the start) and on SIGHUP.
    #[arg(long, env = "STREAM_MANAGER_STREAMS_FILE")]
    pub streams_file: Option<PathBuf>,

    /// An export with messages to send whose position has not moved for this many seconds is
    /// reported stalled by /health and the metrics.
    #[arg(long, env = "STREAM_MANAGER_HEALTH_STALL_SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub health_stall_seconds: u64,
}

/// Where Connect's `authToken` is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthSource {
    /// Authentication off: any local process may connect.
    Off,
    /// The tokens of `--auth-tokens-file`.
    Tokens(Vec<String>),
    /// The nucleus's ValidateAuthorizationToken IPC.
    Nucleus,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Store root folder.
    pub store_root: PathBuf,
    /// Listen address.
    pub host: IpAddr,
    /// Listen port (0 = any).
    pub port: u16,
    /// How clients are authenticated.
    pub auth: AuthSource,
    /// The nucleus's IPC, when running under Greengrass.
    pub greengrass: Option<crate::greengrass::Settings>,
    /// Largest accepted frame.
    pub max_frame_bytes: u32,
    /// Connection, in-flight and write-queue bounds.
    pub connection_limits: crate::server::ConnectionLimits,
    /// Where to write the port.
    pub port_file: Option<PathBuf>,
    /// Tracing filter directive.
    pub log_filter: String,
    /// Exporter settings.
    /// The export engine's settings (region, endpoints and seed are filled in by the
    /// export manager).
    pub export: sm_export::Config,
    /// AWS settings.
    pub aws: crate::aws::AwsSettings,
    /// The metrics and health endpoint, when on.
    pub metrics: Option<crate::metrics::MetricsConfig>,
    /// The declared streams file, when set.
    pub streams_file: Option<PathBuf>,
}

/// Environment variables the daemon reads besides those of [`Args`] (which clap reads) and the
/// proxy variables (`sm_proxy::HTTP_VARS`, `HTTPS_VARS`, `NO_PROXY_VARS`), with what reads
/// them: the registry the packaging test checks against the recipe.
pub const OTHER_ENV_VARS: &[(&str, &str)] = &[
    ("AWS_DEFAULT_REGION", "region, after AWS_REGION"),
    ("AWS_GG_FIPS_MODE", "FIPS endpoints (the nucleus sets it)"),
    ("XDG_DATA_HOME", "default store root"),
    ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS credentials"),
    ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS credentials"),
    ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS credentials"),
    ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS credentials"),
    ("AWS_ACCESS_KEY_ID", "AWS credentials"),
    ("AWS_SECRET_ACCESS_KEY", "AWS credentials"),
    ("AWS_SESSION_TOKEN", "AWS credentials"),
    ("AWS_SHARED_CREDENTIALS_FILE", "AWS credentials"),
    ("AWS_CONFIG_FILE", "AWS credentials, region, FIPS"),
    ("AWS_PROFILE", "AWS credentials, region, FIPS"),
    ("HOME", "~/.aws files, default store root"),
];

/// The proxy configuration from the flags and the environment, logged once.
fn proxy_config(args: &Args) -> anyhow::Result<sm_proxy::ProxyConfig> {
    let proxy = sm_proxy::ProxyConfig::from_sources(
        args.proxy_url
            .as_ref()
            .map(|s| ("--proxy-url (STREAM_MANAGER_PROXY_URL)", s.expose())),
        args.no_proxy
            .as_deref()
            .map(|s| ("--no-proxy (STREAM_MANAGER_NO_PROXY)", s)),
        |k| std::env::var(k).ok(),
    )?;
    if !proxy.is_direct() {
        tracing::info!("export requests go through a proxy: {}", proxy.describe());
    }
    if let Some((source, ignored)) = proxy.ignored_no_proxy() {
        tracing::warn!("{source}: entries that match nothing were ignored: {ignored:?}");
    }
    Ok(proxy)
}

/// Whether to use FIPS endpoints: the flag or `AWS_USE_FIPS_ENDPOINT`, else the nucleus's
/// `AWS_GG_FIPS_MODE`, else the config file's `use_fips_endpoint`, else no.
fn use_fips(args: &Args) -> bool {
    let boolean = |v: String| sm_credentials::profile::boolean(&v);
    args.use_fips_endpoint
        .or_else(|| std::env::var("AWS_GG_FIPS_MODE").ok().and_then(boolean))
        .or_else(|| crate::aws::credentials::config_value("use_fips_endpoint").and_then(boolean))
        .unwrap_or(false)
}

/// Maps a Greengrass `LOG_LEVEL` to a tracing filter level.
pub fn log_filter(level: &str) -> anyhow::Result<&'static str> {
    Ok(match level.trim().to_ascii_uppercase().as_str() {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "INFO" => "info",
        "WARN" | "WARNING" => "warn",
        "ERROR" => "error",
        other => bail!("LOG_LEVEL must be TRACE, DEBUG, INFO, WARN or ERROR, got {other:?}"),
    })
}

fn default_store_root() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(x) = env("XDG_DATA_HOME") {
        return PathBuf::from(x).join("stream-manager");
    }
    if let Some(h) = env("HOME") {
        return PathBuf::from(h).join(".local/share/stream-manager");
    }
    PathBuf::from("stream-manager-store")
}

/// The nucleus's IPC settings when both of its variables are set (and not empty).
fn greengrass_settings(args: &Args) -> Option<crate::greengrass::Settings> {
    let socket = args
        .ipc_socket
        .clone()
        .filter(|p| !p.as_os_str().is_empty());
    let svcuid = args.svcuid.clone().filter(|s| !s.expose().is_empty());
    match (socket, svcuid) {
        (Some(socket), Some(svcuid)) => Some(crate::greengrass::Settings {
            socket,
            svcuid,
            telemetry_interval: std::time::Duration::from_millis(args.telemetry_interval_ms),
        }),
        (None, None) => None,
        (socket, _) => {
            tracing::warn!(
                "only one of AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT ({}) and SVCUID ({}) is set: \
                 running without the Greengrass IPC",
                if socket.is_some() { "set" } else { "unset" },
                if socket.is_some() { "unset" } else { "set" },
            );
            None
        }
    }
}

impl Config {
    /// Resolves the arguments: reads the token file, checks the combination.
    pub fn from_args(args: Args) -> anyhow::Result<Self> {
        let greengrass = greengrass_settings(&args);
        let authenticate = args.authenticate_client.unwrap_or(greengrass.is_some());
        let auth = if !authenticate {
            AuthSource::Off
        } else if let Some(path) = &args.auth_tokens_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading auth tokens file {}", path.display()))?;
            let tokens: Vec<String> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            if tokens.is_empty() {
                bail!("auth tokens file {} holds no token", path.display());
            }
            AuthSource::Tokens(tokens)
        } else if greengrass.is_some() {
            AuthSource::Nucleus
        } else {
            bail!(
                "client authentication is on (STREAM_MANAGER_AUTHENTICATE_CLIENT=true) but no token source is configured: \
                 not running under Greengrass (AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT and SVCUID unset), \
                 and no --auth-tokens-file FILE (or STREAM_MANAGER_AUTH_TOKENS_FILE); or turn authentication off"
            );
        };
        let metrics = match args.metrics_address.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(crate::metrics::MetricsConfig {
                address: sm_metrics::http::parse_address(text, args.metrics_allow_non_loopback)?,
                stall_after: std::time::Duration::from_secs(args.health_stall_seconds),
            }),
        };
        let proxy = proxy_config(&args)?;
        let fips = use_fips(&args);
        Ok(Self {
            metrics,
            streams_file: args.streams_file.filter(|p| !p.as_os_str().is_empty()),
            store_root: args.store_root.unwrap_or_else(default_store_root),
            host: args.host,
            port: args.port,
            auth,
            greengrass,
            max_frame_bytes: args.max_frame_bytes.clamp(64, sm_wire::PROTOCOL_MAX_FRAME),
            connection_limits: crate::server::ConnectionLimits {
                max_connections: args.max_connections as usize,
                max_in_flight: args.max_in_flight as usize,
                max_write_queue_bytes: usize::try_from(args.max_write_queue_bytes)
                    .unwrap_or(usize::MAX),
            },
            port_file: args.port_file,
            log_filter: log_filter(&args.log_level)?.to_owned(),
            aws: crate::aws::AwsSettings {
                region: args.aws_region.clone().or_else(|| {
                    std::env::var("AWS_DEFAULT_REGION")
                        .ok()
                        .filter(|v| !v.is_empty())
                }),
                endpoints: sm_aws::Endpoints {
                    all: args.endpoint_url.clone(),
                    per_service: [
                        (sm_aws::Service::Kinesis, &args.endpoint_url_kinesis),
                        (sm_aws::Service::IotSiteWise, &args.endpoint_url_iotsitewise),
                        (
                            sm_aws::Service::IotAnalytics,
                            &args.endpoint_url_iotanalytics,
                        ),
                        (sm_aws::Service::S3, &args.endpoint_url_s3),
                    ]
                    .into_iter()
                    .filter_map(|(s, u)| u.clone().map(|u| (s, u)))
                    .collect(),
                    fips,
                },
                net: crate::net::NetSettings {
                    proxy: std::sync::Arc::new(proxy),
                    ca_bundle: args.ca_bundle.clone(),
                },
                kinesis_limits: Some(sm_aws::kinesis::Limits {
                    max_record_bytes: args.kinesis_max_record_bytes,
                    max_request_bytes: if args.kinesis_max_record_bytes > 1024 * 1024 {
                        10 * 1024 * 1024
                    } else {
                        5 * 1024 * 1024
                    },
                }),
                timeout: std::time::Duration::from_millis(args.exporter_http_timeout_ms),
            },
            export: sm_export::Config {
                max_in_flight: usize::from(args.exporter_thread_pool_size),
                bandwidth_bytes_per_sec: args
                    .exporter_max_bandwidth
                    .map(|k| k.saturating_mul(1000) / 8),
                retry: sm_export::RetryPolicy::with_base(args.exporter_retry_base_ms),
                request_timeout_ms: args.exporter_http_timeout_ms,
                kinesis_inter_call_delay_ms: args.exporter_kinesis_inter_call_delay_ms,
                s3_min_part_size: args.s3_min_part_size,
                s3_allowed_dirs: (!args.s3_allowed_dirs.is_empty()).then(|| {
                    args.s3_allowed_dirs
                        .iter()
                        .map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.clone()))
                        .collect()
                }),
                ..sm_export::Config::default()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_flags() {
        let off = Config::from_args(Args::parse_from(["stream-manager"])).unwrap();
        assert_eq!(off.metrics, None);
        let empty = Config::from_args(Args::parse_from([
            "stream-manager",
            "--metrics-address",
            "",
        ]))
        .unwrap();
        assert_eq!(empty.metrics, None);
        let on = Config::from_args(Args::parse_from([
            "stream-manager",
            "--metrics-address",
            "127.0.0.1:0",
            "--health-stall-seconds",
            "7",
        ]))
        .unwrap();
        assert_eq!(
            on.metrics,
            Some(crate::metrics::MetricsConfig {
                address: "127.0.0.1:0".parse().unwrap(),
                stall_after: std::time::Duration::from_secs(7),
            })
        );
        let refused = Config::from_args(Args::parse_from([
            "stream-manager",
            "--metrics-address",
            "0.0.0.0:9464",
        ]))
        .unwrap_err();
        assert!(
            format!("{refused:#}").contains("not a loopback address"),
            "{refused:#}"
        );
        let allowed = Config::from_args(Args::parse_from([
            "stream-manager",
            "--metrics-address",
            "0.0.0.0:9464",
            "--metrics-allow-non-loopback",
            "true",
        ]))
        .unwrap();
        assert!(allowed.metrics.is_some());
        assert!(Args::try_parse_from(["stream-manager", "--health-stall-seconds", "0"]).is_err());
    }

    #[test]
    fn proxy_and_fips_flags() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["stream-manager", "--no-proxy", "*.corp,10.0.0.0/8"];
            argv.extend_from_slice(extra);
            Config::from_args(Args::parse_from(argv))
        };
        let c = parse(&[
            "--proxy-url",
            "http://u:p%40ss@proxy.corp:3128",
            "--use-fips-endpoint",
            "true",
        ])
        .unwrap();
        assert!(c.aws.endpoints.fips);
        let proxy = &c.aws.net.proxy;
        let chosen = proxy.select("https", "kinesis.us-east-1.amazonaws.com", None);
        assert_eq!(
            chosen.map(|p| (p.url.to_string(), p.url.credentials())),
            Some(("http://proxy.corp:3128".into(), Some(("u", "p@ss"))))
        );
        assert!(proxy.select("https", "db.corp", None).is_none());
        assert!(proxy.select("http", "10.2.3.4", Some(8080)).is_none());
        // Neither the parsed arguments nor the configuration show the password.
        let shown = format!(
            "{:?} {c:?}",
            Args::parse_from(["x", "--proxy-url", "http://u:s3cr3t@p:1"])
        );
        assert!(
            !shown.contains("p%40ss") && !shown.contains("s3cr3t"),
            "{shown}"
        );
        // An unusable proxy URL stops the start with the flag's name, not the secret.
        let err = parse(&["--proxy-url", "socks5://u:s3cr3t@p:1080"]).unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("--proxy-url") && text.contains("socks5"),
            "{text}"
        );
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(
            !parse(&["--proxy-url", "http://p:1", "--use-fips-endpoint", "false"])
                .unwrap()
                .aws
                .endpoints
                .fips
        );
    }

    #[test]
    fn connection_limits_flags() {
        let defaults = Config::from_args(Args::parse_from(["stream-manager"])).unwrap();
        assert_eq!(
            defaults.connection_limits,
            crate::server::ConnectionLimits::default()
        );
        let set = Config::from_args(Args::parse_from([
            "stream-manager",
            "--max-connections",
            "500",
            "--max-in-flight",
            "8",
            "--max-write-queue-bytes",
            "1048576",
        ]))
        .unwrap();
        assert_eq!(
            set.connection_limits,
            crate::server::ConnectionLimits {
                max_connections: 500,
                max_in_flight: 8,
                max_write_queue_bytes: 1 << 20,
            }
        );
        for zero in [
            "--max-connections",
            "--max-in-flight",
            "--max-write-queue-bytes",
        ] {
            assert!(
                Args::try_parse_from(["stream-manager", zero, "0"]).is_err(),
                "{zero} 0"
            );
        }
    }

    #[test]
    fn authentication_defaults_to_on_under_greengrass() {
        let parse = |extra: &[&str]| {
            let mut argv = vec!["stream-manager"];
            argv.extend_from_slice(extra);
            Config::from_args(Args::parse_from(argv))
        };
        let gg = [
            "--ipc-socket",
            "/tmp/nucleus.sock",
            "--svcuid",
            "svc-secret",
        ];
        let c = parse(&gg).unwrap();
        assert_eq!(c.auth, AuthSource::Nucleus);
        let settings = c.greengrass.unwrap();
        assert_eq!(settings.socket, PathBuf::from("/tmp/nucleus.sock"));
        assert_eq!(settings.svcuid.expose(), "svc-secret");
        assert!(!format!("{settings:?}").contains("svc-secret"));
        assert_eq!(
            settings.telemetry_interval,
            std::time::Duration::from_secs(60)
        );
        // Standalone: off by default.
        let c = parse(&[]).unwrap();
        assert_eq!((c.auth, c.greengrass.is_none()), (AuthSource::Off, true));
        // Turned off explicitly under Greengrass.
        let mut off = gg.to_vec();
        off.extend(["--authenticate-client", "false"]);
        assert_eq!(parse(&off).unwrap().auth, AuthSource::Off);
        // Only one of the two variables: not Greengrass.
        let c = parse(&["--svcuid", "s"]).unwrap();
        assert!(c.greengrass.is_none());
        // On, standalone, without a tokens file: refused with the reason.
        let err = parse(&["--authenticate-client", "true"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no token source") && err.contains("SVCUID"),
            "{err}"
        );
    }
}
