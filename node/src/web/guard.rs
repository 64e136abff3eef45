//! Who may use the page: the checks every request goes through before a
//! handler runs, as a pure function of its method and headers
//! ([`Guard::check`]); `layers.rs` applies it to every request.
//!
//! - `Host` (on a loopback bind): a loopback name and our port, so a
//!   rebound DNS name of another site cannot reach us from a browser.
//! - `Sec-Fetch-Site` and `Origin`, when the browser sends them: this very
//!   page, or a request typed in the address bar.
//! - The token: `Authorization: Bearer` for any request; also `?token=`
//!   for a GET (the page's own URL, the event stream), never for a change.
//!   No cookie is ever set, so another site's page never carries it.

use axum::{
    extract::Request,
    http::{header, HeaderMap, Method},
};
use subtle::ConstantTimeEq;

use super::error::Refusal;

/// The checks of one server: its token and, on a loopback bind, the
/// `Host` values it answers to.
#[derive(Clone)]
pub(crate) struct Guard {
    token: String,
    hosts: Option<Vec<String>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

/// The parts of a request the guard reads.
#[derive(Debug, Default)]
pub(crate) struct Seen<'a> {
    pub(crate) method: Method,
    pub(crate) host: Option<&'a str>,
    pub(crate) origin: Option<&'a str>,
    pub(crate) fetch_site: Option<&'a str>,
    pub(crate) bearer: Option<&'a str>,
    pub(crate) query_token: Option<&'a str>,
}

impl Guard {
    /// The guard of a server listening on `addr`.
    pub(crate) fn new(token: String, addr: std::net::SocketAddr) -> Self {
        let port = addr.port();
        let hosts = addr.ip().is_loopback().then(|| {
            vec![
                addr.to_string(),
                format!("127.0.0.1:{port}"),
                format!("localhost:{port}"),
                format!("[::1]:{port}"),
            ]
        });
        Self { token, hosts }
    }

    /// Checks where a request comes from (every route, assets included).
    pub(crate) fn check_site(&self, r: &Seen<'_>) -> Result<(), Refusal> {
        let host = r.host.unwrap_or("");
        if let Some(hosts) = &self.hosts {
            if !hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
                return Err(Refusal::BadHost);
            }
        }
        if let Some(site) = r.fetch_site {
            if site != "same-origin" && site != "none" {
                return Err(Refusal::CrossSite);
            }
        }
        if let Some(origin) = r.origin {
            let ours = origin
                .strip_prefix("http://")
                .is_some_and(|o| o.eq_ignore_ascii_case(host));
            if !ours {
                return Err(Refusal::CrossSite);
            }
        }
        Ok(())
    }

    /// Checks a request to the page or its API: its site, then its token.
    pub(crate) fn check(&self, r: &Seen<'_>) -> Result<(), Refusal> {
        self.check_site(r)?;
        let token = match (r.bearer, r.query_token) {
            (Some(t), _) => t,
            (None, Some(t)) if r.method == Method::GET => t,
            _ => return Err(Refusal::NoToken),
        };
        if bool::from(token.as_bytes().ct_eq(self.token.as_bytes())) {
            Ok(())
        } else {
            Err(Refusal::BadToken)
        }
    }
}

