//! The harness proves itself against a real poise 0.7 + songbird 0.6 bot before alastor depends on it.
//!
//! The bot is written here, in the test binary: every scenario re-runs this binary as a child process with
//! `--exact selftest_bot --ignored`, so the bot gets its own process (its own environment with `SSL_CERT_FILE`, its
//! own rustls and songbird globals, killed on drop) exactly as alastor's end-to-end tests will spawn alastor.
//!
//! The bot is configured the way notes/fake-discord.md §4.1 asks of alastor: `HttpBuilder::proxy` with the
//! ratelimiter disabled and `ClientBuilder::new_with_http`, and voice TLS trusted through tokio-tungstenite's
//! native roots (a dev-dependency feature) plus `SSL_CERT_FILE`.

use std::time::Duration;

use fake_discord::{
    BotProcess, FakeDiscord, GUILD_ID, LISTENER_ID, LURKER_ID, OTHER_VOICE_CHANNEL_ID,
    STARTUP_TIMEOUT, VOICE_CHANNEL_ID,
};

// ------------------------------------------------------------------------------------------------------------------
// The bot under test.

mod bot {
    use poise::serenity_prelude as serenity;
    use songbird::SerenityInit as _;

    pub struct Data;
    pub type Error = Box<dyn std::error::Error + Send + Sync>;
    type Context<'a> = poise::Context<'a, Data, Error>;

    const STATIONS: &[&str] = &["tone440", "tone880", "jazz", "news"];

    #[allow(clippy::unused_async)] // poise calls autocomplete callbacks as async functions.
    async fn autocomplete_station(
        _ctx: Context<'_>,
        partial: &str,
    ) -> serenity::CreateAutocompleteResponse {
        let choices = STATIONS
            .iter()
            .filter(|s| s.starts_with(partial))
            .map(|s| serenity::AutocompleteChoice::new(*s, *s))
            .collect();
        serenity::CreateAutocompleteResponse::new().set_choices(choices)
    }

    /// Is the bot alive?
    #[poise::command(slash_command)]
    async fn ping(ctx: Context<'_>) -> Result<(), Error> {
        ctx.say("pong").await?;
        Ok(())
    }

    /// The radio.
    #[poise::command(slash_command, guild_only, subcommands("play", "stop"))]
    #[allow(clippy::unused_async)] // poise requires a body for the parent of sub-commands.
    async fn radio(_ctx: Context<'_>) -> Result<(), Error> {
        Ok(())
    }

    /// Interleaved stereo f32 PCM of a sine at 48 kHz.
    fn sine_bytes(freq: f32, secs: usize) -> Vec<u8> {
        fake_discord::audio::sine(freq, 0.5, secs as f32)
            .into_iter()
            .flat_map(|v| {
                let b = v.to_le_bytes();
                [b, b].concat()
            })
            .collect()
    }

    /// Play a station in your voice channel.
    #[poise::command(slash_command, guild_only)]
    async fn play(
        ctx: Context<'_>,
        #[description = "Station"]
        #[autocomplete = "autocomplete_station"]
        station: String,
    ) -> Result<(), Error> {
        ctx.defer().await?;
        let guild_id = ctx.guild_id().ok_or("guild only")?;
        let channel_id = {
            let guild = ctx.guild().ok_or("guild not cached")?;
            guild
                .voice_states
                .get(&ctx.author().id)
                .and_then(|vs| vs.channel_id)
                .ok_or("you are not in a voice channel")?
        };
        let manager = songbird::get(ctx.serenity_context())
            .await
            .ok_or("songbird not registered")?;
        let call = manager.join(guild_id, channel_id).await?;
        let freq = if station == "tone880" { 880.0 } else { 440.0 };
        let src = songbird::input::RawAdapter::new(
            std::io::Cursor::new(sine_bytes(freq, 120)),
            48_000,
            2,
        );
        call.lock().await.play_only_input(src.into());
        let controls = vec![
            serenity::CreateActionRow::Buttons(vec![
                serenity::CreateButton::new("radio:stop")
                    .label("Stop")
                    .style(serenity::ButtonStyle::Danger),
                serenity::CreateButton::new("radio:feedback").label("Feedback"),
            ]),
            serenity::CreateActionRow::SelectMenu(
                serenity::CreateSelectMenu::new(
                    "radio:volume",
                    serenity::CreateSelectMenuKind::String {
                        options: vec![
                            serenity::CreateSelectMenuOption::new("Loud", "loud"),
                            serenity::CreateSelectMenuOption::new("Quiet", "quiet"),
                        ],
                    },
                )
                .placeholder("Volume"),
            ),
        ];
        ctx.send(
            poise::CreateReply::default()
                .content(format!("Now playing {station} in <#{channel_id}>"))
                .components(controls),
        )
        .await?;
        Ok(())
    }

