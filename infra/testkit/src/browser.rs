//! A real browser for the page's tests: Debian's headless Chromium, driven
//! over WebDriver through Debian's chromedriver (both installed by the test
//! command), one of each per test. Screenshots go to
//! `target/ui-screenshots/` for review.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a test waits for something to appear on the page.
pub const WAIT: Duration = Duration::from_secs(30);

pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Where screenshots are saved: `target/ui-screenshots/` of the workspace.
pub fn screenshot_dir() -> PathBuf {
    let dir = crate::stack::repo_root().join("target/ui-screenshots");
    std::fs::create_dir_all(&dir).expect("create target/ui-screenshots");
    dir
}

impl Browser {
    /// Starts chromedriver and a headless Chromium of `width`×`height`.
    pub async fn start(width: u32, height: u32) -> Self {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(bin).exists(),
                "{bin} is missing: the browser tests need Debian's chromium and chromium-driver \
                 (./infra/test.sh installs them)"
            );
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = std::env::temp_dir().join(format!(
            "receipts-chromium-{}",
            uuid::Uuid::new_v4().simple()
        ));
        // The closed network here refuses Chromium's own background
        // connections; these switches keep it from making them.
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-extensions",
                    "--hide-scrollbars", "--force-device-scale-factor=1",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!(error = %e, "chromedriver not ready yet");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no WebDriver session from {CHROMEDRIVER}: {e}"),
            }
        };
        // The viewport, not the window, is what a phone has.
        client
            .set_window_size(width, height)
            .await
            .expect("set the window size");
        Self {
            client,
            driver,
            profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    /// Waits for an element matching `css`.
    pub async fn find(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => {
                self.failed(css).await;
                panic!("no element {css} within {WAIT:?}: {e}")
            }
        }
    }

    /// The page as it was when a wait gave up, and what its console said.
    async fn failed(&self, what: &str) {
        let name: String = what
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(60)
            .collect();
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(screenshot_dir().join(format!("FAILED-{name}.png")), png);
        }
        if let Ok(html) = self.client.source().await {
            let _ = std::fs::write(screenshot_dir().join(format!("FAILED-{name}.html")), html);
        }
    }

    /// Whether an element matching `css` is on the page now.
    pub async fn exists(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// Whether an element matching `css` is shown.
    pub async fn visible(&self, css: &str) -> bool {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e.is_displayed().await.unwrap_or(false),
            Err(_) => false,
        }
    }

    /// Runs `act` on the element matching `css`. The page swaps fragments
    /// in as events arrive, so an element found a moment ago may be gone:
    /// it is found again (a stale reference is a race, not a failure).
    async fn on_fresh<T, Fut>(&self, css: &str, what: &str, act: impl Fn(Element) -> Fut) -> T
    where
        Fut: std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
    {
        use fantoccini::error::{CmdError, ErrorStatus};
        let deadline = Instant::now() + WAIT;
        loop {
            match act(self.find(css).await).await {
                Ok(t) => return t,
                Err(CmdError::Standard(e))
                    if e.error == ErrorStatus::StaleElementReference
                        && Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("{what} {css}: {e}"),
            }
        }
    }

    pub async fn click(&self, css: &str) {
        self.on_fresh(css, "click", |e| async move { e.click().await })
            .await
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.clear().await.expect("clear");
        e.send_keys(text).await.expect("type");
    }

    pub async fn text(&self, css: &str) -> String {
        self.on_fresh(css, "text of", |e| async move { e.text().await })
            .await
    }

    /// Waits until the text of `css` satisfies `pred`; returns it.
    pub async fn wait_for_text(&self, css: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(e) = self.client.find(Locator::Css(css)).await
                && let Ok(t) = e.text().await
            {
                if pred(&t) {
                    return t;
                }
                last = t;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.failed(css).await;
        panic!("{css} never matched within {WAIT:?}; last text: {last:?}")
    }

    /// Waits until `script` (a JavaScript expression) is true.
    pub async fn wait_until(&self, what: &str, script: &str) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            let v = self
                .client
                .execute(&format!("return !!({script});"), vec![])
                .await
                .expect("run a script");
            if v == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.failed(what).await;
        panic!("{what}: never true within {WAIT:?}");
    }

    /// Runs `script` and returns its value.
    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .expect("run a script")
    }

    /// Saves the page as `target/ui-screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("save the screenshot");
        path
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that panicked: no chromedriver (and its Chromium) outlives it.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
