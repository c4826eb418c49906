//! Endpoints: the regional defaults, and the overrides the AWS SDKs honour.

/// An AWS service the exporters call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// Kinesis Data Streams.
    Kinesis,
    /// IoT SiteWise (data plane).
    IotSiteWise,
    /// IoT Analytics (retired 2025-12-15).
    IotAnalytics,
    /// S3.
    S3,
}

impl Service {
    /// The SigV4 signing name.
    pub fn signing_name(self) -> &'static str {
        match self {
            Self::Kinesis => "kinesis",
            Self::IotSiteWise => "iotsitewise",
            Self::IotAnalytics => "iotanalytics",
            Self::S3 => "s3",
        }
    }

    /// The suffix of its `AWS_ENDPOINT_URL_<SERVICE>` variable.
    pub fn env_suffix(self) -> &'static str {
        match self {
            Self::Kinesis => "KINESIS",
            Self::IotSiteWise => "IOTSITEWISE",
            Self::IotAnalytics => "IOTANALYTICS",
            Self::S3 => "S3",
        }
    }

    /// Every service.
    pub const ALL: [Self; 4] = [
        Self::Kinesis,
        Self::IotSiteWise,
        Self::IotAnalytics,
        Self::S3,
    ];
}

/// Endpoint configuration: per-service overrides, then a global one, then the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// `AWS_ENDPOINT_URL`: every service.
    pub all: Option<String>,
    /// `AWS_ENDPOINT_URL_<SERVICE>` per service.
    pub per_service: Vec<(Service, String)>,
}

/// A resolved endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Scheme, host and optional port and path prefix, without a trailing slash.
    pub url: String,
    /// Whether it came from an override (then S3 uses path-style addressing).
    pub overridden: bool,
}

fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

impl Endpoints {
    /// The endpoint of `service` in `region`.
    pub fn resolve(&self, service: Service, region: &str) -> Endpoint {
        let over = self
            .per_service
            .iter()
            .find(|(s, _)| *s == service)
            .map(|(_, u)| u.as_str())
            .or(self.all.as_deref());
        if let Some(u) = over {
            return Endpoint {
                url: u.trim_end_matches('/').to_owned(),
                overridden: true,
            };
        }
        let d = dns_suffix(region);
        let url = match service {
            Service::Kinesis => format!("https://kinesis.{region}.{d}"),
            Service::IotSiteWise => format!("https://data.iotsitewise.{region}.{d}"),
            Service::IotAnalytics => format!("https://iotanalytics.{region}.{d}"),
            Service::S3 => format!("https://s3.{region}.{d}"),
        };
        Endpoint {
            url,
            overridden: false,
        }
    }
}

/// The host (and port) part of an endpoint URL, for the `host` header.
pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let e = Endpoints::default();
        assert_eq!(
            e.resolve(Service::Kinesis, "eu-west-1").url,
            "https://kinesis.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            e.resolve(Service::IotSiteWise, "us-east-1").url,
            "https://data.iotsitewise.us-east-1.amazonaws.com"
        );
        assert_eq!(
            e.resolve(Service::Kinesis, "cn-north-1").url,
            "https://kinesis.cn-north-1.amazonaws.com.cn"
        );
        assert!(!e.resolve(Service::S3, "us-east-1").overridden);
        let e = Endpoints {
            all: Some("http://127.0.0.1:5000/".into()),
            per_service: vec![(Service::Kinesis, "http://127.0.0.1:6000".into())],
        };
        assert_eq!(
            e.resolve(Service::Kinesis, "x").url,
            "http://127.0.0.1:6000"
        );
        let s3 = e.resolve(Service::S3, "x");
        assert_eq!(s3.url, "http://127.0.0.1:5000");
        assert!(s3.overridden);
        assert_eq!(host_of("http://127.0.0.1:5000/a"), "127.0.0.1:5000");
        assert_eq!(
            host_of("https://kinesis.eu-west-1.amazonaws.com"),
            "kinesis.eu-west-1.amazonaws.com"
        );
    }
}
