//! DAVE, Discord's end-to-end encryption of voice (mandatory in voice channels since 2026-03-01), as the voice
//! server runs it, plus the simulated call members whose ears the fake listens with.
//!
//! The voice gateway is the MLS *external sender* of each call's group (ciphersuite
//! `MLS_128_DHKEMP256_AES128GCM_SHA256_P256`, group id = the channel id big-endian, credentials = user ids
//! big-endian, see davey `session.rs`). The flow, in the order the fake runs it:
//! 1. SESSION_DESCRIPTION says `dave_protocol_version: 1`; op 11 (clients connect) names the call's other members
//!    (songbird refuses Add proposals for users it was not told about); op 25 carries the external sender.
//! 2. The bot sends its key package (op 26), validated (its credential must be the bot's user id). Then either
//!    - members sit in the channel: their call already exists (the listening client created the group and welcomed
//!      them); the fake proposes the bot's Add to them, the listening client commits, and the bot joins with the
//!      welcome (op 30, with a transition id); or
//!    - the channel is empty: there is no group yet, every member is pending, the fake sends the bot external Add
//!      proposals (op 27) for the simulated listener and lets the bot win the initial commit (op 28, commit +
//!      welcome), which the simulated members check themselves: each processes the commit or the welcome, and the
//!      group they end up in must hold exactly the members the fake proposed; op 29 announces it.
//! 3. The bot answers transition ready (op 23); the fake executes the transition (op 22). From then on every
//!    non-silence Opus frame must be E2EE.
//! 5. A member joining the bot's channel is announced (op 11) and proposed (Add); a member leaving is announced
//!    (op 13) and proposed for removal (Remove, by leaf index). Every member receives the proposals; the bot's
//!    commit (op 28) is the one the fake accepts, checked as in step 2, announced (op 29); step 3 repeats.
//! 6. A bot that cannot process a commit or welcome says so (op 31) and re-sends a key package: the fake starts a
//!    new group (as after op 24 `epoch: 1`, which [`restart_group`] sends on purpose).
//!
//! Binary frames are `[opcode][payload]`, with no sequence number: voice gateway v4 framing, what songbird 0.6 asks
//! for (`?v=4`) and what serenity-voice-model 0.3 parses (`binary.rs`); v8 prefixes a u16 sequence number.
//!
//! Simplified: on re-keys the simulated members' own commits are dropped (the bot's is the first valid one Discord
//! would broadcast; no commit race is played out), one change is in flight at a time (later joins/leaves wait for the
//! running transition), and op 21 (downgrade to transport-only) is never sent, as DAVE is mandatory.

use std::collections::BTreeMap;
use std::num::NonZeroU16;
use std::time::{Duration, Instant};

use davey::{DaveSession, MediaType};
use openmls::prelude::tls_codec::{DeserializeBytes as _, Serialize as _};
use openmls::prelude::{
    BasicCredential, Ciphersuite, ExternalProposal, ExternalSender, GroupEpoch, GroupId,
    KeyPackage, KeyPackageIn, LeafNodeIndex, MlsMessageIn, OpenMlsProvider as _, ProtocolVersion,
    SenderExtensionIndex, VLBytes,
};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use serde_json::{Value, json};

use crate::state::{Outbound, State};

/// The DAVE protocol version the fake speaks (davey 0.1.5 knows only 1).
pub const PROTOCOL_VERSION: u16 = 1;
/// The simulated call member the fake hears with: always in every DAVE call, whoever else is.
pub const LISTENING_CLIENT_ID: u64 = 1_300_000_000_000_000_042;
const CIPHERSUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMP256_AES128GCM_SHA256_P256;
/// The Opus silence frame DAVE leaves in the clear (davey `OPUS_SILENCE_PACKET`).
const OPUS_SILENCE: [u8; 3] = [0xF8, 0xFF, 0xFE];
/// Every E2EE frame ends with this marker (songbird `DAVE_MAGIC_MARKER`).
const MARKER: [u8; 2] = [0xFA, 0xFA];
/// Tag (8) + nonce (≥1) + supplemental size (1) + marker (2): the shortest protocol frame.
const MIN_PROTOCOL_FRAME: usize = 11;
/// Clear frames that arrive this soon after the first transition executed were sent before it (UDP and the
/// websocket are separate paths): not violations.
const CLEAR_GRACE: Duration = Duration::from_millis(500);
/// Violations recorded per call for clear frames (the counter keeps counting).
const MAX_CLEAR_VIOLATIONS: u64 = 3;

