//! Endpoints: the regional defaults, their FIPS variants, and the overrides the AWS SDKs
//! honour.
//!
//! Hostnames follow the services' endpoint rule sets (botocore `endpoint-rule-set-1.json`
//! and its endpoint tests), which is what every current AWS SDK resolves:
//!
//! | service | default | FIPS (`AWS_USE_FIPS_ENDPOINT=true`) |
//! |---|---|---|
//! | Kinesis | `kinesis.<region>.<dns>` | `kinesis-fips.<region>.<dns>`; in `us-gov-*` the default name (its endpoints are FIPS endpoints) |
//! | IoT SiteWise (data plane: the operation's `data.` host prefix) | `data.iotsitewise.<region>.<dns>` | `data.iotsitewise-fips.<region>.<dns>` |
//! | IoT Analytics | `iotanalytics.<region>.<dns>` | `iotanalytics-fips.<region>.<dns>` |
//! | S3 | `s3.<region>.<dns>` (virtual-hosted: `<bucket>.s3…`) | `s3-fips.<region>.<dns>` (`<bucket>.s3-fips…`) |
//!
//! `<dns>` is the region's partition: `amazonaws.com` (`aws`, `aws-us-gov`),
//! `amazonaws.com.cn` (`cn-*`), `amazonaws.eu` (`eusc-*`), `c2s.ic.gov` (`us-iso-*`),
//! `sc2s.sgov.gov` (`us-isob-*`), `cloud.adc-e.uk` (`eu-isoe-*`), `csp.hci.ic.gov`
//! (`us-isof-*`). The rule sets build the FIPS name in every region of a partition that
//! supports FIPS, so does this; a region without a FIPS endpoint of that service (for
//! Kinesis, at the time of writing, only us-east-1, us-east-2, us-west-1, us-west-2 and the
//! us-gov regions have one) has no such host, and the call fails with the DNS error, as it
//! does with the AWS SDKs. An override (`AWS_ENDPOINT_URL[_<SERVICE>]`) wins over FIPS (the
//! SDKs refuse the combination; here the override is how a FIPS VPC endpoint is named).

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

/// Endpoint configuration: per-service overrides, then a global one, then the defaults (or
/// their FIPS variants).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// `AWS_ENDPOINT_URL`: every service.
    pub all: Option<String>,
    /// `AWS_ENDPOINT_URL_<SERVICE>` per service.
    pub per_service: Vec<(Service, String)>,
    /// `AWS_USE_FIPS_ENDPOINT` (or the config file's `use_fips_endpoint`): the FIPS hosts.
    pub fips: bool,
}

/// A resolved endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Scheme, host and optional port and path prefix, without a trailing slash.
    pub url: String,
    /// Whether it came from an override (then S3 uses path-style addressing).
    pub overridden: bool,
}