    /// Stop and leave.
    #[poise::command(slash_command, guild_only)]
    async fn stop(ctx: Context<'_>) -> Result<(), Error> {
        let guild_id = ctx.guild_id().ok_or("guild only")?;
        let manager = songbird::get(ctx.serenity_context())
            .await
            .ok_or("songbird not registered")?;
        manager.remove(guild_id).await?;
        ctx.say("Left voice").await?;
        Ok(())
    }

    async fn on_component(
        ctx: &serenity::Context,
        c: &serenity::ComponentInteraction,
    ) -> Result<(), Error> {
        use serenity::{CreateInteractionResponse as R, CreateInteractionResponseMessage as M};
        let response = match (c.data.custom_id.as_str(), &c.data.kind) {
            ("radio:stop", _) => {
                if let (Some(g), Some(manager)) = (c.guild_id, songbird::get(ctx).await)
                    && let Some(call) = manager.get(g)
                {
                    call.lock().await.stop();
                }
                R::UpdateMessage(M::new().content("Stopped").components(vec![]))
            }
            ("radio:volume", serenity::ComponentInteractionDataKind::StringSelect { values }) => {
                R::UpdateMessage(M::new().content(format!("Volume: {}", values.join(","))))
            }
            ("radio:feedback", _) => R::Modal(
                serenity::CreateModal::new("feedback", "Feedback").components(vec![
                    serenity::CreateActionRow::InputText(serenity::CreateInputText::new(
                        serenity::InputTextStyle::Short,
                        "Your feedback",
                        "feedback:text",
                    )),
                ]),
            ),
            _ => return Ok(()),
        };
        c.create_response(ctx, response).await?;
        Ok(())
    }

    async fn on_modal(
        ctx: &serenity::Context,
        m: &serenity::ModalInteraction,
    ) -> Result<(), Error> {
        let text: Vec<String> = m
            .data
            .components
            .iter()
            .flat_map(|row| &row.components)
            .filter_map(|c| match c {
                serenity::ActionRowComponent::InputText(t) => t.value.clone(),
                _ => None,
            })
            .collect();
        let reply = serenity::CreateInteractionResponseMessage::new()
            .content(format!("Thanks: {}", text.join(" ")))
            .ephemeral(true);
        m.create_response(ctx, serenity::CreateInteractionResponse::Message(reply))
            .await?;
        Ok(())
    }

    pub async fn run(token: String, api_base: String, guild: u64) -> Result<(), Error> {
        let http = serenity::HttpBuilder::new(&token)
            .proxy(api_base)
            .ratelimiter_disabled(true)
            .build();
        let framework = poise::Framework::builder()
            .options(poise::FrameworkOptions {
                commands: vec![ping(), radio()],
                event_handler: |framework, event| {
                    Box::pin(async move {
                        let ctx = framework.serenity_context;
                        match event {
                            serenity::FullEvent::InteractionCreate {
                                interaction: serenity::Interaction::Component(c),
                            } => on_component(ctx, c).await,
                            serenity::FullEvent::InteractionCreate {
                                interaction: serenity::Interaction::Modal(m),
                            } => on_modal(ctx, m).await,
                            _ => Ok(()),
                        }
                    })
                },
                ..Default::default()
            })
            .setup(move |ctx, _ready, framework| {
                Box::pin(async move {
                    poise::builtins::register_in_guild(
                        ctx,
                        &framework.options().commands,
                        guild.into(),
                    )
                    .await?;
                    Ok(Data)
                })
            })
            .build();
        let intents = serenity::GatewayIntents::non_privileged();
        let mut client = serenity::ClientBuilder::new_with_http(http, intents)
            .framework(framework)
            .register_songbird()
            .await?;
        client.start().await?;
        Ok(())
    }
}