/// Voice opcodes of the DAVE protocol.
mod op {
    pub const CLIENTS_CONNECT: u8 = 11;
    pub const CLIENT_DISCONNECT: u8 = 13;
    pub const EXECUTE_TRANSITION: u8 = 22;
    pub const PREPARE_EPOCH: u8 = 24;
    pub const EXTERNAL_SENDER: u8 = 25;
    pub const KEY_PACKAGE: u8 = 26;
    pub const PROPOSALS: u8 = 27;
    pub const COMMIT_WELCOME: u8 = 28;
    pub const ANNOUNCE_COMMIT: u8 = 29;
    pub const WELCOME: u8 = 30;
}

/// One simulated call member: a real DAVE client (davey, as songbird uses) driven by the fake.
struct SimClient {
    session: DaveSession,
    in_group: bool,
}

/// Proposals sent in one epoch, waiting for the bot's commit.
#[derive(Debug)]
struct EpochChange {
    epoch: u64,
    adds: Vec<u64>,
    removes: Vec<u64>,
}

/// The DAVE state of one voice connection (one call, one MLS group).
pub(crate) struct DaveCall {
    channel_id: u64,
    bot_id: u64,
    signer: SignatureKeyPair,
    external_sender: Vec<u8>,
    crypto: OpenMlsRustCrypto,
    clients: BTreeMap<u64, SimClient>,
    /// The group's epoch as of the last commit the fake accepted (0: no group yet).
    pub epoch: u64,
    change: Option<EpochChange>,
    /// Announced transition waiting for the bot's op 23.
    transition: Option<u16>,
    next_transition: u16,
    /// Member changes (user, joined) that wait for the running change.
    queued: Vec<(u64, bool)>,
    pub key_packages: u32,
    pub commits: u32,
    /// Commits for an epoch that already moved on (Discord drops them).
    pub stale_commits: u32,
    pub transitions_executed: u32,
    /// When the first transition executed: from then on frames must be E2EE.
    pub e2ee_since: Option<Instant>,
    clear_violations: u64,
    /// Whether the bot is a member of the current group (after its first executed transition).
    bot_in_group: bool,
}

impl std::fmt::Debug for DaveCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaveCall")
            .field("channel_id", &self.channel_id)
            .field("epoch", &self.epoch)
            .field("members", &self.clients.keys().collect::<Vec<_>>())
            .field("change", &self.change)
            .field("transition", &self.transition)
            .field("transitions_executed", &self.transitions_executed)
            .finish_non_exhaustive()
    }
}

/// What the DAVE layer made of one transport-decrypted Opus frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Opened {
    /// E2EE, decrypted by the simulated listener.
    Dave(Vec<u8>),
    /// E2EE, but the listener could not decrypt it.
    DaveFailed(String),
    /// In the clear while the call was not E2EE yet (or DAVE is off).
    Clear(Vec<u8>),
    /// The Opus silence frame, which DAVE leaves in the clear.
    Silence(Vec<u8>),
    /// In the clear after the first transition: a violation.
    ClearAfterTransition(Vec<u8>),
}

fn version() -> NonZeroU16 {
    NonZeroU16::MIN.saturating_add(PROTOCOL_VERSION - 1)
}

fn binary(op: u8, payload: &[u8]) -> Outbound {
    let mut b = Vec::with_capacity(1 + payload.len());
    b.push(op);
    b.extend_from_slice(payload);
    Outbound::Binary(b)
}

fn text(op: u8, d: &Value) -> Outbound {
    Outbound::Text(json!({"op": op, "d": d}).to_string())
}

fn user_of(credential_content: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(credential_content.try_into().ok()?))
}

impl SimClient {
    fn new(user: u64, channel: u64, external_sender: &[u8]) -> Result<Self, String> {
        let mut session = DaveSession::new(version(), user, channel, None)
            .map_err(|e| format!("simulated DAVE client {user}: {e:?}"))?;
        session.set_external_sender(external_sender).map_err(|e| {
            format!("simulated DAVE client {user} refused the external sender: {e:?}")
        })?;
        Ok(Self {
            session,
            in_group: false,
        })
    }
}

