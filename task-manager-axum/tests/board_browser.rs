//! The board in a real browser: Debian's headless Chromium, driven over WebDriver by
//! `fantoccini` through Debian's chromedriver, against a real server on 127.0.0.1.
//!
//! When Chromium or chromedriver is missing and the test runs as root, it runs
//! `scripts/browser` (which installs them with apt-get); otherwise it fails and says how to
//! install them. It never skips. Every wait is bounded; chromedriver, and the Chromium it
//! started, are killed at the end, also when the test fails.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{serve, soon, start_job};
use fantoccini::{Client, ClientBuilder, Locator};
use task_manager_axum::BearerToken;
use task_manager_core::TaskId;

const TOKEN: &str = "board-token";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The bound of each wait for the page.
const WAIT: Duration = Duration::from_secs(20);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate is in the workspace")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

/// Chromium and chromedriver, installed by `scripts/browser` when missing and we are root.
fn browser_installed() {
    let present = || Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if present() {
        return;
    }
    let how = "install Debian's Chromium and its WebDriver as root: `scripts/browser` \
               (or `apt-get update && apt-get install -y chromium chromium-driver`)";
    assert!(
        is_root(),
        "{CHROMIUM} or {CHROMEDRIVER} is missing and this test is not root, so it cannot \
         install them: {how}"
    );
    let status = Command::new(workspace().join("scripts/browser"))
        .status()
        .unwrap_or_else(|error| panic!("scripts/browser could not start ({error}): {how}"));
    assert!(
        status.success() && present(),
        "scripts/browser failed ({status}): {how}"
    );
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().expect("its address").port()
}

/// chromedriver and whatever it started; killed when dropped, whatever happened before.
struct Browser {
    driver: Child,
    /// Unique to this run: every Chromium process of ours has it on its command line.
    profile: PathBuf,
}

impl Browser {
    fn start(port: u16) -> Browser {
        let profile = std::env::temp_dir().join(format!("task-board-chromium-{}", TaskId::new()));
        std::fs::create_dir_all(&profile).expect("a fresh profile directory");
        let log = std::fs::File::create(target_dir().join("board-chromedriver.log"))
            .expect("chromedriver's log under target/");
        let mut command = Command::new(CHROMEDRIVER);
        command
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log, twice"))
            .stderr(log);
        // Its own process group, so that the whole group can be killed at the end.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver = command.spawn().expect("chromedriver starts");
        Browser { driver, profile }
    }

