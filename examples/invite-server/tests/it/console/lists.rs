//! Sending an event to a list from the console, on SQLite and PostgreSQL:
//! the dry run's verdicts (with nothing queued), sending, the progress
//! page refreshing itself until done, Pause / Resume / Cancel, the per-row
//! report being the API's.

use super::*;

/// The CSRF token of the form posting to `action`.
pub(super) fn csrf_of(page: &Reply, action: &str) -> String {
    let marker = format!("action=\"{action}\"");
    let at = page
        .text
        .find(&marker)
        .unwrap_or_else(|| panic!("a form posting to {action}: {}", page.text));
    let rest = &page.text[at..];
    let at = rest.find("name=\"csrf\" value=\"").expect("its token") + 19;
    rest[at..].split('"').next().unwrap().to_owned()
}

/// The count shown for `what` on a list's page.
fn count(page: &Reply, what: &str) -> u64 {
    let marker = format!("data-count=\"{what}\">");
    let at = page
        .text
        .find(&marker)
        .unwrap_or_else(|| panic!("{what} on {}", page.text))
        + marker.len();
    page.text[at..].split('<').next().unwrap().parse().unwrap()
}

fn list_state(page: &Reply) -> String {
    let at = page.text.find("data-list-state=\"").expect("the state") + 17;
    page.text[at..].split('"').next().unwrap().to_owned()
}

const LIST: &str = "email,name\n\
a1@example.net,A One\n\
not-an-address,Bad\n\
A1@example.net,Again\n\
gone@example.net,Gone\n\
rsvp@invites.localhost,Own\n\
already@example.net,Already\n\
a2@example.net,\n";

