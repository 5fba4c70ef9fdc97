//! The state directory: atomic files, corrupt-file reporting.

use election_proto::node::{ElectedPeer, PeerSnapshot, SNAPSHOT_VERSION};
use election_proto::wire::Contact;
use election_proto::{PeerId, TokenId};
use runtime_std::state::{write_atomic, StateError, StateFile, STATE_FORMAT};
use runtime_std::{Identity, StateDir};

fn sample_state(id: PeerId) -> StateFile {
    let contact = Contact {
        id: PeerId::from_u64(42),
        addr: "127.0.0.1:4242".parse().unwrap(),
    };
    StateFile {
        format: STATE_FORMAT,
        peer_id: id,
        saved_at_ms: 1234,
        snapshot: PeerSnapshot {
            version: SNAPSHOT_VERSION,
            contacts: vec![contact.clone()],
            elected: vec![ElectedPeer {
                contact,
                elected_at: 10,
                last_election: 1200,
                election_count: 3,
                challenge_token: TokenId::from_u64(7),
                health: Default::default(),
            }],
        },
    }
}

fn no_temp_files(dir: &StateDir) -> bool {
    std::fs::read_dir(dir.path())
        .unwrap()
        .all(|e| !e.unwrap().file_name().to_string_lossy().contains(".tmp."))
}

#[test]
fn identity_and_peers_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = StateDir::open(tmp.path().join("nested/state")).unwrap();
    assert!(dir.load_identity().unwrap().is_none());
    assert!(dir.load_peers().unwrap().is_none());
    let identity = Identity::from_u64(99);
    dir.save_identity(&identity).unwrap();
    assert_eq!(dir.load_identity().unwrap(), Some(identity.clone()));
    let state = sample_state(identity.peer_id());
    dir.save_peers(&state).unwrap();
    assert_eq!(dir.load_peers().unwrap(), Some(state.clone()));
    // Overwriting replaces the file whole and leaves no temporary behind.
    let mut newer = state;
    newer.saved_at_ms = 5678;
    dir.save_peers(&newer).unwrap();
    assert_eq!(dir.load_peers().unwrap(), Some(newer));
    assert!(no_temp_files(&dir));
}

/// The identity file is the node's Ed25519 secret key: reloading it gives the
/// same key pair, whose public key hashes to the peer id, and its signatures
/// verify for that id.
#[test]
fn saved_identity_is_the_signing_key_of_its_id() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = StateDir::open(tmp.path()).unwrap();
    let identity = Identity::from_u64(7);
    dir.save_identity(&identity).unwrap();
    let back = dir.load_identity().unwrap().unwrap();
    let key = back.key();
    assert_eq!(key.public(), identity.key().public());
    assert_eq!(back.peer_id(), election_proto::peer_id_of(&key.public()));
    let sig = key.sign(b"v2");
    assert_eq!(key.public().verify_for(&identity.peer_id(), b"v2", &sig), Ok(()));
    // The file holds exactly the secret key's 64 hex digits.
    let text = std::fs::read_to_string(dir.identity_path()).unwrap();
    assert_eq!(text.trim().len(), 64);
    assert_eq!(text.trim(), PeerId::new(key.secret_bytes()).to_string());
}

#[cfg(unix)]
#[test]
fn identity_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = StateDir::open(tmp.path()).unwrap();
    dir.save_identity(&Identity::from_u64(1)).unwrap();
    let mode = std::fs::metadata(dir.identity_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "mode {mode:o}");
}

#[test]
fn corrupt_or_truncated_files_are_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = StateDir::open(tmp.path()).unwrap();
    let good = serde_json::to_vec(&sample_state(PeerId::from_u64(1))).unwrap();
    for bad in [
        good[..good.len() - 1].to_vec(),
        good[..good.len() / 3].to_vec(),
        b"{}".to_vec(),
        vec![0xff, 0x00, 0x13],
        Vec::new(),
    ] {
        std::fs::write(dir.peers_path(), &bad).unwrap();
        assert!(matches!(dir.load_peers(), Err(StateError::Corrupt { .. })));
    }
    let mut other_format = sample_state(PeerId::from_u64(1));
    other_format.format = STATE_FORMAT + 1;
    std::fs::write(dir.peers_path(), serde_json::to_vec(&other_format).unwrap()).unwrap();
    assert!(matches!(dir.load_peers(), Err(StateError::Corrupt { .. })));
    for bad in [&b"abc"[..], &b""[..], &[b'0'; 63][..], &[0xc3, 0x28][..]] {
        std::fs::write(dir.identity_path(), bad).unwrap();
        let err = dir.load_identity().unwrap_err();
        assert!(matches!(err, StateError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("identity"), "{err}");
    }
}