    fn capabilities(&self) -> fantoccini::wd::Capabilities {
        let options = serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,800",
                format!("--user-data-dir={}", self.profile.display()),
            ],
        });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        capabilities
    }

    /// The processes whose command line names this run's profile: our Chromium, nothing else.
    fn chromium_pids(&self) -> Vec<String> {
        let needle = self.profile.to_string_lossy().into_owned();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let pid = entry.file_name().to_string_lossy().into_owned();
                pid.bytes().all(|b| b.is_ascii_digit()).then_some(())?;
                let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
                String::from_utf8_lossy(&cmdline)
                    .contains(&needle)
                    .then_some(pid)
            })
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let pids = self.chromium_pids();
        if !pids.is_empty() {
            let _ = Command::new("kill").arg("-KILL").args(&pids).status();
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Polls until chromedriver accepts connections on `port` (bounded).
async fn driver_listening(port: u16) {
    let deadline = Instant::now() + WAIT;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on 127.0.0.1:{port} within {WAIT:?}; see target/board-chromedriver.log"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (bounded) for the element the XPath finds, which exists only once the condition holds.
async fn wait_for(client: &Client, what: &str, xpath: &str) -> fantoccini::elements::Element {
    match client
        .wait()
        .at_most(WAIT)
        .every(Duration::from_millis(50))
        .for_element(Locator::XPath(xpath))
        .await
    {
        Ok(element) => element,
        Err(error) => {
            // What the board showed (its markup without the script and style).
            let mut shown = String::new();
            for part in ["header", "main"] {
                if let Ok(element) = client.find(Locator::Css(part)).await {
                    shown.push_str(&element.html(false).await.unwrap_or_default());
                }
            }
            panic!("the board never showed {what} ({error}); it showed:\n{shown}")
        }
    }
}

/// Waits (bounded) for the prompt the cancel button opens, answers it, and accepts it.
async fn answer_prompt(client: &Client, answer: &str) -> String {
    let deadline = Instant::now() + WAIT;
    let question = loop {
        match client.get_alert_text().await {
            Ok(text) => break text,
            Err(error) => assert!(
                Instant::now() < deadline,
                "no prompt opened within {WAIT:?}: {error}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    client
        .send_alert_text(answer)
        .await
        .expect("typing the reason");
    client.accept_alert().await.expect("accepting the prompt");
    question
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_lists_a_running_task_and_its_cancel_button_cancels_it() {
    let started = Instant::now();
    browser_installed();
    let server = serve(BearerToken::new(TOKEN)).await;
    let id = TaskId::new();
    start_job(&server, id).await;
    // Let `prepare` finish: the task is in `query`, waiting at its gate, progress 1 of 2.
    server.release_steps(1);
    server
        .journal()
        .wait_for(&format!("{id} query entered"))
        .await;
    server.release_cleanups(1);

    let port = free_port();
    let browser = Browser::start(port);
    driver_listening(port).await;
    let client = soon(
        "a WebDriver session",
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(browser.capabilities())
            .connect(&format!("http://127.0.0.1:{port}")),
    )
    .await
    .expect("chromedriver opens a Chromium session");

    let outcome = tokio::time::timeout(Duration::from_secs(90), drive(&client, &server, id)).await;
    let _ = client.close().await;
    drop(browser);
    outcome.expect("the browser part ended within 90 s");

    // The cleanup of the interrupted step ran once, to its end; the task left the registry.
    let journal = server.journal().entries();
    assert_eq!(
        journal
            .iter()
            .filter(|e| e.starts_with(&format!("{id} cleanup query started")))
            .count(),
        1,
        "{journal:?}"
    );
    assert_eq!(
        server.journal().count(&format!("{id} cleanup query done")),
        1,
        "{journal:?}"
    );
    soon("the registry to empty", async {
        while !server.service.tasks.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    eprintln!(
        "the board test took {:?}; screenshots: {} and board-cancelled.png beside it",
        started.elapsed(),
        target_dir().join("board.png").display()
    );
}

async fn drive(client: &Client, server: &common::Server, id: TaskId) {
    client
        .goto(&server.url(&format!("/tasks/board?token={TOKEN}")))
        .await
        .expect("the board opens");
    wait_for(
        client,
        "a live connection",
        "//*[@id='connection' and text()='live']",
    )
    .await;
    // The token left the address bar once the page had it.
    let url = client.current_url().await.expect("the page's address");
    assert_eq!(url.query(), None, "{url}");

    let row = format!("//tbody[@id='running']/tr[@data-id='{id}']");
    wait_for(
        client,
        "the running task's flow",
        &format!("{row}/td[@class='flow' and text()='job']"),
    )
    .await;
    wait_for(
        client,
        "the running task's step",
        &format!("{row}/td[@class='step' and text()='query']"),
    )
    .await;
    wait_for(
        client,
        "its progress",
        &format!("{row}//span[@class='ratio' and text()='1 / 2']"),
    )
    .await;
    wait_for(
        client,
        "its state",
        &format!("{row}//span[contains(@class,'state') and text()='running']"),
    )
    .await;

    let png = client.screenshot().await.expect("a screenshot");
    let path = target_dir().join("board.png");
    std::fs::write(&path, png).expect("the screenshot under target/");

    let button = wait_for(
        client,
        "its cancel button",
        &format!("{row}//button[@class='cancel']"),
    )
    .await;
    button.click().await.expect("clicking cancel");
    let question = answer_prompt(client, "the demo is over").await;
    assert!(question.starts_with("Why cancel job"), "{question}");

    let ended = format!(
        "//ul[@id='history']/li[@data-id='{id}' and contains(@class,'cancelled')]\
         /span[@class='ending' and starts-with(text(),'cancelled: the demo is over')]"
    );
    wait_for(client, "the task ended as cancelled in the history", &ended).await;
    let row_gone = client.find(Locator::XPath(&row)).await;
    assert!(row_gone.is_err(), "the task's row left the running list");
    server
        .journal()
        .wait_for(&format!("{id} cleanup query done"))
        .await;

    let png = client.screenshot().await.expect("a screenshot");
    let path = target_dir().join("board-cancelled.png");
    std::fs::write(&path, png).expect("the screenshot under target/");
}