/// The DNS suffix of the region's partition.
pub fn dns_suffix(region: &str) -> &'static str {
    const PARTITIONS: [(&str, &str); 6] = [
        ("cn-", "amazonaws.com.cn"),
        ("eusc-", "amazonaws.eu"),
        ("us-iso-", "c2s.ic.gov"),
        ("us-isob-", "sc2s.sgov.gov"),
        ("eu-isoe-", "cloud.adc-e.uk"),
        ("us-isof-", "csp.hci.ic.gov"),
    ];
    PARTITIONS
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("amazonaws.com", |(_, dns)| dns)
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
        let fips = if self.fips { "-fips" } else { "" };
        let url = match service {
            // GovCloud's Kinesis endpoints are FIPS endpoints under the usual name.
            Service::Kinesis if region.starts_with("us-gov-") => {
                format!("https://kinesis.{region}.{d}")
            }
            Service::Kinesis => format!("https://kinesis{fips}.{region}.{d}"),
            Service::IotSiteWise => format!("https://data.iotsitewise{fips}.{region}.{d}"),
            Service::IotAnalytics => format!("https://iotanalytics{fips}.{region}.{d}"),
            Service::S3 => format!("https://s3{fips}.{region}.{d}"),
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
            fips: false,
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

    /// The FIPS hosts of botocore's endpoint tests (`tests/functional/endpoint-rules/<service>/
    /// endpoint-tests-1.json`, UseFIPS without DualStack); S3's are its virtual-hosted and
    /// path-style forms.
    #[test]
    fn fips_hosts_of_the_rule_sets() {
        let fips = Endpoints {
            fips: true,
            ..Endpoints::default()
        };
        let url = |s, r| fips.resolve(s, r).url;
        for (region, host) in [
            ("us-east-1", "kinesis-fips.us-east-1.amazonaws.com"),
            ("us-west-2", "kinesis-fips.us-west-2.amazonaws.com"),
            ("cn-north-1", "kinesis-fips.cn-north-1.amazonaws.com.cn"),
            ("us-gov-east-1", "kinesis.us-gov-east-1.amazonaws.com"),
            ("us-gov-west-1", "kinesis.us-gov-west-1.amazonaws.com"),
            ("us-iso-east-1", "kinesis-fips.us-iso-east-1.c2s.ic.gov"),
            (
                "us-isob-east-1",
                "kinesis-fips.us-isob-east-1.sc2s.sgov.gov",
            ),
        ] {
            assert_eq!(url(Service::Kinesis, region), format!("https://{host}"));
        }
        for (region, host) in [
            ("us-east-1", "iotsitewise-fips.us-east-1.amazonaws.com"),
            (
                "ca-central-1",
                "iotsitewise-fips.ca-central-1.amazonaws.com",
            ),
            (
                "us-gov-west-1",
                "iotsitewise-fips.us-gov-west-1.amazonaws.com",
            ),
            ("cn-north-1", "iotsitewise-fips.cn-north-1.amazonaws.com.cn"),
        ] {
            // BatchPutAssetPropertyValue carries the host prefix "data.".
            assert_eq!(
                url(Service::IotSiteWise, region),
                format!("https://data.{host}")
            );
        }
        assert_eq!(
            url(Service::IotAnalytics, "us-east-1"),
            "https://iotanalytics-fips.us-east-1.amazonaws.com"
        );
        assert_eq!(
            url(Service::IotAnalytics, "us-gov-east-1"),
            "https://iotanalytics-fips.us-gov-east-1.amazonaws.com"
        );
        for region in ["us-west-2", "af-south-1", "us-gov-west-1"] {
            let s3 = fips.resolve(Service::S3, region);
            assert_eq!(s3.url, format!("https://s3-fips.{region}.amazonaws.com"));
            assert!(!s3.overridden);
            assert_eq!(
                crate::s3::object_url(&s3, "bucket-name", "k", ""),
                format!("https://bucket-name.s3-fips.{region}.amazonaws.com/k")
            );
        }
        // Without FIPS nothing changes; an override wins over FIPS.
        assert_eq!(
            Endpoints::default()
                .resolve(Service::Kinesis, "us-gov-west-1")
                .url,
            "https://kinesis.us-gov-west-1.amazonaws.com"
        );
        let over = Endpoints {
            per_service: vec![(Service::Kinesis, "https://vpce-1.kinesis.example".into())],
            fips: true,
            ..Endpoints::default()
        };
        let k = over.resolve(Service::Kinesis, "us-east-1");
        assert_eq!(
            (k.url.as_str(), k.overridden),
            ("https://vpce-1.kinesis.example", true)
        );
        assert_eq!(
            over.resolve(Service::S3, "us-east-1").url,
            "https://s3-fips.us-east-1.amazonaws.com"
        );
    }

    #[test]
    fn partitions() {
        for (region, dns) in [
            ("us-east-1", "amazonaws.com"),
            ("us-gov-west-1", "amazonaws.com"),
            ("cn-northwest-1", "amazonaws.com.cn"),
            ("eusc-de-east-1", "amazonaws.eu"),
            ("us-iso-west-1", "c2s.ic.gov"),
            ("us-isob-east-1", "sc2s.sgov.gov"),
            ("eu-isoe-west-1", "cloud.adc-e.uk"),
            ("us-isof-south-1", "csp.hci.ic.gov"),
        ] {
            assert_eq!(dns_suffix(region), dns, "{region}");
        }
        assert_eq!(
            Endpoints::default()
                .resolve(Service::S3, "eusc-de-east-1")
                .url,
            "https://s3.eusc-de-east-1.amazonaws.eu"
        );
    }
}
