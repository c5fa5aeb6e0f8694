//! Webhook delivery: Standard Webhooks signatures, no redirects, and no non-public
//! destinations unless allowed.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use scheduler_store::secrets::SigningSecrets;
use sha2::Sha256;
use url::{Host, Url};

use crate::retry::Failure;

/// Longest a webhook may take (SPEC 6: `job.timeout_ms` at most 60 s).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// The signature header value: `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, the
/// key being the base64 after `whsec_` in the organization's secret.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .map_err(|_| "the organization's signing secret is not valid base64".to_owned())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key)
        .map_err(|_| "the organization's signing secret is unusable".to_owned())?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!("v1,{}", b64.encode(mac.finalize().into_bytes())))
}

/// The whole `webhook-signature` value: one `v1,<signature>` per secret valid at `timestamp`
/// (the current one first, then the previous one during a rotation's overlap), separated by a
/// space as the Standard Webhooks specification allows, so a receiver holding either secret
/// verifies.
pub fn signature_header(
    secrets: &SigningSecrets,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, String> {
    let signatures = secrets
        .valid_at(timestamp)
        .map(|secret| sign(secret, msg_id, timestamp, body))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(signatures.join(" "))
}

/// True for addresses a webhook may reach from a production runner: none of loopback, private,
/// shared (CGNAT), link-local, unique-local, multicast, unspecified, documentation,
/// benchmarking or reserved ranges, also when wrapped in IPv6 (mapped, NAT64, 6to4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                    // "this network", unspecified
        || a == 10                              // private
        || a == 127                             // loopback
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254)               // link-local
        || (a == 172 && (16..32).contains(&b))  // private
        || (a == 192 && b == 0 && c == 0)       // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)       // documentation
        || (a == 192 && b == 88 && c == 99)     // 6to4 relay anycast
        || (a == 192 && b == 168)               // private
        || (a == 198 && (b == 18 || b == 19))   // benchmarking
        || (a == 198 && b == 51 && c == 100)    // documentation
        || (a == 203 && b == 0 && c == 113)     // documentation
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    // NAT64 (64:ff9b::/96) embeds an IPv4 address; judge that one.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    // 6to4 (2002::/16) embeds one too.
    if s[0] == 0x2002 {
        let [a, b] = s[1].to_be_bytes();
        let [c, d] = s[2].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || s[0..6] == [0, 0, 0, 0, 0, 0]        // IPv4-compatible (deprecated)
        || (s[0] & 0xfe00) == 0xfc00            // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80            // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0            // site-local (deprecated) fec0::/10
        || (s[0] & 0xff00) == 0xff00            // multicast
        || (s[0] == 0x2001 && s[1] == 0x0db8)   // documentation
        || (s[0] == 0x3fff && s[1] < 0x1000)    // documentation (3fff::/20)
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only 100::/64
        || (s[0] == 0x2001 && s[1] < 0x0200)) // IETF protocol assignments 2001::/23 (Teredo, ORCHID...)
}

/// A destination refused because it is not public. Found again in reqwest's error chain to
/// tell it from a plain connection error.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

fn refusal(host: &str, ip: IpAddr) -> String {
    format!(
        "webhook destination refused: {host} resolves to the non-public address {ip} \
         (set WEBHOOK_ALLOW_PRIVATE=true to allow private destinations)"
    )
}

/// Resolves names and keeps only public addresses, so the connection itself can only go to an
/// address that was checked (no time-of-check/time-of-use gap for DNS rebinding).
struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let fut = async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| is_public(a.ip()))
                .collect();
            match (public.is_empty(), addrs.first()) {
                (false, _) => Ok(Box::new(public.into_iter()) as Addrs),
                (true, Some(first)) => Err(Box::new(Refused(refusal(&host, first.ip())))
                    as Box<dyn std::error::Error + Send + Sync>),
                (true, None) => Err(format!("{host} has no addresses").into()),
            }
        };
        Box::pin(fut) as Pin<Box<dyn Future<Output = _> + Send>>
    }
}

/// One webhook request, ready to send.
pub struct WebhookRequest<'a> {
    pub url: &'a Url,
    pub method: reqwest::Method,
    pub headers: &'a [(String, String)],
    pub timeout: Duration,
    pub fire_id: &'a str,
    /// Unix seconds, the `webhook-timestamp`.
    pub timestamp: i64,
    pub body: Option<Vec<u8>>,
    /// The organization's secrets; every one valid at `timestamp` signs.
    pub secret: &'a SigningSecrets,
}

