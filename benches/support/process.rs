//! The service and its baselines as processes of their own: started, waited for, measured.

use std::{
    io::{BufRead as _, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    time::Duration,
};

use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// The resident memory of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

pub fn percentile(mut v: Vec<f64>, p: usize) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(v.len() * p / 100).min(v.len() - 1)]
}

/// Starts `command`, waits for it to log `listening` (JSON) and returns it with its address.
/// The caller kills and reaps it.
#[allow(clippy::zombie_processes)]
pub fn spawn(mut command: Command) -> (Child, SocketAddr) {
    let mut child = command
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start");
    let stderr = child.stderr.take().expect("stderr");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    for pipe in [
        Box::new(stderr) as Box<dyn std::io::Read + Send>,
        Box::new(stdout),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(300))
            .expect("a log line");
        if let Some(addr) = line
            .split(['"', ' ', '='])
            .find_map(|w| w.parse::<SocketAddr>().ok())
            .filter(|_| line.contains("listening"))
        {
            std::thread::spawn(move || while rx.recv().is_ok() {});
            return (child, addr);
        }
    }
}

pub async fn wait_serving(addr: SocketAddr, service: &str) {
    let mut health = HealthClient::new(
        Channel::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect_lazy(),
    );
    loop {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .map(|r| r.into_inner().status);
        if matches!(status, Ok(1)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn channels(addr: SocketAddr, n: usize) -> Vec<Channel> {
    (0..n)
        .map(|_| {
            Channel::from_shared(format!("http://{addr}"))
                .expect("endpoint")
                .connect_lazy()
        })
        .collect()
}
