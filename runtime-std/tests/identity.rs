//! Identities, OS randomness and the seeded host RNG: deterministic where they
//! derive from a seed, fresh where they must be, and a clear error (never a
//! weak fallback) when the OS has no randomness to give.

use rand::{Rng, RngCore};
use runtime_std::cluster::{bootstrap_plan, cluster_identity, ClusterOptions};
use runtime_std::identity::{os_random, seeded_rng, RandomnessError};
use runtime_std::setup::{IdentityOrigin, SetupError};
use runtime_std::{Identity, NodeSetup, StdRuntime};
use std::collections::BTreeSet;
use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};

/// A random source that fails the way `getrandom` does on a platform it
/// does not support.
fn no_randomness() -> Result<[u8; 32], RandomnessError> {
    Err(RandomnessError::new(getrandom::Error::UNSUPPORTED))
}

fn loopback_setup() -> NodeSetup {
    NodeSetup::new(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
}

#[test]
fn os_randomness_is_fresh() {
    let a = os_random().expect("this machine has OS randomness");
    let b = os_random().expect("this machine has OS randomness");
    assert_ne!(a, b);
    assert_ne!(a, [0u8; 32]);
    let (x, y) = (Identity::random().unwrap(), Identity::random().unwrap());
    assert_ne!(x.peer_id(), y.peer_id());
}

#[test]
fn randomness_failure_is_a_clear_error() {
    let err = Identity::random_from(no_randomness).unwrap_err();
    assert_eq!(err.source_error(), getrandom::Error::UNSUPPORTED);
    let shown = err.to_string();
    assert!(
        shown.starts_with("cannot read the operating system's randomness: "),
        "{shown}"
    );
    assert!(err.source().is_some());
    // Callers on io::Result get the same message.
    let io: std::io::Error = err.into();
    assert!(io.to_string().contains("randomness"), "{io}");
}

/// Without a saved identity or `--id-seed`, a node needs a fresh identity:
/// if the OS cannot provide one, starting fails with that reason and no node runs.
#[test]
fn setup_without_randomness_fails_instead_of_inventing_an_identity() {
    let setup = NodeSetup {
        random: no_randomness,
        ..loopback_setup()
    };
    match setup.start(&StdRuntime) {
        Err(SetupError::Randomness(e)) => {
            assert_eq!(e.source_error(), getrandom::Error::UNSUPPORTED);
            let err = SetupError::Randomness(e);
            assert!(err.to_string().contains("randomness"), "{err}");
            assert!(err.source().is_some());
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(started) => panic!("started without randomness: {started:?}"),
    }
}

/// A saved identity still needs a fresh node RNG seed: same error.
#[test]
fn setup_with_saved_identity_still_needs_fresh_randomness() {
    let dir = tempfile::tempdir().unwrap();
    runtime_std::StateDir::open(dir.path())
        .unwrap()
        .save_identity(&Identity::from_u64(3))
        .unwrap();
    let setup = NodeSetup {
        random: no_randomness,
        state_dir: Some(dir.path().to_path_buf()),
        ..loopback_setup()
    };
    assert!(matches!(setup.start(&StdRuntime), Err(SetupError::Randomness(_))));
}

/// `--id-seed` derives the identity, the node's RNG seed and probe contents:
/// such a demo node starts even without OS randomness, always as the same peer.
#[test]
fn id_seed_needs_no_randomness_and_is_deterministic() {
    let setup = NodeSetup {
        random: no_randomness,
        id_seed: Some(42),
        ..loopback_setup()
    };
    let started = setup.start(&StdRuntime).expect("id-seed start");
    assert_eq!(started.report().identity, IdentityOrigin::FromSeed);
    assert_eq!(started.node().id(), Identity::from_u64(42).peer_id());
    started.stop().unwrap();
}

#[test]
fn identities_and_seeds_derive_deterministically() {
    assert_eq!(Identity::from_u64(7), Identity::from_u64(7));
    assert_eq!(Identity::from_u64(7).peer_id(), Identity::from_u64(7).peer_id());
    assert_ne!(Identity::from_u64(7).peer_id(), Identity::from_u64(8).peer_id());
    let id = Identity::from_u64(7);
    assert_eq!(id.derived_rng_seed(0), id.derived_rng_seed(0));
    assert_ne!(id.derived_rng_seed(0), id.derived_rng_seed(1));
    assert_ne!(id.derived_rng_seed(0), *id.seed());
    assert_eq!(cluster_identity(5, 3), cluster_identity(5, 3));
    let ids: BTreeSet<_> = (0..64).map(|i| cluster_identity(5, i).peer_id()).collect();
    assert_eq!(ids.len(), 64);
    assert_ne!(cluster_identity(5, 3), cluster_identity(6, 3));
}

#[test]
fn seeded_rng_streams_are_reproducible_and_separated() {
    let stream = |context: &str, seed: &[u8]| {
        let mut rng = seeded_rng(context, seed);
        let mut out = [0u8; 64];
        rng.fill_bytes(&mut out);
        out
    };
    assert_eq!(stream("a", b"1"), stream("a", b"1"));
    assert_ne!(stream("a", b"1"), stream("a", b"2"));
    assert_ne!(stream("a", b"1"), stream("b", b"1"));
    let mut rng = seeded_rng("range", b"");
    for n in [1usize, 2, 3, 7, 64, 1000] {
        assert!((0..100).all(|_| rng.random_range(0..n) < n));
    }
}

#[test]
fn bootstrap_plan_is_deterministic_and_well_formed() {
    let opts = ClusterOptions {
        nodes: 32,
        seed: 9,
        ..ClusterOptions::default()
    };
    let ids: Vec<_> = (0..opts.nodes)
        .map(|i| cluster_identity(opts.seed, i).peer_id())
        .collect();
    let plan = bootstrap_plan(&ids, &opts);
    assert_eq!(plan, bootstrap_plan(&ids, &opts));
    let other_seed = ClusterOptions {
        seed: 10,
        ..opts.clone()
    };
    assert_ne!(plan, bootstrap_plan(&ids, &other_seed));
    // Ring neighbours of every node, by id order.
    let mut ring: Vec<usize> = (0..ids.len()).collect();
    ring.sort_by_key(|&i| ids[i]);
    let n = ids.len();
    for (pos, &i) in ring.iter().enumerate() {
        let picks = &plan[i];
        assert!(!picks.contains(&i), "node {i} knows itself");
        assert!(picks.windows(2).all(|w| w[0] < w[1]), "{picks:?}");
        for d in 1..=opts.ring_neighbours {
            assert!(picks.contains(&ring[(pos + d) % n]));
            assert!(picks.contains(&ring[(pos + n - d) % n]));
        }
        assert!(picks.len() <= 2 * opts.ring_neighbours + opts.random_contacts);
    }
}
