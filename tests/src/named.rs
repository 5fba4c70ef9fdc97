//! Counter arrays indexed by an enum, serialized as `name → count` maps in index
//! order, as the core's `Metrics` does: a report says what each count counts, and
//! a new enum variant adds a key instead of shifting positions.
//!
//! Use with `#[serde(serialize_with = "...")]` on a `[u64; Enum::COUNT]` field.

use election_proto::node::FailureReason;
use election_proto::wire::MessageKind;
use serde::ser::{SerializeMap, Serializer};

/// Serializes `counts` as a map from `names[i]` to `counts[i]`.
pub(crate) fn serialize<S: Serializer, const N: usize>(
    names: [&'static str; N],
    counts: &[u64; N],
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(N))?;
    for (name, count) in names.iter().zip(counts) {
        map.serialize_entry(name, count)?;
    }
    map.end()
}

/// Counts indexed by [`MessageKind::index`], keyed by [`MessageKind::as_str`].
pub(crate) fn by_message_kind<S: Serializer>(v: &[u64; MessageKind::COUNT], s: S) -> Result<S::Ok, S::Error> {
    serialize(MessageKind::ALL.map(MessageKind::as_str), v, s)
}

/// Counts indexed by [`FailureReason::index`], keyed by [`FailureReason::name`].
pub(crate) fn by_failure_reason<S: Serializer>(
    v: &[u64; FailureReason::COUNT],
    s: S,
) -> Result<S::Ok, S::Error> {
    serialize(FailureReason::ALL.map(FailureReason::name), v, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct T {
        #[serde(serialize_with = "by_message_kind")]
        sent: [u64; MessageKind::COUNT],
    }

    #[test]
    fn arrays_become_maps_in_index_order() {
        let json = serde_json::to_string(&T {
            sent: [1, 2, 3, 4, 5, 6, 7, 8, 9],
        })
        .unwrap();
        assert_eq!(
            json,
            r#"{"sent":{"query":1,"answer":2,"referral":3,"ping":4,"pong":5,"find_neighbours":6,"neighbours":7,"retry":8,"cookie_query":9}}"#
        );
    }
}