async fn send_a_list(db: Db) {
    let s = TestServer::start(db, |_| {}).await;
    let e = s.event.clone();
    s.post(
        "/v1/suppressions",
        json!({"address": "gone@example.net", "reason": "complaint"}),
    )
    .await
    .expect(201);
    s.post(
        &format!("/v1/events/{e}/invitations"),
        json!({"address": "already@example.net"}),
    )
    .await
    .expect(201);
    let mut b = sign_in(&s, ORGANIZER).await;
    let event = b.get(&format!("/console/events/{e}")).await;
    assert!(
        event
            .text
            .contains(&format!("href=\"/console/events/{e}/lists\""))
    );
    let form = b.get(&format!("/console/events/{e}/lists")).await;
    assert_eq!(form.status, 200);
    assert!(form.text.contains("data-empty=\"lists\""));
    let preview_path = format!("/console/events/{e}/lists/preview");

    // Without its token the dry run is refused.
    let r = b
        .post(&preview_path, &[("name", "friends"), ("csv", LIST)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // The dry run: each row's verdict, nothing queued.
    let token = csrf_of(&form, &preview_path);
    let preview = b
        .post(
            &preview_path,
            &[("csrf", &token), ("name", "friends"), ("csv", LIST)],
        )
        .await;
    assert_eq!(preview.status, 200, "{}", preview.text);
    for (row, verdict) in [
        (2, "invited"),
        (3, "invalid"),
        (4, "duplicate"),
        (5, "suppressed"),
        (6, "own-address"),
        (7, "already-invited"),
        (8, "invited"),
    ] {
        assert!(
            preview.text.contains(&format!(
                "data-row-verdict=\"{verdict}\" data-row=\"{row}\""
            )),
            "row {row} {verdict}: {}",
            preview.text
        );
    }
    assert!(preview.text.contains("data-preview-invited=\"2\""));
    assert!(preview.text.contains("not usable: "), "the reason is given");
    // The same form is not taken twice.
    let again = b
        .post(
            &preview_path,
            &[("csrf", &token), ("name", "friends"), ("csv", LIST)],
        )
        .await;
    assert_eq!(again.status, StatusCode::FORBIDDEN);
    // A list that cannot be read says why.
    let form = b.get(&format!("/console/events/{e}/lists")).await;
    let bad = b
        .post(
            &preview_path,
            &[
                ("csrf", &csrf_of(&form, &preview_path)),
                ("name", "x"),
                ("csv", "name,phone\nJo,1\n"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text.contains("cannot be read"), "{}", bad.text);
    assert!(
        bad.text.contains(&format!(
            "href=\"/console/events/{e}/lists\" data-back-to-form"
        )),
        "{}",
        bad.text
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(captured(&s.dir, "a1@example.net").is_empty());
    let none = s.get(&format!("/v1/events/{e}/lists")).await;
    assert_eq!(none.expect(200), &json!([]));

    // Send: the job starts, the page shows it, the invitations go out.
    let send_path = format!("/console/events/{e}/lists");
    let sent = b
        .post(
            &send_path,
            &[
                ("csrf", &csrf_of(&preview, &send_path)),
                ("name", "friends"),
                ("csv", LIST),
            ],
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.text);
    let page = location(&sent).to_owned();
    let id = page.strip_prefix("/console/lists/").unwrap().to_owned();
    let first = b.get(&page).await;
    assert_eq!(first.status, 200);
    if list_state(&first) == "running" {
        assert!(first.text.contains("http-equiv=\"refresh\" content=\"2\""));
    }
    for a in ["a1@example.net", "a2@example.net"] {
        eventually("the invitation", || async {
            (!captured(&s.dir, a).is_empty()).then_some(())
        })
        .await;
    }
    let mut done = b.get(&page).await;
    for _ in 0..600 {
        if list_state(&done) == "done" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        done = b.get(&page).await;
    }
    assert_eq!(list_state(&done), "done", "{}", done.text);
    assert!(!done.text.contains("http-equiv=\"refresh\""));
    assert_eq!(count(&done, "rows"), 7);
    assert_eq!(count(&done, "invited"), 2);
    assert_eq!(count(&done, "invalid"), 1);
    assert_eq!(count(&done, "duplicate"), 1);
    assert_eq!(count(&done, "suppressed"), 1);
    assert_eq!(count(&done, "own-address"), 1);
    assert_eq!(count(&done, "already-invited"), 1);
    assert_eq!(count(&done, "sent"), 2);
    assert_eq!(count(&done, "queued"), 0);
    assert_eq!(captured(&s.dir, "already@example.net").len(), 1);
    assert!(captured(&s.dir, "gone@example.net").is_empty());

    // The per-row report is the API's.
    let csv = b.get(&format!("/console/lists/{id}/rows.csv")).await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let api = s.get(&format!("/v1/lists/{id}/rows")).await;
    assert_eq!(api.status, 200);
    assert_eq!(csv.text, api.text);
    assert_eq!(csv.text.lines().count(), 8, "{}", csv.text);

    // The event's lists name it.
    let lists = b.get(&format!("/console/events/{e}/lists")).await;
    assert!(lists.text.contains(&format!("data-list=\"{id}\"")));

    // Pause, resume, cancel.
    let control = |action: &str| format!("/console/lists/{id}/{action}");
    let r = b
        .post(
            &control("pause"),
            &[("csrf", &csrf_of(&done, &control("cancel")))],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let paused = b.get(&page).await;
    assert_eq!(list_state(&paused), "paused");
    assert!(!paused.text.contains("http-equiv=\"refresh\""));
    assert!(paused.text.contains("data-list-action=\"resume\""));
    let api = s.get(&format!("/v1/lists/{id}")).await;
    assert_eq!(api.expect(200)["state"], "paused");
    // Without a token nothing moves.
    let r = b.post(&control("resume"), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = b
        .post(
            &control("resume"),
            &[("csrf", &csrf_of(&paused, &control("resume")))],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let resumed = b.get(&page).await;
    assert_eq!(list_state(&resumed), "done");
    let r = b
        .post(
            &control("cancel"),
            &[("csrf", &csrf_of(&resumed, &control("cancel")))],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let cancelled = b.get(&page).await;
    assert_eq!(list_state(&cancelled), "cancelled");
    assert!(!cancelled.text.contains("data-list-action="));
    let api = s.get(&format!("/v1/lists/{id}")).await;
    assert_eq!(api.expect(200)["state"], "cancelled");
    // An unknown action is not found; another organizer's list too.
    let r = b.post(&control("explode"), &[("csrf", "x")]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_a_list_on_sqlite() {
    send_a_list(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_a_list_on_postgres() {
    send_a_list(Db::Postgres).await;
}

/// The list form's `multipart/form-data` body: a CSV file chosen (a
/// spreadsheet's byte-order mark and all), the text pasted, both refused,
/// a file over the upload limit refused before anything is read, a file
/// that is not UTF-8 refused saying so — nothing recorded or sent by any
/// refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_a_csv_file() {
    let s = TestServer::start(Db::Sqlite, |c| c.http.max_upload_bytes = 8 * 1024).await;
    let e = s.event.clone();
    s.post(
        "/v1/suppressions",
        json!({"address": "gone@example.net", "reason": "complaint"}),
    )
    .await
    .expect(201);
    s.post(
        &format!("/v1/events/{e}/invitations"),
        json!({"address": "already@example.net"}),
    )
    .await
    .expect(201);
    let mut b = sign_in(&s, ORGANIZER).await;
    let form_path = format!("/console/events/{e}/lists");
    let preview_path = format!("/console/events/{e}/lists/preview");
    let form = b.get(&form_path).await;
    assert_eq!(form.status, 200);
    assert!(
        form.text.contains("enctype=\"multipart/form-data\""),
        "{}",
        form.text
    );
    assert!(
        form.text
            .contains("type=\"file\" id=\"file\" name=\"file\"")
    );
    assert!(form.text.contains("At most 8 KiB"), "{}", form.text);

    // A file, as a spreadsheet saves "CSV UTF-8": each row's verdict.
    let mut file = b"\xEF\xBB\xBF".to_vec();
    file.extend_from_slice(LIST.replace('\n', "\r\n").as_bytes());
    let token = csrf_of(&form, &preview_path);
    let preview = b
        .post_multipart(
            &preview_path,
            &[
                ("csrf", None, token.as_bytes()),
                ("name", None, b"from a file"),
                ("file", Some("friends.csv"), &file),
                ("csv", None, b""),
            ],
        )
        .await;
    assert_eq!(preview.status, 200, "{}", preview.text);
    for (row, verdict) in [
        (2, "invited"),
        (3, "invalid"),
        (4, "duplicate"),
        (5, "suppressed"),
        (6, "own-address"),
        (7, "already-invited"),
        (8, "invited"),
    ] {
        assert!(
            preview.text.contains(&format!(
                "data-row-verdict=\"{verdict}\" data-row=\"{row}\""
            )),
            "row {row} {verdict}: {}",
            preview.text
        );
    }
    assert!(preview.text.contains("data-preview-invited=\"2\""));
    // The token is spent: the same form is not taken twice.
    let again = b
        .post_multipart(
            &preview_path,
            &[
                ("csrf", None, token.as_bytes()),
                ("name", None, b"from a file"),
                ("file", Some("friends.csv"), &file),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::FORBIDDEN);
    // Without a token: refused.
    let none = b
        .post_multipart(
            &preview_path,
            &[
                ("name", None, b"from a file"),
                ("file", Some("friends.csv"), &file),
            ],
        )
        .await;
    assert_eq!(none.status, StatusCode::FORBIDDEN);

    // Pasted into the same form, no file chosen: read as before.
    let form = b.get(&form_path).await;
    let pasted = b
        .post_multipart(
            &preview_path,
            &[
                ("csrf", None, csrf_of(&form, &preview_path).as_bytes()),
                ("name", None, b"pasted"),
                ("file", Some(""), b""),
                ("csv", None, LIST.as_bytes()),
            ],
        )
        .await;
    assert_eq!(pasted.status, 200, "{}", pasted.text);
    assert!(pasted.text.contains("data-preview-invited=\"2\""));

    // Refusals, each saying why.
    let refused = async |b: &mut Browser, file: (&str, &[u8]), csv: &str| {
        let form = b.get(&form_path).await;
        b.post_multipart(
            &preview_path,
            &[
                ("csrf", None, csrf_of(&form, &preview_path).as_bytes()),
                ("name", None, b"refused"),
                ("file", Some(file.0), file.1),
                ("csv", None, csv.as_bytes()),
            ],
        )
        .await
    };
    let both = refused(&mut b, ("friends.csv", &file), LIST).await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST, "{}", both.text);
    assert!(both.text.contains("not both"), "{}", both.text);
    let neither = refused(&mut b, ("", b""), "").await;
    assert_eq!(neither.status, StatusCode::BAD_REQUEST, "{}", neither.text);
    assert!(
        neither.text.contains("the list is empty"),
        "{}",
        neither.text
    );
    // Latin-1, as an old spreadsheet saves it.
    let latin = refused(
        &mut b,
        (
            "old.csv",
            b"email,name\nj1@example.net,J\nj2@example.net,J\xe9r\xf4me\n",
        ),
        "",
    )
    .await;
    assert_eq!(latin.status, StatusCode::BAD_REQUEST, "{}", latin.text);
    assert!(
        latin.text.contains("is not UTF-8 text (line 3"),
        "{}",
        latin.text
    );
    assert!(latin.text.contains("old.csv"), "{}", latin.text);
    // Over the limit: the file alone, and a body far over it.
    let mut big = b"email\n".to_vec();
    while big.len() <= 8 * 1024 {
        big.extend_from_slice(b"someone.with.a.long.address@example.net\n");
    }
    let over = refused(&mut b, ("big.csv", &big), "").await;
    assert_eq!(over.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", over.text);
    assert!(over.text.contains("larger than 8 KiB"), "{}", over.text);
    let huge = big.repeat(40);
    let over = refused(&mut b, ("huge.csv", &huge), "").await;
    assert_eq!(over.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", over.text);
    assert!(over.text.contains("larger than 8 KiB"), "{}", over.text);
    // The rest of that body was never read: the server closes the
    // connection, and the client's next request goes on a new one.
    assert_eq!(over.headers["connection"], "close");
    // Each refusal is a console page with its reason and a way back to
    // this event's list form.
    let back = format!("href=\"/console/events/{e}/lists\" data-back-to-form");
    for page in [&both, &neither, &latin, &over] {
        assert!(page.text.contains(&back), "{}", page.text);
        assert!(page.text.contains("Why: "), "{}", page.text);
        assert!(
            page.text.contains("action=\"/console/sign-out\""),
            "{}",
            page.text
        );
    }
    let form = b.get(&form_path).await;
    assert_eq!(form.status, 200, "the way back leads to the form");
    // An event this tenant does not have: not found, and no way back.
    let elsewhere = "/console/events/no-such-event/lists/preview";
    let missing = b
        .post_multipart(
            elsewhere,
            &[
                ("csrf", None, csrf_of(&form, &preview_path).as_bytes()),
                ("name", None, b"refused"),
                ("file", Some("big.csv"), &big),
            ],
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text);
    assert!(
        !missing.text.contains("data-back-to-form"),
        "{}",
        missing.text
    );

    // Nothing was recorded or sent by any of it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(captured(&s.dir, "a1@example.net").is_empty());
    let lists = s.get(&format!("/v1/events/{e}/lists")).await;
    assert_eq!(lists.expect(200), &json!([]));

    // Send from the file's dry run: its rows, as the dry run showed them.
    let send_path = format!("/console/events/{e}/lists");
    let form = b.get(&form_path).await;
    let preview = b
        .post_multipart(
            &preview_path,
            &[
                ("csrf", None, csrf_of(&form, &preview_path).as_bytes()),
                ("name", None, b"from a file"),
                ("file", Some("friends.csv"), &file),
            ],
        )
        .await;
    assert_eq!(preview.status, 200, "{}", preview.text);
    let at = preview
        .text
        .find("name=\"csv\" value=\"")
        .expect("the rows")
        + 18;
    let carried = preview.text[at..].split('"').next().unwrap();
    assert!(
        carried.starts_with("email,name\r\na1@example.net"),
        "{carried}"
    );
    let sent = b
        .post(
            &send_path,
            &[
                ("csrf", &csrf_of(&preview, &send_path)),
                ("name", "from a file"),
                ("csv", &carried.replace("&#13;", "\r")),
            ],
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.text);
    for a in ["a1@example.net", "a2@example.net"] {
        eventually("the invitation", || async {
            (!captured(&s.dir, a).is_empty()).then_some(())
        })
        .await;
    }
    assert!(captured(&s.dir, "gone@example.net").is_empty());
    s.stop().await;
}
