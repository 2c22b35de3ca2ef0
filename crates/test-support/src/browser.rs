//! A cookie-keeping client that behaves like a browser towards Attest: it remembers the
//! cookies the server sets, sends its own origin on state changes, and puts the CSRF token
//! (which a real page would render into its forms) into form posts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use attest_domain::authn::sessions::csrf_for;

/// A browser: one cookie jar.
#[derive(Debug, Clone)]
pub struct Browser {
    client: reqwest::Client,
    base: String,
    jar: Arc<Mutex<HashMap<String, String>>>,
}

/// The session cookie's name.
pub const SESSION: &str = "__Host-attest-session";
/// The pre-session cookie's name.
pub const PRE_SESSION: &str = "__Host-attest-csrf";

impl Browser {
    /// A browser with an empty jar.
    #[must_use]
    pub fn new(client: reqwest::Client, base: &str) -> Self {
        Self {
            client,
            base: base.to_owned(),
            jar: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A cookie's value.
    #[must_use]
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().get(name).cloned()
    }

    /// Sets (or with `None` removes) a cookie by hand, as an attacker or a test would.
    pub fn set_cookie(&self, name: &str, value: Option<&str>) {
        let mut jar = self.jar.lock().unwrap();
        match value {
            Some(v) => jar.insert(name.to_owned(), v.to_owned()),
            None => jar.remove(name),
        };
    }

    /// The CSRF token the current page would carry.
    #[must_use]
    pub fn csrf(&self) -> String {
        if let Some(s) = self.cookie(SESSION) {
            return csrf_for(&s);
        }
        let pre = self.cookie(PRE_SESSION).unwrap_or_else(|| {
            let v = uuid::Uuid::new_v4().simple().to_string();
            self.set_cookie(PRE_SESSION, Some(&v));
            v
        });
        csrf_for(&format!("pre:{pre}"))
    }

    fn cookie_header(&self) -> String {
        self.jar
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn remember(&self, response: &reqwest::Response) {
        for v in response.headers().get_all("set-cookie") {
            let Ok(text) = v.to_str() else { continue };
            let Some((pair, attrs)) = text.split_once(';').or(Some((text, ""))) else {
                continue;
            };
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            if value.is_empty() || attrs.contains("Max-Age=0") {
                self.set_cookie(name.trim(), None);
            } else {
                self.set_cookie(name.trim(), Some(value.trim()));
            }
        }
    }

    /// A request with the jar's cookies; the response's cookies are kept.
    pub async fn send(&self, builder: reqwest::RequestBuilder) -> reqwest::Response {
        let builder = builder.header("cookie", self.cookie_header());
        let r = builder.send().await.unwrap();
        self.remember(&r);
        r
    }

    /// `GET path`, answering a transport failure instead of panicking (benchmarks count them).
    ///
    /// # Errors
    /// When the request could not be sent or answered.
    pub async fn try_get(&self, path: &str) -> Result<reqwest::Response, reqwest::Error> {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("accept", "text/html")
            .header("cookie", self.cookie_header())
            .send()
            .await?;
        self.remember(&r);
        Ok(r)
    }

    /// `GET path`
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.send(
            self.client
                .get(format!("{}{path}", self.base))
                .header("accept", "text/html"),
        )
        .await
    }

    /// `GET path` as JSON.
    pub async fn get_json(&self, path: &str) -> reqwest::Response {
        self.send(
            self.client
                .get(format!("{}{path}", self.base))
                .header("accept", "application/json"),
        )
        .await
    }

    /// A form post from our own origin with the page's CSRF token.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let csrf = self.csrf();
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf_token", &csrf));
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .header("origin", &self.base)
                .header("accept", "text/html")
                .form(&all),
        )
        .await
    }

    /// A JSON API call with the CSRF header, from our own origin.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut b = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("origin", &self.base)
            .header("accept", "application/json")
            .header("x-csrf-token", self.csrf());
        if let Some(body) = body {
            b = b.json(&body);
        }
        self.send(b).await
    }

    /// A browser form upload (`multipart/form-data`): the CSRF field first, then `fields`,
    /// then the file (when given) last, as a page's form sends them.
    pub async fn upload(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        file: Option<(&str, &[u8])>,
    ) -> reqwest::Response {
        let mut m = crate::Multipart::new().text("csrf_token", &self.csrf());
        for (k, v) in fields {
            m = m.text(k, v);
        }
        if let Some((name, data)) = file {
            m = m.file(name, "application/octet-stream", data);
        }
        let ct = m.content_type();
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .header("origin", &self.base)
                .header("accept", "text/html")
                .header("content-type", ct)
                .body(m.end()),
        )
        .await
    }

    /// An API upload: the CSRF header, the fields, then the file.
    pub async fn upload_api(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        file: Option<(&str, &[u8])>,
    ) -> reqwest::Response {
        let mut m = crate::Multipart::new();
        for (k, v) in fields {
            m = m.text(k, v);
        }
        if let Some((name, data)) = file {
            m = m.file(name, "application/octet-stream", data);
        }
        self.send_multipart(path, &m.content_type(), reqwest::Body::from(m.end()))
            .await
    }

    /// An API request with a multipart body given as is (also broken ones).
    pub async fn send_multipart(
        &self,
        path: &str,
        content_type: &str,
        body: reqwest::Body,
    ) -> reqwest::Response {
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .header("origin", &self.base)
                .header("accept", "application/json")
                .header("x-csrf-token", self.csrf())
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    /// A request's result without panicking on transport errors (a server that cuts an
    /// upload short).
    pub async fn try_send(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let r = builder
            .header("cookie", self.cookie_header())
            .send()
            .await?;
        self.remember(&r);
        Ok(r)
    }

    /// The HTTP client and base URL, for requests built by hand.
    #[must_use]
    pub fn client(&self) -> (&reqwest::Client, &str) {
        (&self.client, &self.base)
    }
}
