//! A real browser: headless Chromium opens `examples/demo.html` from disk and reads the
//! server's `GET /stream` with `EventSource`, cross-origin, as the README promises.
//!
//! Needs Chromium (`apt-get install chromium`, or point `CHROMIUM` at a Chrome or Chromium
//! binary). Without one the test is skipped with a line that says how to install it, and
//! fails under CI (`CI=true`); `CHATMOCK_SKIP_BROWSER=1` skips it anyway.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chatmock::{MockChatServer, Reply, StreamOutcome};

const DEMO_TEXT: &str = "Hello, this is a mocked chatbot. How can I help you?";

/// Chromium starts in about a second; the rest is slack for a loaded 2-core machine. A
/// stream that never ends keeps Chromium waiting forever, so this is also the hang guard.
const BROWSER_TIME_LIMIT: Duration = Duration::from_secs(30);

/// The Chromium binary to run, or `None` if the test should be skipped.
fn find_chromium() -> Option<PathBuf> {
    if std::env::var("CHATMOCK_SKIP_BROWSER").as_deref() == Ok("1") {
        println!("skipping the browser test: CHATMOCK_SKIP_BROWSER=1");
        return None;
    }
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    // A silent pass would hide that the README's browser promise went untested.
    if !path.is_file() {
        crate::support::missing_client(&format!(
            "no Chromium at {}: install it (`apt-get install chromium`), or set CHROMIUM to a \
             Chrome or Chromium binary; set CHATMOCK_SKIP_BROWSER=1 to skip this test",
            path.display()
        ));
        return None;
    }
    Some(path)
}

/// A running Chromium with its own profile directory. Dropping it kills Chromium (its
/// helper processes exit with it) and deletes the profile, so a failing or timed-out test
/// leaves nothing behind.
struct Browser {
    child: Child,
    profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    fn stdout_path(&self) -> PathBuf {
        self.profile.join("stdout.html")
    }

    fn stderr_tail(&self) -> String {
        let stderr = std::fs::read_to_string(self.profile.join("stderr.txt")).unwrap_or_default();
        // Without a D-Bus session Chromium logs D-Bus errors that have nothing to do with
        // the page.
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|line| !line.contains(":ERROR:dbus/"))
            .collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// Loads `url` in headless Chromium and returns the DOM once the page has settled.
///
/// `--virtual-time-budget` is what makes this wait for the stream: Chromium does not
/// advance virtual time while a fetch is pending, and an open `EventSource` counts as one.
/// So the DOM is dumped only after the page closed the source (or it failed), however
/// long the stream took in real time. `--timeout` would not do: it only stops a page that
/// is still loading, and the demo page finishes loading before the first event.
fn dump_dom_after_the_page_settles(chromium: &Path, url: &str) -> Result<String, String> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_nanos();
    let profile =
        std::env::temp_dir().join(format!("chatmock-browser-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&profile).expect("a fresh temp dir for the Chromium profile");
    // Files, not pipes: Chromium's helper processes inherit the output handles, and a
    // pipe nobody drains could block them.
    let stdout = File::create(profile.join("stdout.html")).expect("a file for Chromium's stdout");
    let stderr = File::create(profile.join("stderr.txt")).expect("a file for Chromium's stderr");
    let spawned = Command::new(chromium)
        .args([
            "--headless",
            // Root in a container has no usable sandbox.
            "--no-sandbox",
            "--disable-gpu",
            // Docker's default /dev/shm is too small for Chromium.
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn();
    let child = match spawned {
        Ok(child) => child,
        Err(error) => {
            let _ = std::fs::remove_dir_all(&profile);
            return Err(format!("could not start {}: {error}", chromium.display()));
        }
    };
    let mut browser = Browser { child, profile };

    let started = Instant::now();
    let status = loop {
        match browser.child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > BROWSER_TIME_LIMIT => {
                return Err(format!(
                    "Chromium did not finish within {BROWSER_TIME_LIMIT:?} (did the stream \
                     never end?); its stderr ends with:\n{}",
                    browser.stderr_tail()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(error) => return Err(format!("could not wait for Chromium: {error}")),
        }
    };
    if !status.success() {
        return Err(format!(
            "Chromium exited with {status}; its stderr ends with:\n{}",
            browser.stderr_tail()
        ));
    }
    std::fs::read_to_string(browser.stdout_path())
        .map_err(|error| format!("could not read Chromium's DOM dump: {error}"))
}

/// The text of the element with `id` in a serialized DOM, for elements holding only text.
fn text_of_element(dom: &str, id: &str) -> String {
    let start_tag = format!(" id=\"{id}\">");
    let start = dom
        .find(&start_tag)
        .unwrap_or_else(|| panic!("no #{id} in the DOM Chromium dumped:\n{dom}"))
        + start_tag.len();
    let end = start
        + dom[start..]
            .find('<')
            .unwrap_or_else(|| panic!("#{id} is not closed in the DOM Chromium dumped:\n{dom}"));
    dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// `s` percent-encoded for a URL path or query value (`/` is kept).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn a_browser_event_source_reads_the_demo_stream_from_another_origin() {
    let Some(chromium) = find_chromium() else {
        return;
    };
    // The delay makes the browser receive the tokens as separate events over time, as
    // in the demo, rather than in one read.
    let server = MockChatServer::builder()
        .reply(Reply::demo().token_delay(Duration::from_millis(20)))
        .start()
        .await;
    // A file:// page is its own origin, so the browser only lets the page read the
    // stream if the server allows it with CORS.
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo.html");
    assert!(page.is_file(), "{} is missing", page.display());
    let url = format!(
        "file://{}?server={}",
        percent_encode(&page.display().to_string()),
        percent_encode(&server.uri())
    );

    let dom = tokio::task::spawn_blocking(move || dump_dom_after_the_page_settles(&chromium, &url))
        .await
        .expect("the Chromium task does not panic")
        .unwrap_or_else(|error| panic!("{error}"));

    assert_eq!(
        text_of_element(&dom, "status"),
        "done",
        "the page never saw [DONE]; its DOM:\n{dom}"
    );
    // One space between words: the server sends them bare and the page joins them.
    assert_eq!(text_of_element(&dom, "output"), DEMO_TEXT);
    assert!(!text_of_element(&dom, "output").contains("  "));

    let requests = server
        .wait_for_streams_to_end()
        .await
        .expect("the browser's stream ends");
    // One request: the page closes the source on [DONE], so the browser never reconnects.
    assert_eq!(requests.len(), 1, "requests: {requests:#?}");
    let request = &requests[0];
    assert_eq!(request.method().as_str(), "GET");
    assert_eq!(request.path(), "/stream");
    // What makes this a cross-origin request a server could refuse: an opaque origin
    // (`null` for file:// pages) and a CORS-mode fetch, which the browser only hands to
    // the page because the response allows any origin.
    assert_eq!(request.header("origin"), Some("null"));
    assert_eq!(request.header("sec-fetch-mode"), Some("cors"));
    assert_eq!(request.header("accept"), Some("text/event-stream"));
    assert_eq!(
        request.stream_outcome(),
        &StreamOutcome::Completed { content_events: 11 }
    );
}
