//! A chatmock server run as its own process (the demo example, the `chatmock` binary),
//! read line by line as a person would read its terminal.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The process; killed when dropped so a failing test leaves nothing behind.
pub struct ServerProcess {
    pub child: Child,
    pub uri: String,
    /// The lines it prints to stdout after its address, as they come.
    log: mpsc::Receiver<String>,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Starts `command` and reads its first line, `{banner}<uri>`.
    pub fn start(mut command: Command, banner: &str) -> ServerProcess {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first_line = String::new();
        stdout.read_line(&mut first_line).unwrap();
        // Keep reading, or the next log line fails on a closed pipe.
        let (sender, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let uri = first_line
            .trim()
            .strip_prefix(banner)
            .unwrap_or_else(|| panic!("unexpected first line: {first_line:?}"))
            .to_owned();
        ServerProcess { child, uri, log }
    }

    /// Waits for the next line that contains `text`, returning it; fails the test after a
    /// generous limit, or if the output ends first.
    pub fn wait_for_line(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(error) => panic!("no log line containing {text:?}: {error}"),
            }
        }
    }

    /// Sends Ctrl-C (SIGINT) and waits for the process to exit.
    pub fn interrupt(&mut self) -> (ExitStatus, String) {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        let sent = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        assert_eq!(sent, 0);
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "no exit after Ctrl-C");
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        (status, stderr)
    }
}

/// A binary that `cargo test` builds next to the test binaries (an example's).
pub fn built_next_to_tests(relative: &str) -> PathBuf {
    let test_binary = std::env::current_exe().unwrap();
    let profile_dir = test_binary.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile_dir.join(relative);
    assert!(
        binary.exists(),
        "{} is missing: run the tests with `cargo test`, which builds the examples",
        binary.display()
    );
    binary
}

/// A fixture file written for one test, deleted when dropped.
pub struct FixtureFile(PathBuf);

impl FixtureFile {
    pub fn new(name: &str, contents: &str) -> FixtureFile {
        let path =
            std::env::temp_dir().join(format!("chatmock-{}-{name}.json", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        FixtureFile(path)
    }

    pub fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }

    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

impl Drop for FixtureFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
