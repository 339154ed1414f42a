//! The public pages invitations link to, over real HTTP on SQLite and
//! PostgreSQL, with the outgoing mail captured as `.eml` files: the links
//! each invitation carries, web answers (one occurrence too), one-click
//! unsubscribe, call-to-action links, and a link scanner that follows
//! every URL of a delivered invitation and changes nothing.

use invite_server::RunningServer;
use serde_json::json;

use crate::common::{Db, TestServer, captured, eventually, unique};

/// A delivered invitation: its links (HTML part) and headers.
pub struct Delivered {
    pub html: String,
    pub list_unsubscribe: Option<String>,
    pub list_unsubscribe_post: Option<String>,
}

impl Delivered {
    pub fn parse(raw: &[u8]) -> Delivered {
        let m = mail_parser::MessageParser::default()
            .parse(raw)
            .expect("a message");
        let header = |name: &str| {
            m.header_raw(name)
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        };
        Delivered {
            html: m.body_html(0).map(|h| h.into_owned()).unwrap_or_default(),
            list_unsubscribe: header("List-Unsubscribe"),
            list_unsubscribe_post: header("List-Unsubscribe-Post"),
        }
    }

    /// Every http(s) URL in the HTML part and the headers, unescaped.
    pub fn urls(&self) -> Vec<String> {
        let mut text = self.html.clone();
        text.push(' ');
        text.push_str(self.list_unsubscribe.as_deref().unwrap_or(""));
        let mut out = Vec::new();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("http") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| c == '"' || c == '<' || c == '>' || c == '\'' || c.is_whitespace())
                .unwrap_or(tail.len());
            let url = tail[..end].replace("&amp;", "&");
            if url.starts_with("http://") || url.starts_with("https://") {
                out.push(url);
            }
            rest = &tail[end.max(1)..];
        }
        out.sort();
        out.dedup();
        out
    }

    /// The web answer link for `answer` (`accept`, `tentative`, `decline`).
    pub fn rsvp(&self, answer: &str) -> String {
        self.urls()
            .into_iter()
            .find(|u| u.contains("/rsvp/") && u.ends_with(&format!("/{answer}")))
            .unwrap_or_else(|| panic!("no {answer} link in {}", self.html))
    }
}

/// Invites `address` to `event` through the API and waits for its `.eml`.
pub async fn invite_and_read(s: &TestServer, event: &str, address: &str) -> Delivered {
    let before = captured(&s.dir, address).len();
    let r = s
        .post(
            &format!("/v1/events/{event}/invitations"),
            json!({"address": address, "name": "A Guest"}),
        )
        .await;
    assert_eq!(r.expect(201)["outcome"], "invited", "{}", r.text);
    let files = eventually("the invitation captured", || async {
        let f = captured(&s.dir, address);
        (f.len() > before).then_some(f)
    })
    .await;
    Delivered::parse(files.last().unwrap())
}

async fn links_point_at_the_public_url(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    let guest = format!("{}@example.net", unique("g"));
    let d = invite_and_read(&s, &s.event, &guest).await;
    let accept = d.rsvp("accept");
    assert!(accept.starts_with(&format!("{}/rsvp/", s.base)), "{accept}");
    for answer in ["tentative", "decline"] {
        assert!(d.rsvp(answer).starts_with(&format!("{}/rsvp/", s.base)));
    }
    let unsub = d.list_unsubscribe.clone().expect("List-Unsubscribe");
    assert!(
        unsub.contains(&format!("<{}/unsubscribe/", s.base)),
        "{unsub}"
    );
    assert_eq!(
        d.list_unsubscribe_post.as_deref(),
        Some("List-Unsubscribe=One-Click")
    );

    // Started again with a public URL: the owners carry it from then on.
    let mut c = s.server().config().clone();
    let dir = s.dir.clone();
    let schema = s.schema.clone();
    s.server.unwrap().shutdown().await;
    c.http.public_url = Some("https://invites.example.com/".into());
    let server = RunningServer::start(c).await.expect("starts again");
    let again = TestServer {
        base: format!("http://{}", server.http_addr()),
        server: Some(server),
        key: s.key.clone(),
        event: s.event.clone(),
        dir,
        schema,
        client: s.client.clone(),
    };
    let other = format!("{}@example.net", unique("h"));
    let d = invite_and_read(&again, &again.event, &other).await;
    assert!(
        d.rsvp("accept")
            .starts_with("https://invites.example.com/rsvp/"),
        "{}",
        d.html
    );
    again.stop().await;
}

#[tokio::test]
async fn links_point_at_the_public_url_on_sqlite() {
    links_point_at_the_public_url(Db::Sqlite).await;
}

#[tokio::test]
async fn links_point_at_the_public_url_on_postgres() {
    links_point_at_the_public_url(Db::Postgres).await;
}
