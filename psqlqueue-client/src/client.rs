//! The client, how to build one, and how it makes a call: the URL, the token, the timeout,
//! the status and the body.

use crate::error::Error;
use crate::models::Health;
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde::de::DeserializeOwned;
use std::fmt;
use std::time::Duration;

/// What the client says it is, in `User-Agent`.
const USER_AGENT: &str = concat!("psqlqueue-client/", env!("CARGO_PKG_VERSION"));

/// A client of one sidecar's v1 REST API.
///
/// Cheap to clone (clones share one connection pool). Every method makes one request and
/// returns the answer typed, or an [`Error`]; ids (queue, message, topic, subscription) go in
/// the URL path percent-encoded.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// The server's root, e.g. `http://localhost:8000/`; the API's paths go under its path.
    base: Url,
    token: Option<String>,
    timeout: Option<Duration>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the sidecar at `base_url`, the server's root (`http://localhost:8000`; a
    /// path, as behind a proxy, is kept: `http://host/psqlqueue` calls
    /// `http://host/psqlqueue/v1/...`), with no token and no timeout.
    ///
    /// Fails with [`Error::InvalidInput`] when `base_url` is not an `http` or `https` URL.
    pub fn new(base_url: &str) -> Result<Client, Error> {
        Client::builder(base_url).build()
    }

    /// A builder for a client with a token, a timeout or an HTTP client of its own.
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            token: None,
            timeout: None,
            connect_timeout: None,
            http: None,
        }
    }

    /// This client, sending `token` as `Authorization: Bearer <token>` with every request
    /// (needed when the sidecar runs with `PSQLQUEUE_AUTH=token`).
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Client {
        self.token = Some(token.into());
        self
    }

    /// The server root the client calls, ending in `/`.
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// Checks that the sidecar answers and reaches its database (`GET /v1/healthz`). When it
    /// cannot reach the database the answer is [`Error::Api`] with status 503.
    pub async fn health(&self) -> Result<Health, Error> {
        let request = self.request(Method::GET, &["v1", "healthz"])?;
        self.json(request).await
    }

    /// A request to the path of `segments` under the base URL, each segment percent-encoded,
    /// with the token and the timeout.
    pub(crate) fn request(
        &self,
        method: Method,
        segments: &[&str],
    ) -> Result<RequestBuilder, Error> {
        if let Some(bad) = segments.iter().find(|s| matches!(**s, "." | "..")) {
            return Err(Error::InvalidInput(format!(
                "the id {bad:?} cannot be put in a URL path"
            )));
        }
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| Error::InvalidInput(format!("{} cannot be a base URL", self.base)))?
            .pop_if_empty()
            .extend(segments);
        let mut request = self.http.request(method, url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(timeout) = self.timeout {
            request = request.timeout(timeout);
        }
        Ok(request)
    }

    /// The configured timeout plus `extra` (a long poll's wait), if there is a timeout.
    pub(crate) fn timeout_plus(&self, extra: Duration) -> Option<Duration> {
        self.timeout.map(|timeout| timeout.saturating_add(extra))
    }

    /// Sends `request`; a success answers its JSON body as `T`.
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> Result<T, Error> {
        let (status, body) = send(request).await?;
        let body = body.as_ref();
        serde_json::from_slice(body).map_err(|e| Error::decode(status, body, e))
    }

    /// Sends `request`; a success's body (none, for 204) is ignored.
    pub(crate) async fn no_content(&self, request: RequestBuilder) -> Result<(), Error> {
        send(request).await.map(|_| ())
    }
}

/// Sends `request` and reads the whole answer; an error status is an [`Error::Api`].
async fn send(request: RequestBuilder) -> Result<(StatusCode, impl AsRef<[u8]>), Error> {
    let response = request.send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    if status.is_success() {
        Ok((status, body))
    } else {
        Err(Error::from_response(status, &body))
    }
}

/// Builds a [`Client`]: `Client::builder(url).token(t).timeout(d).build()`.
#[must_use]
pub struct ClientBuilder {
    base_url: String,
    token: Option<String>,
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    http: Option<reqwest::Client>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Sends `token` as `Authorization: Bearer <token>` with every request.
    pub fn token(mut self, token: impl Into<String>) -> ClientBuilder {
        self.token = Some(token.into());
        self
    }