/// The bot process. Ignored in normal runs: the scenarios start it as a child (`--exact selftest_bot --ignored`).
#[test]
#[ignore = "the bot half of the self-tests, run as a child process by the scenarios below"]
fn selftest_bot() {
    let env = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| panic!("{k} must be set (by FakeDiscord::spawn_bot)"))
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let guild = env("TEST_GUILD_ID")
        .parse()
        .expect("TEST_GUILD_ID is a number");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = rt.block_on(bot::run(
        env("DISCORD_TOKEN"),
        env("DISCORD_API_BASE"),
        guild,
    )) {
        panic!("bot stopped: {e}");
    }
}

// ------------------------------------------------------------------------------------------------------------------
// Scenarios.

const VOICE_TIMEOUT: Duration = Duration::from_secs(30);

async fn start_with(d: &FakeDiscord) -> BotProcess {
    let exe = std::env::current_exe().expect("path of the test binary");
    let bot = d
        .spawn_bot(
            exe,
            &[
                "--exact",
                "selftest_bot",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ],
            &[
                ("TEST_GUILD_ID", &GUILD_ID.to_string()),
                ("RUST_LOG", "warn"),
            ],
        )
        .expect("spawn the self-test bot");
    d.wait_ready(STARTUP_TIMEOUT)
        .await
        .expect("bot starts, identifies and registers its commands");
    bot
}

