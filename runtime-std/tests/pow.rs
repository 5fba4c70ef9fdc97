//! The identity proof of work at first start (`run --pow-difficulty`):
//! mined once and kept beside the key in `identity.pow`, loaded on restart,
//! resumed after an interruption, and a corrupt or foreign file kept aside.
//! The difficulty here is 4 bits (16 Argon2id evaluations expected) so that
//! the tests stay fast; the default is chosen in docs/OPERATING.md.

use election_proto::keys::pow_valid;
use election_proto::node::NodeConfig;
use runtime_std::identity::{mine_identity_pow, MineOutcome};
use runtime_std::setup::{LedgerSource, MiningControl, SetupError};
use runtime_std::state::{PowFile, POW_FORMAT};
use runtime_std::{Identity, NodeSetup, StateDir, StdRuntime};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

const BITS: u8 = 4;
const ID_SEED: u64 = 42;

fn setup(dir: &Path, bits: u8) -> NodeSetup {
    let mut config = NodeConfig::default();
    config.guard.pow_difficulty = bits;
    NodeSetup {
        state_dir: Some(dir.to_path_buf()),
        id_seed: Some(ID_SEED),
        ledger: LedgerSource::Synthetic {
            seed: 1,
            tokens: 256,
            coverage: 0.9,
        },
        config,
        ..NodeSetup::new(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
    }
}

fn saved(dir: &Path) -> PowFile {
    StateDir::open(dir)
        .unwrap()
        .load_pow()
        .unwrap()
        .expect("identity.pow written")
}

/// The first nonce from `start` with `bits` of work for the test identity.
fn first_nonce(start: u64) -> u64 {
    let key = Identity::from_u64(ID_SEED).key().public();
    match mine_identity_pow(
        &key,
        BITS,
        start,
        Duration::from_secs(3600),
        &|| false,
        &mut |_| true,
    ) {
        MineOutcome::Found(n) => n,
        MineOutcome::Stopped { .. } => unreachable!("nothing stops it"),
    }
}

#[test]
fn the_proof_is_mined_once_kept_beside_the_key_and_loaded_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let node = setup(dir.path(), BITS).start(&StdRuntime).unwrap();
    let id = node.node().id();
    node.stop().unwrap();
    let pow = saved(dir.path());
    let key = Identity::from_u64(ID_SEED).key().public();
    assert_eq!((pow.format, pow.peer_id, pow.bits), (POW_FORMAT, id, BITS));
    let nonce = pow.nonce.expect("mining finished");
    assert!(pow_valid(&key, nonce, BITS));
    assert_eq!(nonce, first_nonce(0), "the first valid nonce from 0");
    // Restart: the saved proof is used as it is.
    let bytes = std::fs::read(dir.path().join("identity.pow")).unwrap();
    setup(dir.path(), BITS)
        .start(&StdRuntime)
        .unwrap()
        .stop()
        .unwrap();
    assert_eq!(std::fs::read(dir.path().join("identity.pow")).unwrap(), bytes);
}

#[test]
fn an_interrupted_mining_saves_its_progress_and_the_next_start_resumes_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let stopped = NodeSetup {
        mining: MiningControl {
            stop: Some(Arc::new(AtomicBool::new(true))),
            progress: None,
        },
        ..setup(dir.path(), BITS)
    };
    match stopped.start(&StdRuntime) {
        Err(e @ SetupError::Interrupted { bits: BITS, tries: 0 }) => {
            assert!(e.to_string().contains("resumes where it stopped"), "{e}")
        }
        other => panic!("expected an interruption, got {other:?}"),
    }
    let pow = saved(dir.path());
    assert_eq!((pow.nonce, pow.next_nonce), (None, 0));
    // Progress past the first valid nonce: resuming must not find it again.
    let skip = first_nonce(0) + 1;
    let dir_state = StateDir::open(dir.path()).unwrap();
    dir_state
        .save_pow(&PowFile {
            next_nonce: skip,
            ..pow
        })
        .unwrap();
    setup(dir.path(), BITS)
        .start(&StdRuntime)
        .unwrap()
        .stop()
        .unwrap();
    let nonce = saved(dir.path()).nonce.expect("mined");
    assert_eq!(nonce, first_nonce(skip), "resumed at {skip}");
    // A lower difficulty than the one saved starts again at 0 (a nonce below
    // `next_nonce` may pass it).
    let pow = saved(dir.path());
    dir_state.save_pow(&PowFile { nonce: None, ..pow }).unwrap();
    setup(dir.path(), BITS - 1)
        .start(&StdRuntime)
        .unwrap()
        .stop()
        .unwrap();
    assert!(saved(dir.path()).nonce.unwrap() <= nonce);
}