pub struct WebhookSink {
    client: reqwest::Client,
    allow_private: bool,
}

impl WebhookSink {
    pub fn new(allow_private: bool) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            // A redirect would send the signed body somewhere the job did not name.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve names itself, past the address check.
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("scheduler-runner/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
        }
        Ok(Self {
            client: builder.build()?,
            allow_private,
        })
    }

    /// Sends one attempt. Ok on a 2xx answer.
    pub async fn send(&self, req: WebhookRequest<'_>) -> Result<(), Failure> {
        if !self.allow_private {
            // Literal addresses never reach the resolver: check them here.
            let literal = match req.url.host() {
                Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if let Some(ip) = literal.filter(|ip| !is_public(*ip)) {
                return Err(Failure::Permanent(refusal(
                    req.url.host_str().unwrap_or_default(),
                    ip,
                )));
            }
        }
        let signature = signature_header(
            req.secret,
            req.fire_id,
            req.timestamp,
            req.body.as_deref().unwrap_or_default(),
        )
        .map_err(Failure::Permanent)?;
        let mut rb = self
            .client
            .request(req.method, req.url.clone())
            .timeout(req.timeout.min(MAX_TIMEOUT));
        for (k, v) in req.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        rb = rb
            .header("webhook-id", req.fire_id)
            .header("webhook-timestamp", req.timestamp.to_string())
            .header("webhook-signature", signature);
        if let Some(body) = req.body {
            rb = rb.header("content-type", "application/json").body(body);
        }
        let resp = rb.send().await.map_err(|e| classify_error(&e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let detail = body_snippet(resp).await;
        let msg = format!("webhook answered HTTP {status}{detail}");
        let code = status.as_u16();
        if status.is_server_error() || code == 408 || code == 429 {
            Err(Failure::Retryable(msg))
        } else if status.is_redirection() {
            Err(Failure::Permanent(format!(
                "{msg} (redirects are not followed)"
            )))
        } else {
            Err(Failure::Permanent(msg))
        }
    }
}

fn classify_error(e: &reqwest::Error) -> Failure {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return Failure::Permanent(r.0.clone());
        }
        source = s.source();
    }
    if e.is_timeout() {
        return Failure::Retryable("webhook timed out".to_owned());
    }
    if e.is_builder() {
        return Failure::Permanent(format!("webhook request is invalid: {}", chain(e)));
    }
    Failure::Retryable(format!("webhook request failed: {}", chain(e)))
}

/// The error and its causes, joined: reqwest's own message alone says little ("error sending
/// request").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_str = s.to_string();
        if !out.contains(&s_str) {
            out.push_str(": ");
            out.push_str(&s_str);
        }
        source = s.source();
    }
    out
}

/// The first bytes of an error answer, for `last_error` (bounded in size and time).
async fn body_snippet(mut resp: reqwest::Response) -> String {
    const MAX: usize = 256;
    let mut buf = Vec::new();
    let read = async {
        while buf.len() < MAX {
            match resp.chunk().await {
                Ok(Some(c)) => buf.extend_from_slice(&c),
                _ => break,
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(2), read)
        .await
        .is_err()
    {
        return String::new();
    }
    buf.truncate(MAX);
    let text: String = String::from_utf8_lossy(&buf)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn non_public_addresses() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::1",
        ] {
            assert!(!is_public(ip(s)), "{s} must be refused");
        }
        for s in [
            "93.184.215.14",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(ip(s)), "{s} is public");
        }
    }

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn webhook_signature_carries_both_secrets_during_the_overlap_only() {
        let (id, body) = ("msg_p5jXN8AQM9LWM0D4loKWxJek", br#"{"test": 2432232314}"#);
        let new = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let old = "whsec_c2VjcmV0LW9sZA==";
        let until = chrono::DateTime::from_timestamp(1614265331, 0).unwrap();
        let secrets = SigningSecrets {
            current: new.to_owned(),
            previous: Some((old.to_owned(), until)),
        };
        let during = signature_header(&secrets, id, 1614265330, body).unwrap();
        let expected_new = sign(new, id, 1614265330, body).unwrap();
        let expected_old = sign(old, id, 1614265330, body).unwrap();
        assert_eq!(during, format!("{expected_new} {expected_old}"));
        let after = signature_header(&secrets, id, 1614265331, body).unwrap();
        assert_eq!(after, sign(new, id, 1614265331, body).unwrap());
    }
}
