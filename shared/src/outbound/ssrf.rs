//! The guard for outbound requests to URLs that came from outside (the
//! agent's `image_url`; webhook URLs later): only trusted hosts, and never
//! an address inside the network (loopback, private, link-local with the
//! instance metadata service, CGNAT, unique-local, multicast, unspecified)
//! unless a local-mode setting allows them.
//!
//! The host is checked before the request, and every address a name
//! resolves to is checked again by the client's resolver, right before it
//! connects: a name that resolves to a public address at check time and to
//! 169.254.169.254 at connect time (DNS rebinding) is still refused.
//! Redirects are not followed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use url::Url;

/// Whether an address is inside a network rather than on the internet.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal_v4(v4);
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
                // IPv4-compatible ::a.b.c.d and NAT64 64:ff9b::a.b.c.d carry a v4 address.
                || (s[..6] == [0; 6] && is_internal_v4(Ipv4Addr::from(((s[6] as u32) << 16) | s[7] as u32)))
                || (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
                    && is_internal_v4(Ipv4Addr::from(((s[6] as u32) << 16) | s[7] as u32)))
        }
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254.0.0/16, the metadata service's
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // CGNAT 100.64.0.0/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || o[0] >= 240 // reserved
}

/// Why a URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("only http and https URLs are fetched")]
    Scheme,
    #[error("the URL has no host")]
    NoHost,
    #[error("host {0} is not one this service fetches from")]
    Host(String),
    #[error("address {0} is inside the network")]
    Internal(IpAddr),
}

/// Which URLs may be fetched.
#[derive(Debug, Clone, Default)]
pub struct FetchPolicy {
    /// Allowed hosts: `host`, `host:port`, `*.domain`, or `*` for any.
    /// Empty: none.
    hosts: Vec<String>,
    /// Local mode: internal addresses allowed (a local S3 emulator on
    /// 127.0.0.1). Off by default.
    allow_internal: bool,
}

impl FetchPolicy {
    pub fn new(hosts: impl IntoIterator<Item = String>, allow_internal: bool) -> Self {
        Self {
            hosts: hosts
                .into_iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            allow_internal,
        }
    }

    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    pub fn allows_internal(&self) -> bool {
        self.allow_internal
    }

    fn host_allowed(&self, host: &str, port: Option<u16>) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let with_port = port.map(|p| format!("{host}:{p}"));
        self.hosts.iter().any(|pattern| {
            pattern == "*"
                || *pattern == host
                || with_port.as_deref() == Some(pattern.as_str())
                || pattern
                    .strip_prefix("*.")
                    .is_some_and(|domain| host.ends_with(&format!(".{domain}")))
        })
    }

    /// Checks a URL before it is fetched: scheme, host, and an address
    /// literal's range. Names are checked again as they resolve.
    pub fn check(&self, url: &Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused::Scheme);
        }
        let host = url.host().ok_or(Refused::NoHost)?;
        let name = match &host {
            url::Host::Domain(d) => d.to_string(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => format!("[{ip}]"),
        };
        if !self.host_allowed(&name, url.port_or_known_default()) {
            return Err(Refused::Host(name));
        }
        let literal = match host {
            url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            url::Host::Domain(_) => None,
        };
        match literal {
            Some(ip) if !self.allow_internal && is_internal(ip) => Err(Refused::Internal(ip)),
            _ => Ok(()),
        }
    }

    /// A client builder that follows no redirect and connects only to
    /// addresses this policy allows (checked as names resolve).
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        let builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        if self.allow_internal {
            builder
        } else {
            builder.dns_resolver(Arc::new(PublicOnly {
                lookup: Arc::new(SystemLookup),
                allow_loopback: false,
            }))
        }
    }
}

/// Resolves a host name to its addresses: the system's resolver, or a
/// stand-in in tests (no traffic goes to what it answers).
pub trait Lookup: Send + Sync + 'static {
    fn lookup(
        &self,
        host: String,
    ) -> futures::future::BoxFuture<'static, std::io::Result<Vec<IpAddr>>>;
}

/// The system's resolver.
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(
        &self,
        host: String,
    ) -> futures::future::BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// Which webhook URLs deliveries may go to: https only, to addresses on
/// the internet; plain http (and https) to a loopback address only in
/// local mode (`WEBHOOK_ALLOW_HTTP_LOOPBACK`). Checked at registration and
/// again at every delivery, where the client's resolver checks each
/// address right before connecting (DNS rebinding). No redirect is followed.
#[derive(Clone)]
pub struct WebhookUrlPolicy {
    allow_loopback: bool,
    lookup: Arc<dyn Lookup>,
}

impl std::fmt::Debug for WebhookUrlPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookUrlPolicy")
            .field("allow_loopback", &self.allow_loopback)
            .finish_non_exhaustive()
    }
}

/// Why a webhook URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    #[error("must be an absolute https URL")]
    NotHttps,
    #[error("must not carry a user name or password")]
    Credentials,
    #[error("has no host")]
    NoHost,
    #[error(
        "{0} is inside the network (loopback, private, link-local, CGNAT, unique-local, multicast or unspecified)"
    )]
    Internal(String),
    #[error("{0} does not resolve")]
    Unresolved(String),
}

