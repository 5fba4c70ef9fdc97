//! One election run by hand with the core API (the README's example).
//!
//! `cargo run -p election-proto --example by_hand`

use election_proto::{
    generate_signature, BlockId, ElectionConfig, MemoryStore, PeerElection, PeerId, TokenId, WinnerResult,
};

fn main() {
    // A ledger view: token -> block. Real hosts implement `TokenStore` over their ledger.
    let store = MemoryStore::from_mappings((0..60_000u64).map(|i| {
        let t = *blake3::hash(&i.to_le_bytes()).as_bytes();
        (TokenId::new(t), BlockId::new(*blake3::hash(&t).as_bytes()))
    }));
    let me = PeerId::new([1; 32]);
    let token = store.iter().next().expect("non-empty ledger").id;

    let secret = [7u8; 32]; // draw from a CSPRNG, fresh per election
    let mut election = PeerElection::new(token, me, ElectionConfig::default(), secret);
    // Our own walk: winners must be aligned with it.
    let own = generate_signature(&store, &token, &me).expect("dense enough to sign");
    election.set_reference(own).expect("our own walk verifies");

    for n in 2..5u8 {
        let responder = PeerId::new([n; 32]);
        let ticket = election.create_channel(responder).expect("room for a channel"); // send Query{token, ticket}
                                                                                      // ... the responder (here: an identical store) answers:
        let sig = generate_signature(&store, &token, &me).expect("responder holds the token");
        election
            .handle_answer(ticket, &sig.answer, &sig.signature, responder)
            .expect("honest answer accepted");
    }
    match election.check_for_winner() {
        WinnerResult::Single { winner, cluster, .. } => {
            println!("elected {winner} in a cluster of {}", cluster.size())
        }
        WinnerResult::SplitBrain { .. } => println!("two disjoint clusters disagree"),
        WinnerResult::NoConsensus => println!("not yet"),
    }
}