#[test]
fn a_corrupt_or_foreign_proof_file_is_moved_aside_and_mined_anew() {
    for (name, content) in [
        ("corrupt", b"{not json".to_vec()),
        (
            "other format",
            br#"{"format":9,"peer_id":"00","bits":4,"nonce":1,"next_nonce":1}"#.to_vec(),
        ),
        (
            "another identity's",
            serde_json::to_vec(&PowFile {
                format: POW_FORMAT,
                peer_id: Identity::from_u64(7).peer_id(),
                bits: BITS,
                nonce: Some(3),
                next_nonce: 3,
            })
            .unwrap(),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("identity.pow"), &content).unwrap();
        let node = setup(dir.path(), BITS).start(&StdRuntime).unwrap();
        let report = node.report();
        assert_eq!(report.moved_aside.len(), 1, "{name}: {report:?}");
        let aside = &report.moved_aside[0];
        assert!(
            aside
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("identity.pow.corrupt-"),
            "{name}: {aside:?}"
        );
        assert_eq!(std::fs::read(aside).unwrap(), content, "{name}: kept as it was");
        node.stop().unwrap();
        assert_eq!(saved(dir.path()).nonce, Some(first_nonce(0)), "{name}");
    }
}

#[test]
fn an_invalid_saved_nonce_is_not_trusted_and_difficulty_zero_mines_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // A "found" nonce that is not a valid proof (say, hand-edited).
    let bad = (0..64)
        .find(|n| !pow_valid(&Identity::from_u64(ID_SEED).key().public(), *n, BITS))
        .unwrap();
    StateDir::open(dir.path())
        .unwrap()
        .save_pow(&PowFile {
            format: POW_FORMAT,
            peer_id: Identity::from_u64(ID_SEED).peer_id(),
            bits: BITS,
            nonce: Some(bad),
            next_nonce: 0,
        })
        .unwrap();
    setup(dir.path(), BITS)
        .start(&StdRuntime)
        .unwrap()
        .stop()
        .unwrap();
    assert_eq!(saved(dir.path()).nonce, Some(first_nonce(0)));
    // Difficulty 0: no proof needed, nothing written.
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path(), 0).start(&StdRuntime).unwrap().stop().unwrap();
    assert!(!dir.path().join("identity.pow").exists());
    // Above MAX_POW_BITS: a configuration error before any mining.
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        setup(dir.path(), 65).start(&StdRuntime),
        Err(SetupError::Config(_))
    ));
    assert!(!dir.path().join("identity.pow").exists());
}

/// Peers enforce the difficulty on real sockets: a node whose proof has fewer
/// bits than the target asks for is refused (its pong fails the check), one
/// with a mined proof is admitted.
#[test]
fn peers_enforce_the_difficulty() {
    const NET: u8 = 3;
    let start = |dir: &Path, id_seed: u64, bits: u8, bootstrap: Option<SocketAddr>| {
        let mut config = NodeConfig::default();
        config.guard.pow_difficulty = bits;
        NodeSetup {
            state_dir: Some(dir.to_path_buf()),
            id_seed: Some(id_seed),
            bootstrap: bootstrap
                .map(runtime_std::BootstrapPeer::Addr)
                .into_iter()
                .collect(),
            ledger: LedgerSource::Synthetic {
                seed: 1,
                tokens: 256,
                coverage: 0.9,
            },
            config,
            ..NodeSetup::new(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        }
        .start(&StdRuntime)
        .unwrap()
    };
    // An identity whose nonce 0 is not a NET-bit proof: with difficulty 0 it
    // sends nonce 0.
    let cheap = (100..200)
        .find(|s| !pow_valid(&Identity::from_u64(*s).key().public(), 0, NET))
        .unwrap();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let target = start(dirs[0].path(), 1, NET, None);
    let at = target.node().contact().addr;
    let free = start(dirs[1].path(), cheap, 0, Some(at));
    let paid = start(dirs[2].path(), 2, NET, Some(at));
    let (free_id, paid_id) = (free.node().id(), paid.node().id());
    let knows = |id| {
        target
            .node()
            .snapshot()
            .is_ok_and(|s| s.contacts.iter().any(|c| c.id == id))
    };
    // Bounded wait for both outcomes to be decided.
    for _ in 0..300 {
        let rejected = target.node().metrics().map_or(0, |m| m.identities_rejected);
        if rejected >= 1 && knows(paid_id) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(knows(paid_id), "the node with a {NET}-bit proof is admitted");
    assert!(!knows(free_id), "the node without one is not");
    assert!(target.node().metrics().unwrap().identities_rejected >= 1);
    for n in [free, paid, target] {
        n.stop().unwrap();
    }
}