    /// Gives up on a request that has not been answered whole within `timeout`
    /// ([`Error::Transport`], [`Error::is_retryable`]). A long poll
    /// ([`ReceiveOptions::wait_seconds`](crate::ReceiveOptions::wait_seconds)) gets its wait on
    /// top. None by default.
    pub fn timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.timeout = Some(timeout);
        self
    }

    /// Gives up on connecting after `timeout`. None by default; ignored with
    /// [`http_client`](ClientBuilder::http_client), whose own settings apply.
    pub fn connect_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Makes the requests with this `reqwest` client (its proxy, TLS or pool settings)
    /// instead of one of the builder's.
    pub fn http_client(mut self, http: reqwest::Client) -> ClientBuilder {
        self.http = Some(http);
        self
    }

    /// The client; fails with [`Error::InvalidInput`] when the base URL is not an `http` or
    /// `https` URL, or [`Error::Transport`] when the HTTP client cannot be set up.
    pub fn build(self) -> Result<Client, Error> {
        let base = parse_base(&self.base_url)?;
        let http = match self.http {
            Some(http) => http,
            None => {
                let mut builder = reqwest::Client::builder().user_agent(USER_AGENT);
                if let Some(timeout) = self.connect_timeout {
                    builder = builder.connect_timeout(timeout);
                }
                builder.build()?
            }
        };
        Ok(Client {
            http,
            base,
            token: self.token,
            timeout: self.timeout,
        })
    }
}

/// The base URL, checked, without query or fragment.
fn parse_base(text: &str) -> Result<Url, Error> {
    let invalid = |why: String| Error::InvalidInput(format!("base URL {text:?}: {why}"));
    let mut url = Url::parse(text.trim()).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(invalid("not an http or https URL".to_owned()));
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The URL a GET of `segments` goes to, from a client of `base`.
    fn url(base: &str, segments: &[&str]) -> Result<String, Error> {
        let request = Client::new(base)?.request(Method::GET, segments)?.build()?;
        Ok(request.url().to_string())
    }

    #[test]
    fn paths_go_under_the_base_with_each_segment_encoded() -> Result<(), Error> {
        let path = ["v1", "queues", "a/b c?#%", "stats"];
        let expect = "/v1/queues/a%2Fb%20c%3F%23%25/stats";
        for (base, prefix) in [
            ("http://h:8000", "http://h:8000"),
            ("http://h:8000/", "http://h:8000"),
            ("http://h/prefix", "http://h/prefix"),
            ("http://h/prefix/?x=1#y", "http://h/prefix"),
            (" https://h ", "https://h"),
        ] {
            assert_eq!(url(base, &path)?, format!("{prefix}{expect}"), "{base}");
        }
        Ok(())
    }

    #[test]
    fn unusable_urls_and_dot_ids_are_refused() -> Result<(), Error> {
        for base in ["localhost:8000", "ftp://h", "mailto:x@y", "", "http//h"] {
            let got = Client::new(base);
            assert!(
                matches!(got, Err(Error::InvalidInput(_))),
                "{base}: {got:?}"
            );
        }
        let client = Client::new("http://h")?;
        for id in [".", ".."] {
            let got = client.request(Method::GET, &["v1", "queues", id]);
            assert!(matches!(got, Err(Error::InvalidInput(_))), "{id}");
        }
        assert!(
            client
                .request(Method::GET, &["v1", "queues", "..."])
                .is_ok()
        );
        Ok(())
    }

    #[test]
    fn the_token_is_sent_and_never_shown() -> Result<(), Error> {
        let client = Client::new("http://h")?.with_token("pqq_secret");
        let request = client.request(Method::GET, &["v1"])?.build()?;
        let header = request.headers().get("authorization").map(|v| v.as_bytes());
        assert_eq!(header, Some(&b"Bearer pqq_secret"[..]));
        assert!(!format!("{client:?}").contains("secret"));
        let builder = Client::builder("http://h").token("pqq_secret");
        assert!(!format!("{builder:?}").contains("secret"));
        Ok(())
    }
}
