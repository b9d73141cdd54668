//! A fleet of fake HTTPS servers on loopback addresses, for `scripts/bench-probe.sh`.
//!
//!     fleet CIDR PORTS        e.g. fleet 127.1.0.0/25 20000-20079   (10,240 listeners)
//!
//! Binds one listener per address and port (loopback only: anything else is refused), serves
//! every one over TLS with one self-signed certificate, and gives each a behaviour from a fixed
//! mix: Exchange with a full `X-OWA-Version`, Exchange showing only its CU (so the probe also
//! asks the export tool and the build folders), Exchange with OWA off and the export tool on,
//! nginx and Apache. Prints `ready N exchange M` on standard output once listening, then serves until
//! killed. Every request is one the probe sent; nothing here sends any.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::net::SocketAddr;

use support::{Behaviour, Style};
use taskforce_probe::{Host, TargetList, parse_ports};

fn behaviour(index: usize) -> Behaviour {
    const FULL: [&str; 5] = ["15.1.2176.2", "15.1.2375.37", "15.2.986.5", "15.0.1497.2", "15.2.1258.12"];
    match index % 20 {
        0..=7 => support::exchange(Style::FullHeader(FULL[index % FULL.len()].to_owned())),
        8..=11 => support::exchange(Style::PathOnly("15.1.2176".to_owned())),
        12..=14 => support::exchange(Style::ManifestOnly("15.2.1118.20".to_owned())),
        15..=17 => support::nginx(),
        _ => support::apache(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [cidr, ports] = args.as_slice() else {
        eprintln!("usage: fleet CIDR PORTS   (e.g. fleet 127.1.0.0/25 20000-20079)");
        std::process::exit(2);
    };
    let ports = parse_ports(ports).expect("ports");
    let mut targets = TargetList::new(&ports);
    targets.add(cidr).expect("cidr");
    let addrs: Vec<SocketAddr> = targets
        .iter()
        .map(|t| match t.host {
            Host::Ip(ip) if ip.is_loopback() => SocketAddr::new(ip, t.port),
            _ => panic!("the fleet binds loopback addresses only, not {}", t.host),
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let tls = support::valid_tls(&["fleet.test"]);
        let mut fakes = Vec::with_capacity(addrs.len());
        for (index, addr) in addrs.iter().enumerate() {
            let listener = tokio::net::TcpListener::bind(addr).await.unwrap_or_else(|e| panic!("bind {addr}: {e}"));
            fakes.push(support::serve(listener, behaviour(index), Some(tls.clone())));
        }
        let exchange = (0..fakes.len()).filter(|index| index % 20 < 15).count();
        println!("ready {} exchange {exchange}", fakes.len());
        std::io::stdout().flush().unwrap();
        std::future::pending::<()>().await;
    });
}
