//! What the figures were measured on, for the report's header.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

pub struct Machine {
    pub date: String,
    pub cores: usize,
    pub cpu: String,
    pub kernel: String,
    pub rustc: String,
    pub tokio: String,
}

impl Machine {
    pub fn probe() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or_else(|| "unknown".into(), |(_, model)| model.trim().to_string());
        let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("--version")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .map_or_else(|| "unknown".into(), |v| v.trim().to_string());
        Machine {
            date: utc_date_now(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            rustc,
            tokio: locked_version("tokio").unwrap_or_else(|| "unknown".into()),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{} · {} cores, {} · Linux {} · {} · tokio {}",
            self.date, self.cores, self.cpu, self.kernel, self.rustc, self.tokio
        )
    }

    pub fn json(&self) -> Value {
        json!({
            "date": self.date,
            "cores": self.cores,
            "cpu": self.cpu,
            "kernel": self.kernel,
            "rustc": self.rustc,
            "tokio": self.tokio,
        })
    }
}

/// The version of `package` in the workspace's Cargo.lock: the one this binary was built with.
fn locked_version(package: &str) -> Option<String> {
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
    let text = std::fs::read_to_string(lock).ok()?;
    let name_line = format!("name = \"{package}\"");
    let mut lines = text.lines();
    lines.find(|line| *line == name_line)?;
    let version = lines.next()?.strip_prefix("version = \"")?;
    Some(version.trim_end_matches('"').to_string())
}

/// Today's date in UTC as YYYY-MM-DD, without a date crate (Howard Hinnant's civil_from_days).
fn utc_date_now() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (seconds / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
