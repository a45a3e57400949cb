//! The web app over the small returns world: tokens for every role, and requests sent
//! straight to the router (no socket), as axum's own tests do.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use chrono::{Duration, Utc};
use http_body_util::BodyExt;
use tally::config::Settings;
use tally::store::access::Role;
use tally::web::app::App;
use tower::ServiceExt;

use super::world::{World, world};
use super::{dap, load, repo};

pub struct Tokens {
    pub dap: String,
    /// Speaks for RXA only.
    pub provider: String,
    pub dhsc: String,
    /// An integrated care system's, for the ICB QMJ (RXA's).
    pub ics: String,
    pub admin: String,
    pub revoked: String,
    pub expired: String,
}

pub struct TestApp {
    pub world: World,
    pub app: Arc<App>,
    pub router: Router,
    pub tokens: Tokens,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// The world with KH03 and care-home occupancy built, a pending proposal for DAP, and the app
/// on its data folder; `upload_limit` in bytes.
pub async fn spawn(upload_limit: Option<usize>) -> TestApp {
    spawn_at(upload_limit, None).await
}

/// `spawn`, with the app's clock starting at `as_of` (as `tally demo`'s pages do), for
/// tests of what is owed and open when.
pub async fn spawn_at(
    upload_limit: Option<usize>,
    as_of: Option<chrono::DateTime<Utc>>,
) -> TestApp {
    spawn_tuned(upload_limit, as_of, |_| {}).await
}

/// `spawn_at`, with `tune` given the app before it is shared (a test that refuses many
/// tokens on purpose gives it a larger allowance of refusals).
pub async fn spawn_tuned(
    upload_limit: Option<usize>,
    as_of: Option<chrono::DateTime<Utc>>,
    tune: impl FnOnce(&mut App),
) -> TestApp {
    let world = world().await;
    world.build("kh03-quarterly", "2026-27-Q1").await;
    world.build("care-home-occupancy", "2026-04").await;
    world
        .registry
        .propose(&load("uec-sitrep-manual"), "NHS England", Utc::now())
        .await
        .unwrap();
    // The bundled returns' queries are licensed, as the demo has them.
    super::license_returns(&world.registry, &repo().join("queries")).await;
    let settings = Settings {
        data_dir: world.dir.path().to_path_buf(),
        database_url: world._db.url().to_owned(),
        timezone: chrono_tz::Europe::London,
        sources_file: world.dir.path().join("sources.toml"),
        queries_dir: repo().join("queries"),
        secure_cookies: false,
        upload_limit,
        mail: Default::default(),
        staff_rates: Some(tally::domain::budget::StaffRates {
            source: "Rates made up for the tests".into(),
            per_hour: [("default".to_string(), 20.0)].into(),
        }),
    };
    let mut app = App::with_clock(settings, world.registry.store().clone(), as_of).unwrap();
    tune(std::sync::Arc::get_mut(&mut app).expect("not shared yet"));
    let store = app.store().clone();
    let now = Utc::now();
    let make = async |role: Role,
                      providers: &[&str],
                      name: &str,
                      expires: Option<chrono::DateTime<Utc>>| {
        let providers: Vec<String> = providers.iter().map(|s| s.to_string()).collect();
        let (row, token) =
            tally::web::auth::issue(role, &providers, name, "test", expires, now).unwrap();
        store.add_token(&row).await.unwrap();
        (row.id, token)
    };
    let dap_token = make(Role::Dap, &[], dap(), None).await.1;
    let provider = make(Role::Provider, &["RXA"], "Ashford ward clerk", None)
        .await
        .1;
    let dhsc = make(Role::Dhsc, &[], "DHSC analyst", None).await.1;
    let ics = make(Role::Ics, &["QMJ"], "North Central London ICS", None)
        .await
        .1;
    let admin = make(Role::Admin, &[], "Service admin", None).await.1;
    let (revoked_id, revoked) = make(Role::Dap, &[], "Former DAP member", None).await;
    store.revoke_token(&revoked_id, now).await.unwrap();
    let expired = make(
        Role::Dhsc,
        &[],
        "Old analyst",
        Some(now - Duration::hours(1)),
    )
    .await
    .1;
    TestApp {
        router: tally::web::app::router(app.clone()),
        app,
        world,
        tokens: Tokens {
            dap: dap_token,
            provider,
            dhsc,
            ics,
            admin,
            revoked,
            expired,
        },
    }
}

impl TestApp {
    pub async fn send(&self, req: Request<Body>) -> Answer {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    /// An API call with an optional bearer token and JSON body.
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        };
        self.send(req.unwrap()).await
    }

    /// A multipart upload of `file` for `collection` and `period`, plus any extra fields.
    pub async fn upload(
        &self,
        path: &str,
        token: Option<&str>,
        cookie: Option<&str>,
        fields: &[(&str, &str)],
        file: Option<(&str, &[u8])>,
    ) -> Answer {
        let boundary = "tallyboundary7MA4YWxkTrZu0gW";
        let mut body: Vec<u8> = Vec::new();
        for (k, v) in fields {
            body.extend(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        if let Some((name, bytes)) = file {
            body.extend(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                    .as_bytes(),
            );
            body.extend(bytes);
            body.extend(b"\r\n");
        }
        body.extend(format!("--{boundary}--\r\n").as_bytes());
        let mut req = Request::builder().method(Method::POST).uri(path).header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        );
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::from(body)).unwrap()).await
    }

    /// A page, with the session cookie if given.
    pub async fn page(&self, path: &str, cookie: Option<&str>) -> Answer {
        let mut req = Request::builder().uri(path);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::empty()).unwrap()).await
    }

    /// A form post, with the session cookie if given.
    pub async fn form(&self, path: &str, cookie: Option<&str>, fields: &[(&str, &str)]) -> Answer {
        let body = fields
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.send(req.body(Body::from(body)).unwrap()).await
    }

    /// A cookie for each role in the role matrices' order: none (not signed in), DAP, the
    /// provider, DHSC and the administrator.
    pub async fn cookies(&self) -> Vec<Option<String>> {
        let mut cookies = vec![None];
        for token in [
            &self.tokens.dap,
            &self.tokens.provider,
            &self.tokens.dhsc,
            &self.tokens.admin,
        ] {
            cookies.push(Some(self.sign_in(token).await));
        }
        cookies
    }

    /// Signs in through the form as the page does, and gives the session cookie.
    pub async fn sign_in(&self, token: &str) -> String {
        let form = self.page("/sign-in", None).await;
        let nonce = cookie_value(&form.headers, tally::web::auth::SIGN_IN_COOKIE).unwrap();
        let signed = self
            .form(
                "/sign-in",
                Some(&format!("{}={nonce}", tally::web::auth::SIGN_IN_COOKIE)),
                &[("token", token), ("csrf", &nonce)],
            )
            .await;
        assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.text());
        let session = cookie_value(&signed.headers, tally::web::auth::SESSION_COOKIE).unwrap();
        format!("{}={session}", tally::web::auth::SESSION_COOKIE)
    }

    /// How many runs the ledger holds.
    pub async fn runs(&self) -> usize {
        self.app
            .store()
            .runs(&tally::store::runs::RunFilter {
                limit: 100_000,
                ..Default::default()
            })
            .await
            .unwrap()
            .len()
    }
}

/// A cookie's value from a response's `Set-Cookie` headers.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The CSRF field of the first form on a page.
pub fn csrf_field(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a csrf field")
        + 19;
    html[at..].split('"').next().unwrap().to_owned()
}