impl DaveCall {
    /// A call in `channel` whose other members (besides the bot) are [`LISTENING_CLIENT_ID`] and `humans`.
    pub fn new(channel_id: u64, bot_id: u64, humans: &[u64]) -> Result<Self, String> {
        let signer = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm())
            .map_err(|e| format!("external sender key: {e:?}"))?;
        // The credential is the voice gateway's own identity; libdave's test external sender uses a basic one too.
        let sender = ExternalSender::new(
            signer.public().into(),
            BasicCredential::new(b"fake-discord voice gateway".to_vec()).into(),
        );
        let external_sender = sender
            .tls_serialize_detached()
            .map_err(|e| format!("external sender encoding: {e:?}"))?;
        let mut call = Self {
            channel_id,
            bot_id,
            signer,
            external_sender,
            crypto: OpenMlsRustCrypto::default(),
            clients: BTreeMap::new(),
            epoch: 0,
            change: None,
            transition: None,
            next_transition: 1,
            queued: Vec::new(),
            key_packages: 0,
            commits: 0,
            stale_commits: 0,
            transitions_executed: 0,
            e2ee_since: None,
            clear_violations: 0,
            bot_in_group: false,
        };
        for &user in std::iter::once(&LISTENING_CLIENT_ID).chain(humans) {
            call.clients.insert(
                user,
                SimClient::new(user, channel_id, &call.external_sender)?,
            );
        }
        call.form_members_group()?;
        Ok(call)
    }

    fn group_id(&self) -> GroupId {
        GroupId::from_slice(&self.channel_id.to_be_bytes())
    }

    /// Members of the group as the simulated listener sees it.
    pub fn group_members(&self) -> Vec<u64> {
        let mut ids = self
            .clients
            .get(&LISTENING_CLIENT_ID)
            .and_then(|c| c.session.get_user_ids())
            .unwrap_or_default();
        ids.sort_unstable();
        ids
    }

    /// Frames right after SESSION_DESCRIPTION: who is in the call (op 11), then the external sender (op 25).
    pub fn greeting(&self) -> Vec<Outbound> {
        let ids: Vec<String> = self.clients.keys().map(u64::to_string).collect();
        vec![
            text(op::CLIENTS_CONNECT, &json!({"user_ids": ids})),
            binary(op::EXTERNAL_SENDER, &self.external_sender),
        ]
    }

    fn validated_key_package(&self, bytes: &[u8], user: u64) -> Result<KeyPackage, String> {
        let kp = KeyPackageIn::tls_deserialize_exact_bytes(bytes)
            .map_err(|e| format!("key package of {user} does not parse: {e:?}"))?
            .validate(self.crypto.crypto(), ProtocolVersion::Mls10)
            .map_err(|e| format!("key package of {user} is invalid: {e:?}"))?;
        if kp.ciphersuite() != CIPHERSUITE {
            return Err(format!(
                "key package of {user} uses {:?}, DAVE v1 is {CIPHERSUITE:?}",
                kp.ciphersuite()
            ));
        }
        let owner = user_of(kp.leaf_node().credential().serialized_content());
        if owner != Some(user) {
            return Err(format!(
                "key package credential names user {owner:?}, the connection is user {user}'s"
            ));
        }
        Ok(kp)
    }

    fn sim_key_package(&mut self, user: u64) -> Result<KeyPackage, String> {
        let client = self
            .clients
            .get_mut(&user)
            .ok_or_else(|| format!("no simulated client {user}"))?;
        let bytes = client
            .session
            .create_key_package()
            .map_err(|e| format!("simulated client {user} key package: {e:?}"))?;
        self.validated_key_package(&bytes, user)
    }

    /// The proposal vector of op 27 (a TLS `vector<MLSMessage>`): external Adds for the simulated `adds` (and
    /// the bot's key package `bot`), Removes for `removes`, all in the current epoch.
    fn proposal_vector(
        &mut self,
        adds: &[u64],
        bot: Option<KeyPackage>,
        removes: &[u64],
    ) -> Result<Vec<u8>, String> {
        let (group, epoch) = (self.group_id(), GroupEpoch::from(self.epoch));
        let sender = SenderExtensionIndex::new(0);
        let mut messages = Vec::new();
        let mut packages = Vec::new();
        for &user in adds {
            packages.push((user, self.sim_key_package(user)?));
        }
        packages.extend(bot.map(|kp| (self.bot_id, kp)));
        for (user, kp) in packages {
            let msg = ExternalProposal::new_add::<OpenMlsRustCrypto>(
                kp,
                group.clone(),
                epoch,
                &self.signer,
                sender,
            )
            .map_err(|e| format!("external Add proposal for {user}: {e:?}"))?;
            messages.extend(
                msg.tls_serialize_detached()
                    .map_err(|e| format!("proposal encoding: {e:?}"))?,
            );
        }
        for &user in removes {
            let leaf = self
                .clients
                .get(&LISTENING_CLIENT_ID)
                .and_then(|c| c.session.group())
                .and_then(|g| {
                    g.members()
                        .find(|m| user_of(m.credential.serialized_content()) == Some(user))
                        .map(|m| m.index)
                })
                .ok_or_else(|| format!("member {user} to remove is not in the group"))?;
            let msg = ExternalProposal::new_remove::<OpenMlsRustCrypto>(
                LeafNodeIndex::new(leaf.u32()),
                group.clone(),
                epoch,
                &self.signer,
                sender,
            )
            .map_err(|e| format!("external Remove proposal for {user}: {e:?}"))?;
            messages.extend(
                msg.tls_serialize_detached()
                    .map_err(|e| format!("proposal encoding: {e:?}"))?,
            );
        }
        VLBytes::new(messages)
            .tls_serialize_detached()
            .map_err(|e| format!("proposal vector encoding: {e:?}"))
    }

    /// Proposals (op 27, append) adding `adds` and removing `removes` in the current epoch, for the bot to commit.
    fn proposals(&mut self, adds: &[u64], removes: &[u64]) -> Result<Outbound, String> {
        let vector = self.proposal_vector(adds, None, removes)?;
        // Members already in the group receive the proposals too: the commit refers to them by reference. (They
        // also commit, as every member does; the fake lets the bot's commit win, so theirs are dropped.)
        for (user, client) in &mut self.clients {
            if client.in_group && !removes.contains(user) {
                client
                    .session
                    .process_proposals(davey::ProposalsOperationType::APPEND, &vector, None)
                    .map_err(|e| {
                        format!("simulated member {user} rejects the fake's proposals: {e:?}")
                    })?;
            }
        }
        let mut payload = vec![0u8]; // operation type 0: append
        payload.extend_from_slice(&vector);
        self.change = Some(EpochChange {
            epoch: self.epoch,
            adds: adds.to_vec(),
            removes: removes.to_vec(),
        });
        Ok(binary(op::PROPOSALS, &payload))
    }

    /// Starts over without a group: fresh simulated clients, epoch 0, E2EE not required until the next transition.
    fn reset_group(&mut self) -> Result<(), String> {
        let users: Vec<u64> = self.clients.keys().copied().collect();
        self.clients.clear();
        for user in users {
            self.clients.insert(
                user,
                SimClient::new(user, self.channel_id, &self.external_sender)?,
            );
        }
        self.epoch = 0;
        self.change = None;
        self.transition = None;
        self.e2ee_since = None;
        self.bot_in_group = false;
        self.form_members_group()
    }

    /// When members sit in the channel, their call already exists before the bot arrives: the listening client
    /// creates the group and commits their Adds, they join by its welcome. (An empty channel has no call yet.)
    fn form_members_group(&mut self) -> Result<(), String> {
        let humans: Vec<u64> = self
            .clients
            .keys()
            .copied()
            .filter(|&u| u != LISTENING_CLIENT_ID)
            .collect();
        if humans.is_empty() {
            return Ok(());
        }
        let vector = self.proposal_vector(&humans, None, &[])?;
        let (_commit, welcome) = self.listener_commits(&vector)?;
        for user in &humans {
            let client = self.clients.get_mut(user).ok_or("member vanished")?;
            client.session.process_welcome(&welcome).map_err(|e| {
                format!("simulated member {user} rejects the call's welcome: {e:?}")
            })?;
            client.in_group = true;
        }
        self.epoch = 1;
        Ok(())
    }

    /// The listening client commits `vector` (Adds only, so there is a welcome); the other members already in the
    /// group process the proposals and the commit. Returns the commit and the welcome.
    fn listener_commits(&mut self, vector: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
        let mut listener_commit = None;
        for (user, client) in &mut self.clients {
            if client.in_group || *user == LISTENING_CLIENT_ID {
                let cw = client
                    .session
                    .process_proposals(davey::ProposalsOperationType::APPEND, vector, None)
                    .map_err(|e| format!("simulated member {user} rejects the proposals: {e:?}"))?;
                if *user == LISTENING_CLIENT_ID {
                    listener_commit = cw;
                }
            }
        }
        let cw = listener_commit.ok_or("the listening client made no commit")?;
        let welcome = cw
            .welcome
            .ok_or("the listening client's commit has no welcome")?;
        for (user, client) in &mut self.clients {
            if client.in_group || *user == LISTENING_CLIENT_ID {
                client.session.process_commit(&cw.commit).map_err(|e| {
                    format!("simulated member {user} rejects the listener's commit: {e:?}")
                })?;
                client.in_group = true;
            }
        }
        Ok((cw.commit, welcome))
    }

    /// The bot joins the members' existing group: the listening client commits the bot's Add, the bot gets the
    /// welcome (op 30) with a transition id.
    fn welcome_bot(&mut self, kp: KeyPackage) -> Result<Vec<Outbound>, String> {
        let vector = self.proposal_vector(&[], Some(kp), &[])?;
        let (_commit, welcome) = self.listener_commits(&vector)?;
        self.check_members()?;
        Ok(vec![self.announce(op::WELCOME, &welcome)])
    }

    /// The group (as the listener sees it) must hold the bot and every simulated member.
    fn check_members(&mut self) -> Result<(), String> {
        let mut expected: Vec<u64> = self.clients.keys().copied().collect();
        expected.push(self.bot_id);
        expected.sort_unstable();
        let members = self.group_members();
        if members != expected {
            return Err(format!(
                "the group holds {members:?}, the proposals asked for {expected:?}"
            ));
        }
        self.epoch = self
            .clients
            .get(&LISTENING_CLIENT_ID)
            .and_then(|c| c.session.epoch())
            .map_or(0, |e| e.as_u64());
        Ok(())
    }

    /// Op 29 or 30 with a new transition id, which the bot's op 23 must name.
    fn announce(&mut self, opcode: u8, message: &[u8]) -> Outbound {
        let id = self.next_transition;
        self.next_transition = self.next_transition.checked_add(1).unwrap_or(1);
        self.transition = Some(id);
        let mut payload = id.to_be_bytes().to_vec();
        payload.extend_from_slice(message);
        binary(opcode, &payload)
    }

    /// Op 26: the bot's key package. Without a group, every member is pending and the bot gets Add proposals for
    /// the others; a key package while a group exists means the bot reset its session: a new group.
    pub fn on_key_package(&mut self, bytes: &[u8]) -> Result<Vec<Outbound>, String> {
        let kp = self.validated_key_package(bytes, self.bot_id)?;
        self.key_packages += 1;
        if self.bot_in_group || self.change.is_some() || self.transition.is_some() {
            self.reset_group()?;
        }
        if self.epoch > 0 {
            return self.welcome_bot(kp);
        }
        let adds: Vec<u64> = self.clients.keys().copied().collect();
        Ok(vec![self.proposals(&adds, &[])?])
    }

    /// Op 28: the bot's commit, followed by a welcome when it adds members. Checked by the simulated members;
    /// then announced (op 29).
    pub fn on_commit_welcome(&mut self, bytes: &[u8]) -> Result<Vec<Outbound>, String> {
        let (message, welcome) = MlsMessageIn::tls_deserialize_bytes(bytes)
            .map_err(|e| format!("op 28 does not start with an MLS message: {e:?}"))?;
        let commit = bytes
            .get(..bytes.len() - welcome.len())
            .ok_or("op 28 commit length")?;
        let epoch = message
            .try_into_protocol_message()
            .map_err(|e| format!("op 28 commit is not a public or private message: {e:?}"))?
            .epoch()
            .as_u64();
        let Some(change) = self.change.take_if(|c| c.epoch == epoch) else {
            // Discord broadcasts the first valid commit of an epoch and drops the rest.
            self.stale_commits += 1;
            return Ok(Vec::new());
        };
        if change.adds.is_empty() != welcome.is_empty() {
            return Err(format!(
                "op 28 for {change:?} {} a welcome",
                if welcome.is_empty() { "lacks" } else { "has" }
            ));
        }
        for user in &change.removes {
            self.clients.remove(user);
        }
        for (user, client) in &mut self.clients {
            let result = if client.in_group {
                client
                    .session
                    .process_commit(commit)
                    .map_err(|e| format!("{e:?}"))
            } else if change.adds.contains(user) {
                client
                    .session
                    .process_welcome(welcome)
                    .map_err(|e| format!("{e:?}"))
            } else {
                continue;
            };
            result.map_err(|e| {
                format!("simulated member {user} rejects the bot's commit/welcome for epoch {epoch}: {e}")
            })?;
            client.in_group = true;
        }
        self.check_members()
            .map_err(|e| format!("after the bot's commit: {e}"))?;
        self.commits += 1;
        Ok(vec![self.announce(op::ANNOUNCE_COMMIT, commit)])
    }

    /// Op 23 from the bot: every simulated member is ready at once, so the transition executes (op 22); then the
    /// next queued member change starts.
    pub fn on_transition_ready(&mut self, d: &Value) -> Result<Vec<Outbound>, String> {
        let id = d.get("transition_id").and_then(Value::as_u64);
        let Some(expected) = self.transition else {
            return Err(format!(
                "DAVE transition ready {d} with no transition announced"
            ));
        };
        if id != Some(u64::from(expected)) {
            return Err(format!(
                "DAVE transition ready {d}, the announced transition is {expected}"
            ));
        }
        self.transition = None;
        self.bot_in_group = true;
        self.transitions_executed += 1;
        self.e2ee_since.get_or_insert_with(Instant::now);
        let mut out = vec![text(
            op::EXECUTE_TRANSITION,
            &json!({"transition_id": expected}),
        )];
        out.extend(self.pump()?);
        Ok(out)
    }

    /// Records that `user` joined (`true`) or left the bot's channel; starts the change when nothing is running.
    pub fn member_changed(&mut self, user: u64, joined: bool) -> Result<Vec<Outbound>, String> {
        if user == self.bot_id || user == LISTENING_CLIENT_ID {
            return Ok(Vec::new());
        }
        self.queued.push((user, joined));
        self.pump()
    }

    /// Sends the queued member changes as one epoch change, once the group exists and nothing is in flight.
    fn pump(&mut self) -> Result<Vec<Outbound>, String> {
        if self.epoch == 0
            || self.change.is_some()
            || self.transition.is_some()
            || self.queued.is_empty()
        {
            return Ok(Vec::new());
        }
        let mut wanted = BTreeMap::new();
        for (user, joined) in self.queued.drain(..) {
            wanted.insert(user, joined);
        }
        let adds: Vec<u64> = wanted
            .iter()
            .filter(|&(u, &j)| j && !self.clients.contains_key(u))
            .map(|(u, _)| *u)
            .collect();
        let removes: Vec<u64> = wanted
            .iter()
            .filter(|&(u, &j)| !j && self.clients.contains_key(u))
            .map(|(u, _)| *u)
            .collect();
        if adds.is_empty() && removes.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        if !adds.is_empty() {
            let ids: Vec<String> = adds.iter().map(u64::to_string).collect();
            out.push(text(op::CLIENTS_CONNECT, &json!({"user_ids": ids})));
        }
        for user in &removes {
            out.push(text(
                op::CLIENT_DISCONNECT,
                &json!({"user_id": user.to_string()}),
            ));
        }
        for &user in &adds {
            self.clients.insert(
                user,
                SimClient::new(user, self.channel_id, &self.external_sender)?,
            );
        }
        out.push(self.proposals(&adds, &removes)?);
        Ok(out)
    }

    /// Op 24 `epoch: 1`: the bot must build a new group; its key package (op 26) restarts the handshake.
    pub fn prepare_new_group(&mut self) -> Result<Vec<Outbound>, String> {
        self.reset_group()?;
        Ok(vec![text(
            op::PREPARE_EPOCH,
            &json!({"protocol_version": PROTOCOL_VERSION, "epoch": 1}),
        )])
    }

    /// Removes the DAVE layer from one Opus frame, as the simulated listener hears it.
    pub fn open(&mut self, frame: Vec<u8>) -> Opened {
        if frame == OPUS_SILENCE {
            return Opened::Silence(frame);
        }
        if frame.len() < MIN_PROTOCOL_FRAME || !frame.ends_with(&MARKER) {
            return match self.e2ee_since {
                Some(t) if t.elapsed() > CLEAR_GRACE => Opened::ClearAfterTransition(frame),
                _ => Opened::Clear(frame),
            };
        }
        let Some(listener) = self.clients.get_mut(&LISTENING_CLIENT_ID) else {
            return Opened::DaveFailed("no simulated listener".into());
        };
        match listener
            .session
            .decrypt(self.bot_id, MediaType::AUDIO, &frame)
        {
            Ok(clear) => Opened::Dave(clear),
            Err(e) => Opened::DaveFailed(format!("{e:?}")),
        }
    }

    /// Whether a clear frame after the transition should still be reported (the first few per call).
    pub fn report_clear_frame(&mut self) -> bool {
        self.clear_violations += 1;
        self.clear_violations <= MAX_CLEAR_VIOLATIONS
    }
}