/// serenity drops payloads it cannot parse with only a warning: make that a failure.
fn assert_no_silent_drops(bot: &BotProcess) {
    for needle in [
        "Err deserializing",
        "Unhandled error",
        "Failed to deserialize",
    ] {
        let lines = bot.log_lines_containing(needle);
        assert!(
            lines.is_empty(),
            "the bot dropped payloads the fake sent:\n{}",
            lines.join("\n")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_registers_commands_heartbeats_and_answers_a_slash_command() {
    let d = FakeDiscord::builder()
        .heartbeat_interval(Duration::from_millis(500))
        .start()
        .await
        .expect("fake starts");
    let bot = start_with(&d).await;

    let commands = d.commands(Some(GUILD_ID));
    let names: Vec<&str> = commands.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["ping", "radio"]);
    let radio = &commands[1];
    let subs: Vec<&str> = radio["options"]
        .as_array()
        .expect("sub-commands")
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    assert_eq!(subs, ["play", "stop"]);
    assert_eq!(radio["options"][0]["options"][0]["autocomplete"], true);

    // The startup sequence of notes/fake-discord.md §1.3, as the fake recorded it.
    let routes: Vec<String> = d
        .requests()
        .iter()
        .filter_map(|r| r.route.clone())
        .collect();
    for expected in [
        "GET /gateway",
        "GET /oauth2/applications/@me",
        "GET /users/@me",
        "PUT /applications/{id}/guilds/{id}/commands",
    ] {
        assert!(
            routes.iter().any(|r| r == expected),
            "{expected} missing from {routes:?}"
        );
    }
    assert!(d.requests().iter().all(|r| {
        r.user_agent
            .as_deref()
            .is_some_and(|ua| ua.starts_with("DiscordBot ("))
    }));
    let stats = d.gateway().stats();
    assert_eq!((stats.identifies, stats.shard), (1, Some([0, 1])));
    assert_ne!(
        stats.intents.unwrap_or(0) & fake_discord::world::intents::GUILD_VOICE_STATES,
        0
    );
    d.gateway()
        .wait_until(
            "two heartbeats acknowledged",
            Duration::from_secs(10),
            |s| s.heartbeats >= 2,
        )
        .await
        .expect("heartbeats");

    let ix = d
        .guild(GUILD_ID)
        .member(LURKER_ID)
        .run("/ping", [])
        .await
        .expect("dispatched");
    let cb = ix.callback().await.expect("answered");
    assert_eq!(
        cb.kind, 4,
        "ctx.say answers with CHANNEL_MESSAGE_WITH_SOURCE"
    );
    assert_eq!(ix.reply().await.expect("reply").content(), "pong");

    // Commands the bot did not register cannot be run, like in a Discord client.
    let err = d
        .guild(GUILD_ID)
        .member(LURKER_ID)
        .run("/radio", [])
        .await
        .expect_err("needs a sub-command");
    assert!(err.to_string().contains("needs a sub-command"), "{err}");
    assert!(
        d.guild(GUILD_ID)
            .member(LURKER_ID)
            .run("/nope", [])
            .await
            .is_err()
    );
    assert_no_silent_drops(&bot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autocomplete_is_answered_with_type_8_within_three_seconds() {
    let d = FakeDiscord::start().await;
    let bot = start_with(&d).await;
    let member = d.guild(GUILD_ID).member(LISTENER_ID);
    let choices = member
        .autocomplete("/radio play", ("station", "to"), [])
        .await
        .expect("choices");
    let names: Vec<&str> = choices.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["tone440", "tone880"]);
    assert_eq!(choices[0].value, "tone440");
    assert!(
        member
            .autocomplete("/radio play", ("station", "zz"), [])
            .await
            .expect("empty is an answer")
            .is_empty()
    );
    let callbacks = d
        .rest()
        .requests_to("POST /interactions/{id}/{token}/callback");
    assert_eq!(callbacks.len(), 2);
    assert!(
        callbacks
            .iter()
            .all(|r| r.status == 204 && r.body.as_ref().is_some_and(|b| b["type"] == 8))
    );
    assert_no_silent_drops(&bot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_join_plays_a_440_hz_tone_that_the_fake_hears_then_the_stop_button_silences_it() {
    let d = FakeDiscord::start().await;
    let bot = start_with(&d).await;
    let guild = d.guild(GUILD_ID);

    let ix = guild
        .member(LISTENER_ID)
        .run("/radio play", [("station", "tone440")])
        .await
        .expect("dispatched");
    assert_eq!(
        ix.callback().await.expect("deferred").kind,
        5,
        "ctx.defer answers DEFERRED_CHANNEL_MESSAGE"
    );
    let reply = ix.reply().await.expect("follow-up after joining");
    assert_eq!(
        reply.content(),
        format!("Now playing tone440 in <#{VOICE_CHANNEL_ID}>")
    );
    assert_eq!(
        reply.custom_ids(),
        ["radio:stop", "radio:feedback", "radio:volume"]
    );
    assert_eq!(
        guild.bot_voice_channel(),
        Some(VOICE_CHANNEL_ID),
        "joined the invoker's channel"
    );

    let voice = guild.voice();
    let mode = voice
        .wait_connected(VOICE_TIMEOUT)
        .await
        .expect("voice handshake");
    assert_eq!(
        mode, "aead_aes256_gcm_rtpsize",
        "songbird 0.6 prefers AES-256-GCM"
    );
    let heard = voice
        .wait_for_tone(440.0, VOICE_TIMEOUT)
        .await
        .expect("the tone arrives");
    let f = heard.frequency.expect("not silent");
    assert!((f - 440.0).abs() < 2.0, "dominant frequency {f}");
    assert!(
        heard.dbfs > -12.0 && heard.dbfs < -6.0,
        "a 0.5-amplitude sine is about -9 dBFS, heard {}",
        heard.dbfs
    );
    let window = Duration::from_millis(500);
    assert!(voice.tone_ratio(440.0, window) > 0.9 && voice.tone_ratio(880.0, window) < 0.01);
    let stats = voice.stats();
    assert_eq!(
        (stats.decrypt_failures, stats.opus_errors),
        (0, 0),
        "{stats:?}"
    );
    assert!(
        stats.speaking_updates >= 1,
        "songbird sends SPEAKING before audio: {stats:?}"
    );

    // The voice server "crashes" (4015): songbird resumes (op 7) on the same endpoint and the tone comes back.
    assert!(voice.disconnect(4015), "voice websocket open");
    d.guild(GUILD_ID)
        .voice()
        .wait_connected(VOICE_TIMEOUT)
        .await
        .expect("voice session back after 4015");
    let after = voice.stats();
    assert_eq!(
        (after.resumes, after.connections, after.ssrc),
        (1, 1, stats.ssrc),
        "{after:?}"
    );
    voice
        .wait_for_tone(440.0, VOICE_TIMEOUT)
        .await
        .expect("the tone continues");
    assert_resume_kept_dave(&voice, &stats).await;

    let stopped = reply.click("radio:stop").await.expect("clicked");
    assert_eq!(
        stopped.callback().await.expect("answered").kind,
        7,
        "UPDATE_MESSAGE"
    );
    let updated = reply.refresh().expect("message still exists");
    assert_eq!(
        (updated.content(), updated.custom_ids().len()),
        ("Stopped", 0)
    );
    voice
        .wait_silent(Duration::from_millis(400), Duration::from_secs(10))
        .await
        .expect("silence after stop");
    assert_no_silent_drops(&bot);
}

/// After a voice resume the DAVE group is the same (no new transition) and new frames keep decrypting.
async fn assert_resume_kept_dave(
    voice: &fake_discord::VoiceHandle<'_>,
    before: &fake_discord::VoiceStats,
) {
    // The tone's window may still hold frames from before the resume: listen past it.
    let after_resume = voice.record(Duration::from_secs(1)).await;
    assert!(
        after_resume.len() / 960 >= 25,
        "frames kept coming after the resume"
    );
    let resumed = voice.stats();
    assert!(
        resumed.dave_frames > before.dave_frames
            && resumed.dave_decrypt_failures == 0
            && (resumed.epoch, resumed.dave_transitions) == (2, 1),
        "a resume keeps the DAVE group: {resumed:?}"
    );
}

/// Frames that arrived over one stretch of a call: how many, how many the DAVE layer opened, and what was lost.
fn delta(
    before: &fake_discord::VoiceStats,
    after: &fake_discord::VoiceStats,
) -> (u64, u64, u64, u64) {
    (
        after.packets - before.packets,
        after.dave_frames - before.dave_frames,
        after.dave_decrypt_failures - before.dave_decrypt_failures,
        after.lost - before.lost,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dave_call_is_e2ee_the_fake_decrypts_the_tone_and_a_join_and_a_leave_rekey_without_a_gap() {
    let d = FakeDiscord::start().await;
    let bot = start_with(&d).await;
    let guild = d.guild(GUILD_ID);
    guild
        .member(LISTENER_ID)
        .run("/radio play", [("station", "tone440")])
        .await
        .expect("dispatched")
        .reply()
        .await
        .expect("playing");
    let voice = guild.voice();
    voice
        .wait_connected(VOICE_TIMEOUT)
        .await
        .expect("voice handshake");
    let first = voice
        .wait_dave_transitions(1, VOICE_TIMEOUT)
        .await
        .expect("songbird commits the initial group and executes the transition");
    let mut members = vec![
        fake_discord::BOT_ID,
        LISTENER_ID,
        fake_discord::dave::LISTENING_CLIENT_ID,
    ];
    members.sort_unstable();
    assert_eq!(
        (
            first.dave_protocol_version,
            first.epoch,
            &first.dave_members
        ),
        (1, 2, &members),
        "the listener's call existed (epoch 1), the bot joined it by a welcome (op 30, epoch 2): {first:?}"
    );
    assert_eq!(first.dave_transitions, 1, "{first:?}");
    voice
        .wait_for_tone(440.0, VOICE_TIMEOUT)
        .await
        .expect("the tone, decrypted by the simulated listener");
    let playing = voice.stats();
    assert!(playing.dave_frames >= 10, "{playing:?}");
    assert_eq!(
        (
            playing.dave_decrypt_failures,
            playing.clear_frames_after_transition,
            playing.opus_errors
        ),
        (0, 0, 0),
        "{playing:?}"
    );

    // A member joins the call (Add proposal, epoch 2), then leaves it (Remove proposal, epoch 3). songbird
    // re-keys its sender ratchet at each commit; every frame across both re-keys still decrypts.
    let lurker = guild.member(LURKER_ID);
    lurker.join_voice(VOICE_CHANNEL_ID).await.expect("joined");
    let joined = voice
        .wait_dave_transitions(2, VOICE_TIMEOUT)
        .await
        .expect("re-key after the join");
    assert_eq!(joined.epoch, 3, "{joined:?}");
    assert!(joined.dave_members.contains(&LURKER_ID), "{joined:?}");
    voice.record(Duration::from_millis(500)).await;
    lurker.leave_voice().await.expect("left");
    let left = voice
        .wait_dave_transitions(3, VOICE_TIMEOUT)
        .await
        .expect("re-key after the leave");
    assert_eq!(
        (left.epoch, left.dave_members.as_slice()),
        (4, members.as_slice()),
        "{left:?}"
    );
    voice.record(Duration::from_millis(500)).await;
    let after = voice.stats();
    let (packets, opened, failed, lost) = delta(&playing, &after);
    assert!(
        packets >= 40,
        "audio kept flowing across the re-keys: {after:?}"
    );
    assert_eq!(
        (opened, failed, lost),
        (packets, 0, 0),
        "every frame across the two re-keys arrived and decrypted: {after:?}"
    );
    voice
        .wait_for_tone(440.0, VOICE_TIMEOUT)
        .await
        .expect("the tone after the re-keys");

    // The call's group starts over (op 24, epoch 1): the members re-form it, the bot is welcomed again (epoch 2)
    // and the tone continues E2EE.
    assert!(voice.dave_restart_group(), "voice websocket open");
    let restarted = voice
        .wait_dave_transitions(4, VOICE_TIMEOUT)
        .await
        .expect("a new group");
    assert_eq!(restarted.epoch, 2, "{restarted:?}");
    voice.record(Duration::from_millis(700)).await;
    voice
        .wait_for_tone(440.0, VOICE_TIMEOUT)
        .await
        .expect("the tone in the new group");
    let end = voice.stats();
    assert_eq!(end.clear_frames_after_transition, 0, "{end:?}");
    assert_no_silent_drops(&bot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_dave_off_the_call_is_transport_encrypted_only_and_the_tone_is_heard() {
    let d = FakeDiscord::builder()
        .dave(false)
        .start()
        .await
        .expect("fake starts");
    let bot = start_with(&d).await;
    let guild = d.guild(GUILD_ID);
    guild
        .member(LISTENER_ID)
        .run("/radio play", [("station", "tone440")])
        .await
        .expect("dispatched")
        .reply()
        .await
        .expect("playing");
    let voice = guild.voice();
    voice
        .wait_for_tone(440.0, VOICE_TIMEOUT)
        .await
        .expect("the tone without E2EE");
    let stats = voice.stats();
    assert_eq!(
        (stats.dave_protocol_version, stats.dave_frames, stats.epoch),
        (0, 0, 0),
        "{stats:?}"
    );
    assert!(stats.clear_frames >= 20, "{stats:?}");
    assert_no_silent_drops(&bot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_menu_and_modal_round_trip() {
    let d = FakeDiscord::start().await;
    let bot = start_with(&d).await;
    let member = d.guild(GUILD_ID).member(LISTENER_ID);
    let reply = member
        .run("/radio play", [("station", "jazz")])
        .await
        .expect("dispatched")
        .reply()
        .await
        .expect("reply");

    let picked = reply
        .select("radio:volume", &["quiet"])
        .await
        .expect("selected");
    assert_eq!(picked.callback().await.expect("answered").kind, 7);
    assert_eq!(reply.refresh().expect("exists").content(), "Volume: quiet");
    assert!(
        reply.select("radio:volume", &["deafening"]).await.is_err(),
        "only offered values can be picked"
    );

    let opened = reply.click("radio:feedback").await.expect("clicked");
    let modal = opened.modal().await.expect("a modal");
    assert_eq!(
        (modal.custom_id.as_str(), modal.title.as_str()),
        ("feedback", "Feedback")
    );
    let submitted = member
        .submit_modal(&modal, [("feedback:text", "lovely")])
        .await
        .expect("submitted");
    let thanks = submitted.reply().await.expect("answered");
    assert_eq!(thanks.content(), "Thanks: lovely");
    assert!(thanks.is_ephemeral());
    assert_no_silent_drops(&bot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_disconnect_resumes_invalid_session_reidentifies_and_voice_states_flow() {
    let d = FakeDiscord::start().await;
    let bot = start_with(&d).await;
    let gw = d.gateway();

    assert!(gw.disconnect(4000), "connected");
    gw.wait_until("a resume", Duration::from_secs(20), |s| {
        s.resumes == 1 && s.connected
    })
    .await
    .expect("resumed");
    let ix = d
        .guild(GUILD_ID)
        .member(LURKER_ID)
        .run("/ping", [])
        .await
        .expect("dispatched");
    assert_eq!(ix.reply().await.expect("after resume").content(), "pong");

    assert!(gw.invalid_session(false));
    gw.wait_until("a second identify", Duration::from_secs(30), |s| {
        s.identifies == 2 && s.connected
    })
    .await
    .expect("re-identified");
    let ix = d
        .guild(GUILD_ID)
        .member(LURKER_ID)
        .run("/ping", [])
        .await
        .expect("dispatched");
    assert_eq!(
        ix.reply().await.expect("after re-identify").content(),
        "pong"
    );

    // Members moving in voice reach the bot's cache: /radio play follows the invoker.
    let lurker = d.guild(GUILD_ID).member(LURKER_ID);
    lurker
        .join_voice(OTHER_VOICE_CHANNEL_ID)
        .await
        .expect("joined");
    let reply = lurker
        .run("/radio play", [("station", "news")])
        .await
        .expect("dispatched")
        .reply()
        .await
        .expect("reply");
    assert_eq!(
        reply.content(),
        format!("Now playing news in <#{OTHER_VOICE_CHANNEL_ID}>")
    );
    d.guild(GUILD_ID)
        .wait_bot_voice_channel(Some(OTHER_VOICE_CHANNEL_ID), VOICE_TIMEOUT)
        .await
        .expect("bot moved");
    assert_eq!(
        d.guild(GUILD_ID)
            .voice_channel_members(OTHER_VOICE_CHANNEL_ID),
        [LURKER_ID, fake_discord::BOT_ID]
    );

    lurker.leave_voice().await.expect("left");
    let err = lurker
        .run("/radio play", [("station", "news")])
        .await
        .expect("dispatched")
        .reply()
        .await
        .expect("error reply");
    assert!(
        err.content().contains("not in a voice channel"),
        "poise's on_error reports it: {}",
        err.content()
    );
    let left = lurker
        .run("/radio stop", [])
        .await
        .expect("dispatched")
        .reply()
        .await
        .expect("reply");
    assert_eq!(left.content(), "Left voice");
    d.guild(GUILD_ID)
        .wait_bot_voice_channel(None, VOICE_TIMEOUT)
        .await
        .expect("bot left");
    assert_no_silent_drops(&bot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_injected_and_unknown_routes_fail_the_test() {
    let d = FakeDiscord::start().await;
    let bot = start_with(&d).await;

    // The first callback gets a 429; with the ratelimiter disabled serenity does not retry, so the command fails and
    // poise's default on_error answers the still-unacknowledged interaction with the error. (Discord's 429 body has
    // no `code`, so serenity reports it as an undecodable error response: a real quirk bots should know about.)
    d.rest().inject_rate_limit(
        Some("POST"),
        "/callback",
        1,
        Duration::from_millis(1500),
        false,
    );
    let ix = d
        .guild(GUILD_ID)
        .member(LURKER_ID)
        .run("/ping", [])
        .await
        .expect("dispatched");
    let reply = ix.reply().await.expect("on_error reply");
    assert!(
        reply.content().contains("error response"),
        "{}",
        reply.content()
    );
    let callbacks = d
        .rest()
        .requests_to("POST /interactions/{id}/{token}/callback");
    let statuses: Vec<u16> = callbacks.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 204]);

    // Raw client: headers as Discord sends them, unknown routes 404 and recorded.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let auth = format!("Bot {}", d.token());
    let me = http
        .get(format!("{}/api/v10/users/@me", d.rest_base()))
        .header("authorization", &auth)
        .send()
        .await
        .expect("reachable");
    assert_eq!(me.status(), 200);
    for h in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
        "x-ratelimit-reset-after",
        "x-ratelimit-bucket",
    ] {
        assert!(me.headers().contains_key(h), "{h} missing");
    }
    let unknown = http
        .get(format!("{}/api/v10/guilds/1/bans", d.rest_base()))
        .header("authorization", &auth)
        .send()
        .await
        .expect("reachable");
    assert_eq!(unknown.status(), 404);
    let unauthenticated = http
        .get(format!("{}/api/v10/users/@me", d.rest_base()))
        .send()
        .await
        .expect("reachable");
    assert_eq!(unauthenticated.status(), 401);
    let violations = d.take_violations();
    assert_eq!(violations.len(), 2, "{violations:?}");
    assert!(
        violations[0].contains("unknown route: GET /api/v10/guilds/1/bans"),
        "{violations:?}"
    );
    assert!(
        violations[1].contains("without the bot token"),
        "{violations:?}"
    );
    assert_no_silent_drops(&bot);
}
