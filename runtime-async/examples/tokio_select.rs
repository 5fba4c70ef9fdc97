//! `election_proto::Node` embedded directly in a tokio `select!` loop: three
//! nodes on 127.0.0.1 elect each other for a few seconds.
//!
//! `cargo run -p runtime-async --no-default-features --features tokio --example tokio_select`

use election_proto::node::{Command, Event, Input, Node, NodeConfig, Output};
use election_proto::MemoryStore;
use runtime_std::{host::short_id, ledger::synthetic_ledger, Identity};
use std::{net::SocketAddr, process::ExitCode, time::Duration};
use tokio::{net::UdpSocket, sync::mpsc, time::sleep_until, time::Instant};

/// One node: do what it asks, then wait for a command, its deadline or a
/// datagram (in that order of priority) and hand that over. Returns its elections.
async fn run(
    mut node: Node<SocketAddr, MemoryStore>,
    socket: UdpSocket,
    mut commands: mpsc::Receiver<Command<SocketAddr>>,
) -> usize {
    let start = Instant::now();
    let now_ms = || start.elapsed().as_millis() as u64;
    let mut buf = [0u8; 2048];
    let mut elected = 0;
    node.handle_input(now_ms(), Input::Timer);
    while !node.is_stopped() {
        while let Some(output) = node.poll_output() {
            match output {
                Output::Send { to, bytes } => _ = socket.send_to(&bytes, to).await, // UDP: best effort
                Output::Event(Event::Elected { winner, .. }) => {
                    elected += 1;
                    println!("{} elected {}", short_id(&node.id()), short_id(&winner.id));
                }
                Output::Event(_) => {}
            }
        }
        let deadline = node.poll_timeout();
        let wake_at = start + Duration::from_millis(deadline.unwrap_or(0));
        let input = tokio::select! {
            biased;
            cmd = commands.recv() => Input::Command(cmd.unwrap_or(Command::Shutdown)),
            () = sleep_until(wake_at), if deadline.is_some() => Input::Timer,
            Ok((n, from)) = socket.recv_from(&mut buf) => Input::Datagram { from, bytes: &buf[..n] },
        };
        node.handle_input(now_ms(), input);
    }
    elected
}

#[tokio::main]
async fn main() -> std::io::Result<ExitCode> {
    let ledger = synthetic_ledger(1, 32 * 1024);
    let mut config = NodeConfig::default();
    config.health.election_interval_ms = 1_000;
    let mut nodes = Vec::new();
    for n in 0..3 {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let identity = Identity::from_u64(n);
        let addr = socket.local_addr()?;
        let node = Node::new(
            config.clone(),
            identity.key(),
            addr,
            ledger.clone(),
            identity.derived_rng_seed(0),
        )
        .expect("valid config");
        nodes.push((node, socket));
    }
    let contacts: Vec<_> = nodes.iter().map(|(node, _)| node.contact().clone()).collect();
    let (mut senders, mut tasks) = (Vec::new(), Vec::new());
    for (node, socket) in nodes {
        let (tx, rx) = mpsc::channel(8);
        let others = contacts.iter().filter(|c| c.id != node.id()).cloned().collect();
        tx.try_send(Command::AddContacts(others))
            .expect("room in a new channel");
        senders.push(tx);
        tasks.push(tokio::spawn(run(node, socket, rx)));
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    drop(senders); // a closed command channel shuts its node down
    let mut elected = 0;
    for task in tasks {
        elected += task.await.expect("node task");
    }
    println!("{elected} elections");
    let code = if elected > 0 { 0 } else { 1 };
    Ok(ExitCode::from(code))
}
