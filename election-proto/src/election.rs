//! One election (placeholder, being written).

use serde::{Deserialize, Serialize};

/// Opaque 64-bit tag that ties an answer or referral to the channel that asked.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct MessageTicket(pub u64);

/// Election parameters (placeholder).
#[derive(Clone, Debug)]
pub struct ElectionConfig;
/// Election errors (placeholder).
#[derive(Clone, Debug)]
pub enum ElectionError {}
/// Election outcome (placeholder).
#[derive(Clone, Debug)]
pub enum WinnerResult {}
/// One election (placeholder).
#[derive(Clone, Debug)]
pub struct PeerElection;