impl WebhookUrlPolicy {
    pub fn new(allow_loopback: bool) -> Self {
        Self::with_lookup(allow_loopback, Arc::new(SystemLookup))
    }

    pub fn with_lookup(allow_loopback: bool, lookup: Arc<dyn Lookup>) -> Self {
        Self {
            allow_loopback,
            lookup,
        }
    }

    fn allowed(&self, ip: IpAddr) -> bool {
        !is_internal(ip) || (self.allow_loopback && ip.is_loopback())
    }

    /// Parses and checks a URL: scheme, credentials, and every address its
    /// host resolves to (all must be allowed).
    pub async fn check(&self, raw: &str) -> Result<Url, UrlRefused> {
        let url = Url::parse(raw.trim()).map_err(|_| UrlRefused::NotHttps)?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlRefused::Credentials);
        }
        let host = url.host().ok_or(UrlRefused::NoHost)?.to_owned();
        let ips: Vec<IpAddr> = match &host {
            url::Host::Ipv4(ip) => vec![IpAddr::V4(*ip)],
            url::Host::Ipv6(ip) => vec![IpAddr::V6(*ip)],
            url::Host::Domain(d) => self
                .lookup
                .lookup(d.to_string())
                .await
                .map_err(|_| UrlRefused::Unresolved(d.to_string()))?,
        };
        if ips.is_empty() {
            return Err(UrlRefused::Unresolved(host.to_string()));
        }
        if let Some(bad) = ips.iter().find(|ip| !self.allowed(**ip)) {
            return Err(UrlRefused::Internal(match &host {
                url::Host::Domain(d) => format!("{d} (resolves to {bad})"),
                _ => bad.to_string(),
            }));
        }
        let all_loopback = ips.iter().all(|ip| ip.is_loopback());
        match url.scheme() {
            "https" => Ok(url),
            "http" if self.allow_loopback && all_loopback => Ok(url),
            _ => Err(UrlRefused::NotHttps),
        }
    }

    /// A client for deliveries: no redirects, and its resolver connects
    /// only to allowed addresses.
    pub fn client(&self, timeout: std::time::Duration) -> reqwest::Result<reqwest::Client> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .user_agent(concat!("receipt-ocr-webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(PublicOnly {
                lookup: self.lookup.clone(),
                allow_loopback: self.allow_loopback,
            }))
            .build()
    }
}

/// What the resolver's error says when a name has only internal addresses.
pub const RESOLVED_INSIDE: &str = "resolves only to addresses inside the network";

/// Resolves names and keeps only internet addresses (and loopback ones
/// when allowed); a name with none left does not resolve.
struct PublicOnly {
    lookup: Arc<dyn Lookup>,
    allow_loopback: bool,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let lookup = self.lookup.lookup(host.clone());
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = lookup
                .await?
                .into_iter()
                .filter(|ip| !is_internal(*ip) || (allow_loopback && ip.is_loopback()))
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} {RESOLVED_INSIDE}").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_ranges_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "52.95.110.1",
            "8.8.8.8",
            "100.128.0.1",
            "2600:1f18::1",
            "::ffff:52.95.110.1",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn only_listed_hosts_and_public_literals_pass() {
        let p = FetchPolicy::new(
            [
                "bucket.s3.eu-west-1.amazonaws.com".to_owned(),
                "*.example.org".to_owned(),
                "52.95.110.1".to_owned(),
                "[fd00::1]".to_owned(),
                "169.254.169.254".to_owned(),
            ],
            false,
        );
        let ok = |u: &str| p.check(&Url::parse(u).unwrap());
        assert_eq!(
            ok("https://bucket.s3.eu-west-1.amazonaws.com/k?x=1"),
            Ok(())
        );
        assert_eq!(ok("https://BUCKET.s3.eu-west-1.amazonaws.com./k"), Ok(()));
        assert_eq!(ok("https://img.example.org/a.png"), Ok(()));
        assert_eq!(ok("http://52.95.110.1/a.png"), Ok(()));
        assert!(matches!(
            ok("https://example.org.evil.com/"),
            Err(Refused::Host(_))
        ));
        assert!(matches!(
            ok("https://other.s3.eu-west-1.amazonaws.com/k"),
            Err(Refused::Host(_))
        ));
        assert!(matches!(
            ok("https://localhost:3000/health"),
            Err(Refused::Host(_))
        ));
        // Listed, but inside the network: refused without local mode.
        assert!(matches!(
            ok("http://169.254.169.254/latest/meta-data"),
            Err(Refused::Internal(_))
        ));
        assert!(matches!(ok("http://[fd00::1]/"), Err(Refused::Internal(_))));
        assert_eq!(ok("file:///etc/passwd"), Err(Refused::Scheme));

        let local = FetchPolicy::new(["127.0.0.1:4566".to_owned()], true);
        assert_eq!(
            local.check(&Url::parse("http://127.0.0.1:4566/b/k").unwrap()),
            Ok(())
        );
        assert!(
            local
                .check(&Url::parse("http://127.0.0.1:3000/health").unwrap())
                .is_err()
        );
        assert!(
            FetchPolicy::default()
                .check(&Url::parse("https://a.b/").unwrap())
                .is_err()
        );
    }
}