fn header(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The `token` query parameter (tokens are URL-safe: no decoding needed).
fn query_token(query: Option<&str>) -> Option<&str> {
    query?.split('&').find_map(|kv| kv.strip_prefix("token="))
}

/// What the guard looks at in `req`.
pub(crate) fn seen(req: &Request) -> Seen<'_> {
    let h = req.headers();
    Seen {
        method: req.method().clone(),
        host: header(h, header::HOST),
        origin: header(h, header::ORIGIN),
        fetch_site: h.get("sec-fetch-site").and_then(|v| v.to_str().ok()),
        bearer: header(h, header::AUTHORIZATION).and_then(|a| a.strip_prefix("Bearer ")),
        query_token: query_token(req.uri().query()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123";

    fn guard() -> Guard {
        Guard::new(TOKEN.into(), ([127, 0, 0, 1], 7878).into())
    }

    fn get<'a>() -> Seen<'a> {
        Seen {
            method: Method::GET,
            host: Some("127.0.0.1:7878"),
            bearer: Some(TOKEN),
            ..Seen::default()
        }
    }

    #[test]
    fn the_page_itself_passes() {
        let g = guard();
        assert_eq!(g.check(&get()), Ok(()));
        let typed = Seen {
            bearer: None,
            query_token: Some(TOKEN),
            fetch_site: Some("none"),
            host: Some("localhost:7878"),
            ..get()
        };
        assert_eq!(g.check(&typed), Ok(()));
        let post = Seen {
            method: Method::POST,
            origin: Some("http://127.0.0.1:7878"),
            fetch_site: Some("same-origin"),
            ..get()
        };
        assert_eq!(g.check(&post), Ok(()));
    }

    #[test]
    fn a_request_without_the_right_token_is_refused() {
        let g = guard();
        let none = Seen {
            bearer: None,
            ..get()
        };
        assert_eq!(g.check(&none), Err(Refusal::NoToken));
        let wrong = Seen {
            bearer: Some("0123456789abcdef0124"),
            ..get()
        };
        assert_eq!(g.check(&wrong), Err(Refusal::BadToken));
        let short = Seen {
            bearer: Some("0123"),
            ..get()
        };
        assert_eq!(g.check(&short), Err(Refusal::BadToken));
    }

    #[test]
    fn a_change_never_takes_the_token_from_the_url() {
        let post = Seen {
            method: Method::POST,
            bearer: None,
            query_token: Some(TOKEN),
            ..get()
        };
        assert_eq!(guard().check(&post), Err(Refusal::NoToken));
    }

    #[test]
    fn a_cross_site_request_is_refused_even_with_the_token() {
        let g = guard();
        let other = Seen {
            origin: Some("http://evil.example"),
            ..get()
        };
        assert_eq!(g.check(&other), Err(Refusal::CrossSite));
        let other_port = Seen {
            origin: Some("http://127.0.0.1:9999"),
            ..get()
        };
        assert_eq!(g.check(&other_port), Err(Refusal::CrossSite));
        let opaque = Seen {
            origin: Some("null"),
            ..get()
        };
        assert_eq!(g.check(&opaque), Err(Refusal::CrossSite));
        let site = Seen {
            fetch_site: Some("cross-site"),
            ..get()
        };
        assert_eq!(g.check(&site), Err(Refusal::CrossSite));
        let sibling = Seen {
            fetch_site: Some("same-site"),
            ..get()
        };
        assert_eq!(g.check(&sibling), Err(Refusal::CrossSite));
    }

    #[test]
    fn a_dns_rebinding_host_is_refused_on_a_loopback_bind() {
        let g = guard();
        let rebound = Seen {
            host: Some("attacker.example:7878"),
            ..get()
        };
        assert_eq!(g.check(&rebound), Err(Refusal::BadHost));
        assert_eq!(
            g.check(&Seen {
                host: None,
                ..get()
            }),
            Err(Refusal::BadHost)
        );
        let other_loopback = Guard::new(TOKEN.into(), ([127, 0, 0, 2], 7878).into());
        let named = Seen {
            host: Some("127.0.0.2:7878"),
            ..get()
        };
        assert_eq!(
            other_loopback.check(&named),
            Ok(()),
            "the bound address itself"
        );
        let lan = Guard::new(TOKEN.into(), ([0, 0, 0, 0], 7878).into());
        let named = Seen {
            host: Some("laptop.lan:7878"),
            ..get()
        };
        assert_eq!(lan.check(&named), Ok(()), "a LAN bind answers to any name");
    }

    #[test]
    fn the_token_is_read_from_the_query() {
        assert_eq!(query_token(Some("a=1&token=xyz")), Some("xyz"));
        assert_eq!(query_token(Some("notoken=1")), None);
        assert_eq!(query_token(None), None);
    }
}