#[test]
fn failed_atomic_write_leaves_the_old_file() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("file");
    write_atomic(&target, b"old", false).unwrap();
    // Renaming over a directory fails: the old content must survive.
    let blocked = tmp.path().join("dir-target");
    std::fs::create_dir(&blocked).unwrap();
    std::fs::write(blocked.join("child"), b"x").unwrap();
    assert!(write_atomic(&blocked, b"new", false).is_err());
    assert_eq!(std::fs::read(&target).unwrap(), b"old");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn utc_stamps_are_calendar_dates() {
    use runtime_std::state::utc_stamp;
    assert_eq!(utc_stamp(0), "19700101T000000Z");
    assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
    assert_eq!(utc_stamp(1_796_188_500), "20261202T051500Z");
}

#[test]
fn moving_aside_keeps_the_bytes_and_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = StateDir::open(tmp.path()).unwrap();
    let t = 1_796_188_500;
    std::fs::write(dir.identity_path(), b"first").unwrap();
    let a = dir.move_aside_at(&dir.identity_path(), t).unwrap();
    assert_eq!(a, tmp.path().join("identity.corrupt-20261202T051500Z"));
    assert!(!dir.identity_path().exists());
    // The same second again: a new name, the first file untouched.
    std::fs::write(dir.identity_path(), b"second").unwrap();
    let b = dir.move_aside_at(&dir.identity_path(), t).unwrap();
    assert_eq!(b, tmp.path().join("identity.corrupt-20261202T051500Z-1"));
    assert_eq!(std::fs::read(&a).unwrap(), b"first");
    assert_eq!(std::fs::read(&b).unwrap(), b"second");
    // Nothing to move: an error naming the file, not a panic.
    let e = dir.move_aside_at(&dir.identity_path(), t).unwrap_err();
    assert!(e.to_string().contains("identity"), "{e}");
}

/// A `peers.json` written before snapshot version 2 (no per-peer evidence)
/// still loads, and its peers restore on probation, due at once.
#[test]
fn a_version_1_snapshot_still_loads_and_restores() {
    use election_proto::node::{Node, NodeConfig, PeerState};
    use election_proto::MemoryStore;
    let tmp = tempfile::tempdir().unwrap();
    let dir = StateDir::open(tmp.path()).unwrap();
    let fixture = include_bytes!("fixtures/peers-v1.json");
    std::fs::write(dir.peers_path(), fixture).unwrap();
    let state = dir.load_peers().unwrap().expect("the old file loads");
    assert_eq!(state.snapshot.version, 1);
    const { assert!(SNAPSHOT_VERSION > 1) };
    assert_eq!(state.snapshot.elected.len(), 1);
    let old = &state.snapshot.elected[0];
    assert_eq!(
        (old.elected_at, old.last_election, old.election_count),
        (10, 1200, 3)
    );
    assert_eq!(old.health, Default::default());
    // The core takes the snapshot whoever saved it (the state directory is
    // what ties a file to its identity).
    let key = election_proto::NodeKey::from_secret([7; 32]);
    let addr: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
    let mut node = Node::new(NodeConfig::default(), key, addr, MemoryStore::new(), [1; 32]).unwrap();
    assert_eq!(node.restore(state.snapshot), 1);
    let p = node.elected_peers().next().unwrap();
    assert_eq!(p.health.state, PeerState::Probation);
    assert_eq!(p.health.due_at, 0, "due at once");
    // Saved again, it is a current snapshot.
    assert_eq!(node.snapshot().version, SNAPSHOT_VERSION);
}

/// A version-2 `peers.json` written before the liveness fields existed
/// (`contacted_at`, `pinged`, `ponged`) still loads with its evidence, the
/// new fields at 0.
#[test]
fn a_version_2_snapshot_without_liveness_fields_still_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = StateDir::open(tmp.path()).unwrap();
    let fixture = include_bytes!("fixtures/peers-v2-before-liveness.json");
    std::fs::write(dir.peers_path(), fixture).unwrap();
    let state = dir.load_peers().unwrap().expect("the file loads");
    assert_eq!(state.snapshot.version, 2);
    let h = &state.snapshot.elected[0].health;
    assert_eq!(
        (h.answers, h.challenged, h.replied, h.verified_at, h.due_at),
        (3, 4, 4, 1100, 1700)
    );
    assert_eq!((h.contacted_at, h.pinged, h.ponged), (0, 0, 0));
}