// ------------------------------------------------------------------------------------------------------------------
// Glue to the fake's state: find the call, send what it produced, record what went wrong.

/// Runs `f` on guild `g`'s DAVE call, sends its frames on the voice websocket and records its error as a violation.
pub(crate) fn with_call(
    st: &mut State,
    g: u64,
    what: &str,
    f: impl FnOnce(&mut DaveCall) -> Result<Vec<Outbound>, String>,
) {
    let Some(conn) = st.voice.get_mut(&g) else {
        return;
    };
    let Some(call) = conn.dave.as_mut() else {
        st.violation(format!(
            "guild {g}: DAVE {what} although SESSION_DESCRIPTION said dave_protocol_version 0"
        ));
        return;
    };
    match f(call) {
        Ok(frames) => {
            if let Some(ws) = &conn.ws {
                for frame in frames {
                    let _ = ws.send(frame);
                }
            }
        }
        Err(e) => st.violation(format!("guild {g}: DAVE {what}: {e}")),
    }
}

/// A binary frame from the bot: op 26 (key package) or op 28 (commit + welcome).
pub(crate) fn on_binary(st: &mut State, g: u64, frame: &[u8]) {
    match frame.split_first() {
        Some((&op::KEY_PACKAGE, kp)) => {
            with_call(st, g, "key package (op 26)", |c| c.on_key_package(kp));
        }
        Some((&op::COMMIT_WELCOME, cw)) => {
            with_call(st, g, "commit/welcome (op 28)", |c| c.on_commit_welcome(cw));
        }
        other => st.violation(format!(
            "guild {g}: voice binary frame with opcode {:?}: clients send only 26 and 28",
            other.map(|(op, _)| op)
        )),
    }
}

