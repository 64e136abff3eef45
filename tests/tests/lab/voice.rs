//! Voice in the NAT lab: a member joins its group's voice on its host's
//! address, talks (push-to-talk held, a 440 Hz tone) and records when
//! decoded sound comes out of its playout.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aura_crypto::GroupId;
use aura_node::voice::TalkMode;
use aura_node::voice_api::{VoiceConfig, VoiceHandle, VoiceStats};
use aura_node::Node;

/// A member's voice while the test runs.
pub struct LabVoice {
    handle: Arc<VoiceHandle>,
    heard: Arc<Mutex<Vec<Instant>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// What a member's voice saw.
#[derive(Debug, Default)]
pub struct VoiceSeen {
    /// When each playout frame carrying sound (not silence) came out.
    pub heard: Vec<Instant>,
    /// The engine's counters at the end.
    pub stats: VoiceStats,
}

impl VoiceSeen {
    /// Sound heard after `t`.
    pub fn heard_after(&self, t: Instant) -> usize {
        self.heard.iter().filter(|h| **h > t).count()
    }
}

/// 48 kHz mono tone, `secs` long.
fn tone(secs: u32) -> Vec<i16> {
    (0..48_000 * secs)
        .map(|i| ((f64::from(i) * 440.0 * std::f64::consts::TAU / 48_000.0).sin() * 8_000.0) as i16)
        .collect()
}

/// Whether a playout frame carries sound.
fn loud(frame: &[i16]) -> bool {
    let e: f64 = frame.iter().map(|s| f64::from(*s).powi(2)).sum();
    (e / frame.len().max(1) as f64).sqrt() > 500.0
}

impl LabVoice {
    /// Joins `gid`'s voice bound on `ip` and starts talking.
    pub async fn start(node: &Node, gid: GroupId, ip: &str) -> Self {
        let cfg = VoiceConfig {
            bind: format!("{ip}:0").parse().unwrap(),
            mode: TalkMode::PushToTalk,
            ..VoiceConfig::default()
        };
        let handle = node.join_voice(gid, cfg).await.unwrap();
        handle.set_ptt(true).await.unwrap();
        let mut playout = handle.take_playout().unwrap();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let h = heard.clone();
        let listen = tokio::spawn(async move {
            while let Some(f) = playout.recv().await {
                if loud(&f) {
                    h.lock().unwrap().push(Instant::now());
                }
            }
        });
        let talk = handle.talk_samples(tone(120));
        Self {
            handle,
            heard,
            tasks: vec![listen, talk],
        }
    }

    /// Stops talking and listening; what was seen.
    pub async fn finish(self) -> VoiceSeen {
        let stats = tokio::time::timeout(Duration::from_secs(5), self.handle.stats())
            .await
            .unwrap()
            .unwrap();
        for t in &self.tasks {
            t.abort();
        }
        self.handle.leave().await;
        let heard = std::mem::take(&mut *self.heard.lock().unwrap());
        VoiceSeen { heard, stats }
    }
}

/// A curious relay: a session made of the relay's key and the group's
/// public roster opens none of the member's frames; the relay is no member.
pub async fn assert_relay_opens_nothing(node: &Node, gid: GroupId, relay: &aura_crypto::Identity) {
    use aura_crypto::{FrameKind, GroupSession, Roster};
    let session = node.group_session(gid).await.unwrap();
    let mut s = session.lock().unwrap();
    assert!(
        !s.roster().is_member(&relay.member_id()),
        "the relay is in the roster"
    );
    let roster = Roster::from_ops(s.roster().ops().cloned().collect()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let frame = s
        .seal(FrameKind::Chat, b"sealed with its sender key", now)
        .unwrap();
    let mut curious = GroupSession::from_roster(relay.clone(), roster, now, &mut rand::rngs::OsRng);
    assert!(
        curious.open(&frame, now).is_err(),
        "the relay opened a frame"
    );
}

/// A member's voice as the test watches it while it runs.
#[derive(Debug, Clone, Default)]
pub struct VoiceProgress {
    /// Members with a direct media connection.
    pub direct: usize,
    /// Relays voice goes through.
    pub relays: Vec<aura_crypto::MemberId>,
    /// When each playout frame carrying sound came out.
    pub heard: Vec<Instant>,
    /// Voice frames received and lost, summed over the streams heard.
    pub received: u64,
    pub lost: u64,
}

impl VoiceProgress {
    /// Sound heard after `t`.
    pub fn heard_after(&self, t: Instant) -> usize {
        self.heard.iter().filter(|h| **h > t).count()
    }
}

impl LabVoice {
    /// Where the voice stands now.
    pub async fn progress(&self) -> VoiceProgress {
        let stats = self.handle.stats().await.unwrap_or_default();
        VoiceProgress {
            direct: stats.connected.len(),
            received: stats.voice.iter().map(|(_, q)| q.received).sum(),
            lost: stats.voice.iter().map(|(_, q)| q.lost).sum(),
            relays: stats.relays,
            heard: self.heard.lock().unwrap().clone(),
        }
    }
}