/// A member's voice state changed in guild `g`: a join or leave of the bot's DAVE call re-keys it.
pub(crate) fn member_voice_changed(st: &mut State, g: u64, user: u64) {
    let Some(channel) = st
        .voice
        .get(&g)
        .and_then(|c| c.dave.as_ref())
        .map(|c| c.channel_id)
    else {
        return;
    };
    let in_call = st
        .world
        .guilds
        .get(&g)
        .and_then(|guild| guild.voice_states.get(&user))
        .is_some_and(|v| v.channel_id == channel);
    with_call(st, g, "member change", |c| c.member_changed(user, in_call));
}

/// The members besides the bot in its voice channel of guild `g`, for a new call.
pub(crate) fn humans_in(st: &State, g: u64, channel: u64) -> Vec<u64> {
    let bot = st.world.bot.id;
    st.world
        .guilds
        .get(&g)
        .map(|guild| guild.voice_channel_members(channel))
        .unwrap_or_default()
        .into_iter()
        .filter(|&u| u != bot)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANNEL: u64 = 1_100_000_000_000_000_001;
    const BOT: u64 = 1_100_000_000_000_000_002;
    const HUMAN: u64 = 1_100_000_000_000_000_003;

    /// The bot's side, as songbird drives davey (`driver/tasks/ws.rs`).
    struct Bot {
        session: DaveSession,
        recognised: Vec<u64>,
    }

    impl Bot {
        fn new() -> Self {
            Self {
                session: DaveSession::new(version(), BOT, CHANNEL, None).expect("session"),
                recognised: vec![BOT],
            }
        }

        /// Feeds frames to the bot; returns its answers (binary op 26/28 as bytes, op 23 as JSON).
        fn receive(&mut self, frames: Vec<Outbound>) -> Vec<Vec<u8>> {
            use serenity_voice_model::Event;
            let mut out = Vec::new();
            for f in frames {
                // Parsed with serenity-voice-model, exactly as songbird parses them.
                let event = match f {
                    Outbound::Text(t) => serde_json::from_str::<Event>(&t)
                        .unwrap_or_else(|e| panic!("songbird cannot parse {t}: {e}")),
                    Outbound::Binary(b) => serenity_voice_model::deserialize_binary_event(&b)
                        .unwrap_or_else(|e| panic!("songbird cannot parse binary {b:02X?}: {e}")),
                    Outbound::Close(..) => panic!("close"),
                };
                match event {
                    Event::ClientsConnect(c) => {
                        self.recognised.extend(c.user_ids.iter().map(|u| u.0));
                    }
                    Event::ClientDisconnect(_) | Event::DaveExecuteTransition(_) => {}
                    Event::DaveMlsExternalSender(e) => self
                        .session
                        .set_external_sender(&e.external_sender)
                        .expect("ext sender"),
                    Event::DaveMlsProposals(p) => {
                        assert!(matches!(
                            p.operation_type,
                            serenity_voice_model::payload::DaveMlsProposalsOperationType::Append
                        ));
                        if let Some(cw) = self
                            .session
                            .process_proposals(
                                davey::ProposalsOperationType::APPEND,
                                &p.proposals,
                                Some(&self.recognised),
                            )
                            .expect("proposals")
                        {
                            let mut frame = vec![28];
                            frame.extend(cw.commit);
                            frame.extend(cw.welcome.unwrap_or_default());
                            out.push(frame);
                        }
                    }
                    Event::DaveMlsWelcome(w) => {
                        self.session.process_welcome(&w.welcome).expect("welcome");
                        out.push(
                            json!({"op": 23, "d": {"transition_id": w.transition_id, "protocol_version": 1}})
                                .to_string()
                                .into_bytes(),
                        );
                    }
                    Event::DaveMlsAnnounceCommitTransition(c) => {
                        self.session
                            .process_commit(&c.commit_message)
                            .expect("own commit");
                        out.push(
                            json!({"op": 23, "d": {"transition_id": c.transition_id, "protocol_version": 1}})
                                .to_string()
                                .into_bytes(),
                        );
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            out
        }
    }

    /// Plays the bot's answers into the call until it is quiet.
    fn converse(call: &mut DaveCall, bot: &mut Bot, first: Vec<Outbound>) {
        let mut pending = bot.receive(first);
        while let Some(answer) = pending.pop() {
            let frames = if answer[0] == b'{' {
                let v: Value = serde_json::from_slice(&answer).expect("json");
                call.on_transition_ready(&v["d"]).expect("ready")
            } else if answer[0] == 26 {
                call.on_key_package(&answer[1..]).expect("key package")
            } else {
                call.on_commit_welcome(&answer[1..])
                    .expect("commit accepted")
            };
            pending.extend(bot.receive(frames));
        }
    }

    fn joined_call(humans: &[u64]) -> (DaveCall, Bot) {
        let mut call = DaveCall::new(CHANNEL, BOT, humans).expect("call");
        let mut bot = Bot::new();
        let kp = bot.session.create_key_package().expect("kp");
        let greeting = call.greeting();
        bot.receive(greeting);
        let proposals = call.on_key_package(&kp).expect("proposals");
        converse(&mut call, &mut bot, proposals);
        (call, bot)
    }

    #[test]
    fn the_bot_creates_the_group_with_the_simulated_members_and_the_listener_decrypts_its_frames() {
        let (mut call, mut bot) = joined_call(&[HUMAN]);
        // The member's call existed (epoch 1); the bot joined it by a welcome (epoch 2).
        assert_eq!(
            (call.epoch, call.transitions_executed, call.commits),
            (2, 1, 0)
        );
        let mut expected = vec![BOT, HUMAN, LISTENING_CLIENT_ID];
        expected.sort_unstable();
        assert_eq!(call.group_members(), expected);
        assert!(bot.session.is_ready());
        let opus = [0x78u8, 1, 2, 3, 4, 5, 6, 7, 8];
        let sealed = bot
            .session
            .encrypt_opus(&opus)
            .expect("encrypt")
            .into_owned();
        assert!(sealed.ends_with(&MARKER));
        assert_eq!(call.open(sealed), Opened::Dave(opus.to_vec()));
        assert_eq!(
            call.open(OPUS_SILENCE.to_vec()),
            Opened::Silence(OPUS_SILENCE.to_vec())
        );
        assert_eq!(
            call.open(vec![1, 2, 3, 4]),
            Opened::Clear(vec![1, 2, 3, 4]),
            "within the grace period"
        );
        let mut tampered = bot
            .session
            .encrypt_opus(&opus)
            .expect("encrypt")
            .into_owned();
        tampered[0] ^= 1;
        assert!(matches!(call.open(tampered), Opened::DaveFailed(_)));
    }

    #[test]
    fn a_join_and_a_leave_each_advance_the_epoch_and_frames_still_decrypt() {
        let (mut call, mut bot) = joined_call(&[]);
        let opus = [0x78u8, 9, 9, 9];
        let frames = call.member_changed(HUMAN, true).expect("join");
        converse(&mut call, &mut bot, frames);
        assert_eq!(call.epoch, 2);
        assert!(call.group_members().contains(&HUMAN));
        let sealed = bot
            .session
            .encrypt_opus(&opus)
            .expect("encrypt")
            .into_owned();
        assert_eq!(call.open(sealed), Opened::Dave(opus.to_vec()));
        let frames = call.member_changed(HUMAN, false).expect("leave");
        converse(&mut call, &mut bot, frames);
        assert_eq!(call.epoch, 3);
        assert!(!call.group_members().contains(&HUMAN));
        let sealed = bot
            .session
            .encrypt_opus(&opus)
            .expect("encrypt")
            .into_owned();
        assert_eq!(call.open(sealed), Opened::Dave(opus.to_vec()));
        assert_eq!(call.transitions_executed, 3);
    }

    #[test]
    fn a_second_commit_for_the_same_epoch_is_dropped_and_foreign_key_packages_are_refused() {
        let mut call = DaveCall::new(CHANNEL, BOT, &[]).expect("call");
        let mut bot = Bot::new();
        let kp = bot.session.create_key_package().expect("kp");
        bot.receive(call.greeting());
        let proposals = call.on_key_package(&kp).expect("proposals");
        let answers = bot.receive(proposals);
        let commit = answers.first().expect("the bot commits").clone();
        let announced = call.on_commit_welcome(&commit[1..]).expect("accepted");
        assert_eq!(announced.len(), 1);
        assert!(
            call.on_commit_welcome(&commit[1..])
                .expect("dropped")
                .is_empty()
        );
        assert_eq!((call.commits, call.stale_commits), (1, 1));
        assert!(
            call.on_commit_welcome(&[0u8; 4]).is_err(),
            "not an MLS message"
        );
        let mut other = DaveSession::new(version(), HUMAN, CHANNEL, None).expect("session");
        let foreign = other.create_key_package().expect("kp");
        let err = call.on_key_package(&foreign).expect_err("refused");
        assert!(err.contains(&format!("names user Some({HUMAN})")), "{err}");
    }
}
