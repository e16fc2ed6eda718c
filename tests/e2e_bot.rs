//! The bot end to end on the fake Discord: the real `alastor run` binary, configured through `ALASTOR_*`
//! like an operator would, with the shipped station packs and a temporary data folder. Nothing here plays
//! audio (that is `e2e_play.rs`); these scenarios cover registration, autocomplete, the setup wizard,
//! permissions, rate limits, paging and locales.

use std::fmt::Write as _;
use std::time::Instant;

use fake_discord::{
    DJ_ROLE_ID, FakeDiscord, GUILD_ID, LISTENER_ID, LURKER_ID, OWNER_ID, STARTUP_TIMEOUT,
    VOICE_CHANNEL_ID,
};
use serde_json::Value;

struct Bot {
    _data: tempfile::TempDir,
    data_dir: String,
}

impl Bot {
    fn new() -> Self {
        let data = tempfile::tempdir().expect("tempdir");
        let data_dir = data.path().display().to_string();
        Self {
            _data: data,
            data_dir,
        }
    }

    fn spawn(&self, d: &FakeDiscord) -> fake_discord::BotProcess {
        let stations = format!("{}/stations", env!("CARGO_MANIFEST_DIR"));
        d.spawn_bot(
            env!("CARGO_BIN_EXE_alastor"),
            &["run"],
            &[
                ("ALASTOR_STATIONS__DIR", stations.as_str()),
                ("ALASTOR_DATA__DIR", self.data_dir.as_str()),
                ("RUST_LOG", "warn,alastor=info"),
            ],
        )
        .expect("spawn the bot")
    }
}

async fn started() -> (FakeDiscord, Bot, fake_discord::BotProcess) {
    let d = FakeDiscord::start().await;
    let bot = Bot::new();
    let process = bot.spawn(&d);
    d.wait_ready(STARTUP_TIMEOUT).await.expect("ready");
    (d, bot, process)
}

/// Every `name: value` of the message's first embed, one per line, for readable assertions.
fn embed_text(embeds: &Value) -> String {
    let embed = &embeds[0];
    let mut out = String::new();
    for key in ["title", "description"] {
        if let Some(s) = embed[key].as_str() {
            out.push_str(s);
            out.push('\n');
        }
    }
    for field in embed["fields"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "{}: {}",
            field["name"].as_str().unwrap_or_default(),
            field["value"].as_str().unwrap_or_default()
        );
    }
    if let Some(s) = embed["footer"]["text"].as_str() {
        out.push_str(s);
    }
    out
}

fn id_ending(ids: &[String], suffix: &str) -> String {
    ids.iter()
        .find(|i| i.ends_with(suffix))
        .unwrap_or_else(|| panic!("no component ending in {suffix:?} in {ids:?}"))
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_registers_every_command_with_german_descriptions() {
    let (d, _bot, _process) = started().await;
    let commands = d
        .wait_commands_registered(None, STARTUP_TIMEOUT)
        .await
        .expect("global commands");
    let names: Vec<&str> = commands.iter().filter_map(|c| c["name"].as_str()).collect();
    for name in ["radio", "setup", "info"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let radio = commands
        .iter()
        .find(|c| c["name"] == "radio")
        .expect("radio");
    let subs: Vec<&str> = radio["options"]
        .as_array()
        .expect("sub-commands")
        .iter()
        .filter_map(|o| o["name"].as_str())
        .collect();
    for sub in [
        "play",
        "stop",
        "info",
        "list",
        "choose",
        "volume",
        "favourite",
    ] {
        assert!(subs.contains(&sub), "/radio {sub} missing from {subs:?}");
    }
    assert_eq!(
        radio["description"].as_str(),
        Some("Listen to internet radio in your voice channel")
    );
    let german = radio["description_localizations"]["de"]
        .as_str()
        .unwrap_or_else(|| panic!("German description: {radio}"));
    assert!(
        !german.is_empty() && german != radio["description"],
        "{german}"
    );
    let setup = commands
        .iter()
        .find(|c| c["name"] == "setup")
        .expect("setup");
    assert_eq!(
        setup["default_member_permissions"].as_str(),
        Some("32"),
        "setup is for Manage Server by default"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autocomplete_finds_typos_aliases_prefixes_and_genres() {
    let (d, _bot, _process) = started().await;
    let member = d.guild(GUILD_ID).member(LISTENER_ID);
    for (typed, expected) in [
        ("radoi paradise", "Radio Paradise"),
        ("bbc1", "BBC Radio 1"),
        ("bbc ra", "BBC Radio"),
        ("", ""),
    ] {
        let asked = Instant::now();
        let choices = member
            .autocomplete("/radio play", ("station", typed), [])
            .await
            .unwrap_or_else(|e| panic!("autocomplete {typed:?}: {e}"));
        eprintln!(
            "measure: autocomplete {typed:?} answered in {:?}",
            asked.elapsed()
        );
        assert!(
            !choices.is_empty() && choices.len() <= 25,
            "{typed:?}: {choices:?}"
        );
        assert!(
            choices[0].name.contains(expected),
            "{typed:?}: first choice {:?}",
            choices[0].name
        );
        assert!(choices.iter().all(|c| c.name.chars().count() <= 100));
    }
    let jazz = member
        .autocomplete("/radio play", ("station", "jazz"), [])
        .await
        .expect("genre");
    assert!(jazz.len() >= 2, "{jazz:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wizard_walkthrough_persists_every_choice_across_a_restart() {
    let (d, bot, process) = started().await;
    let admin = d.guild(GUILD_ID).member(OWNER_ID);
    let mut page = admin
        .run("/setup wizard", [])
        .await
        .expect("dispatched")
        .reply()
        .await
        .expect("first page");
    assert!(page.is_ephemeral());
    assert!(page.content().contains("Step 1"), "{}", page.content());

    // (control suffix, values or None for a click) per page, then Next.
    let voice = VOICE_CHANNEL_ID.to_string();
    let role = DJ_ROLE_ID.to_string();
    let steps: [(&str, Option<Vec<&str>>); 7] = [
        (":voice", Some(vec![voice.as_str()])),
        (":roles", Some(vec![role.as_str()])),
        (":lang", Some(vec!["de"])),
        (":region", Some(vec!["DE"])),
        (":always", None),
        (":volume", Some(vec!["50:100"])),
        (":announce", None),
    ];
    for (suffix, values) in steps {
        let control = id_ending(&page.custom_ids(), suffix);
        let ix = match &values {
            Some(v) => page.select(&control, v).await,
            None => page.click(&control).await,
        }
        .unwrap_or_else(|e| panic!("{suffix}: {e}"));
        page = ix.reply().await.expect("page after a choice");
        let next = id_ending(&page.custom_ids(), ":next");
        page = page
            .click(&next)
            .await
            .expect("next")
            .reply()
            .await
            .expect("next page");
    }
    let summary = embed_text(page.embeds());
    assert!(
        summary.contains(&format!("<#{VOICE_CHANNEL_ID}>")),
        "{summary}"
    );
    let save = id_ending(&page.custom_ids(), ":save");
    let saved = page
        .click(&save)
        .await
        .expect("save")
        .reply()
        .await
        .expect("saved page");
    // The guild chose German: the confirmation already speaks it.
    assert!(
        saved.content().contains("Gespeichert"),
        "{}",
        saved.content()
    );
    assert!(saved.custom_ids().is_empty(), "no buttons after saving");

    // SIGKILL, then a fresh process on the same data folder: what survives is what was written.
    let mut process = process;
    process.kill().await;
    let mut process = bot.spawn(&d);
    process
        .wait_for_log("ready; commands registered", STARTUP_TIMEOUT)
        .await
        .expect("ready again");
    let shown = admin
        .run("/setup show", [])
        .await
        .expect("dispatched")
        .reply()
        .await
        .expect("settings");
    let text = embed_text(shown.embeds());
    for expected in [
        format!("Sprachkanal: <#{VOICE_CHANNEL_ID}>"),
        format!("DJ-Rollen: <@&{DJ_ROLE_ID}>"),
        "Sprache: de".to_owned(),
        "Region: DE".to_owned(),
        "Dauerbetrieb: ja".to_owned(),
        "Lautstärke: 50 % (max 100 %)".to_owned(),
        "Ansagen: nein".to_owned(),
    ] {
        assert!(text.contains(&expected), "{expected:?} missing in:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wizard_cancel_writes_nothing_and_strangers_cannot_click() {
    let (d, _bot, _process) = started().await;
    let admin = d.guild(GUILD_ID).member(OWNER_ID);
    let page = admin
        .run("/setup wizard", [])
        .await
        .expect("dispatched")
        .reply()
        .await
        .expect("first page");
    let voice = VOICE_CHANNEL_ID.to_string();
    let control = id_ending(&page.custom_ids(), ":voice");
    let page = page
        .select(&control, &[voice.as_str()])
        .await
        .expect("select")
        .reply()
        .await
        .expect("page");
    let cancel = id_ending(&page.custom_ids(), ":cancel");
    let done = page
        .click(&cancel)
        .await
        .expect("cancel")
        .reply()
        .await
        .expect("cancelled");
    assert!(
        done.content().contains("nothing was changed"),
        "{}",
        done.content()
    );
    let shown = admin
        .run("/setup show", [])
        .await
        .expect("dispatched")
        .reply()
        .await
        .expect("settings");
    let text = embed_text(shown.embeds());
    assert!(text.contains("Voice channel: not set"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_without_manage_server_is_refused_setup() {
    let (d, _bot, _process) = started().await;
    let reply = d
        .guild(GUILD_ID)
        .member(LURKER_ID)
        .run("/setup show", [])
        .await
        .expect("dispatched")
        .reply()
        .await
        .expect("refusal");
    assert!(reply.is_ephemeral());
    assert!(
        reply.content().contains("Manage Server"),
        "{}",
        reply.content()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_dj_is_refused_stop_once_dj_roles_are_set() {
    let (d, _bot, _process) = started().await;
    let guild = d.guild(GUILD_ID);
    let role = DJ_ROLE_ID.to_string();
    let set = guild
        .member(OWNER_ID)
        .run("/setup dj add", [("role", role.as_str())])
        .await
        .expect("dispatched")
        .reply()
        .await
        .expect("saved");
    assert!(
        embed_text(set.embeds()).contains(&format!("<@&{DJ_ROLE_ID}>")),
        "{:?}",
        set.embeds()
    );
    let refused = guild
        .member(LURKER_ID)
        .run("/radio stop", [])
        .await
        .expect("dispatched")
        .reply()
        .await
        .expect("refusal");
    assert!(refused.is_ephemeral());
    let text = refused.content();
    assert!(
        text.contains("DJ roles") && text.contains(&format!("<@&{DJ_ROLE_ID}>")),
        "{text}"
    );
    // The DJ may: nothing plays, and that is what they hear.
    let allowed = guild
        .member(LISTENER_ID)
        .run("/radio stop", [])
        .await
        .expect("dispatched")
        .reply()
        .await
        .expect("reply");
    assert!(
        allowed.content().contains("Nothing is playing"),
        "{}",
        allowed.content()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_member_is_rate_limited_while_others_are_served() {
    let (d, _bot, _process) = started().await;
    let guild = d.guild(GUILD_ID);
    let flooder = guild.member(LURKER_ID);
    let mut sent = Vec::new();
    for _ in 0..100 {
        sent.push(flooder.run("/info", []).await.expect("dispatched"));
    }
    let mut limited = 0;
    for ix in &sent {
        // Never silence: every one of the 100 gets an answer.
        let reply = ix.reply().await.expect("every command is answered");
        if reply.content().contains("try again in") {
            assert!(reply.is_ephemeral());
            limited += 1;
        }
    }
    assert!(limited >= 90, "only {limited} of 100 were limited");
    let other = guild
        .member(LISTENER_ID)
        .run("/info", [])
        .await
        .expect("dispatched")
        .reply()
        .await
        .expect("served");
    assert!(
        !other.content().contains("try again"),
        "another member is served: {}",
        other.content()
    );
    assert!(
        embed_text(other.embeds()).contains("Alastor"),
        "{:?}",
        other.embeds()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn radio_list_pages_forward_and_back() {
    let (d, _bot, _process) = started().await;
    let first = d
        .guild(GUILD_ID)
        .member(LISTENER_ID)
        .run("/radio list", [])
        .await
        .expect("dispatched")
        .reply()
        .await
        .expect("first page");
    let text = embed_text(first.embeds());
    assert!(text.contains("Page 1 of"), "{text}");
    let next = first
        .custom_ids()
        .into_iter()
        .find(|i| i.starts_with("radio:list:n:"))
        .expect("next button");
    let second = first
        .click(&next)
        .await
        .expect("click next")
        .reply()
        .await
        .expect("second page");
    let second_text = embed_text(second.embeds());
    assert!(second_text.contains("Page 2 of"), "{second_text}");
    assert_ne!(text, second_text);
    let back = second
        .custom_ids()
        .into_iter()
        .find(|i| i.starts_with("radio:list:p:"))
        .expect("previous button");
    let again = second
        .click(&back)
        .await
        .expect("click previous")
        .reply()
        .await
        .expect("first page again");
    assert!(embed_text(again.embeds()).contains("Page 1 of"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_german_guild_gets_german_replies() {
    let (d, _bot, _process) = started().await;
    let guild = d.guild(GUILD_ID);
    let set = guild
        .member(OWNER_ID)
        .run("/setup locale", [("language", "de")])
        .await
        .expect("dispatched")
        .reply()
        .await
        .expect("saved");
    assert!(set.content().contains("Gespeichert"), "{}", set.content());
    let reply = guild
        .member(LISTENER_ID)
        .run("/radio info", [])
        .await
        .expect("dispatched")
        .reply()
        .await
        .expect("reply");
    assert!(
        reply.content().contains("Gerade läuft nichts"),
        "{}",
        reply.content()
    );
    // Bad input names what would work.
    let unknown = guild
        .member(LISTENER_ID)
        .run("/radio favourite add", [("station", "zzzzqqqq xxxx")])
        .await
        .expect("dispatched")
        .reply()
        .await
        .expect("reply");
    assert!(unknown.is_ephemeral());
    assert!(
        unknown.content().contains("zzzzqqqq"),
        "{}",
        unknown.content()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_fails_with_one_clear_line_and_never_prints_it() {
    let d = FakeDiscord::start().await;
    let data = tempfile::tempdir().expect("tempdir");
    let stations = format!("{}/stations", env!("CARGO_MANIFEST_DIR"));
    let wrong = "OTAw.d3Jvbmc.bm90LXRoZS1yaWdodC10b2tlbi1hdC1hbGw";
    let mut bot = d
        .spawn_bot(
            env!("CARGO_BIN_EXE_alastor"),
            &["run"],
            &[
                ("DISCORD_TOKEN", wrong),
                ("ALASTOR_STATIONS__DIR", stations.as_str()),
                ("ALASTOR_DATA__DIR", &data.path().display().to_string()),
            ],
        )
        .expect("spawn");
    let line = bot
        .wait_for_log("rejected the bot token", STARTUP_TIMEOUT)
        .await
        .expect("a clear error line");
    assert!(line.contains("DISCORD_TOKEN"), "{line}");
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let exit = loop {
        if let Some(status) = bot.exited() {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit on a rejected token");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(!exit.success());
    assert!(
        bot.logs().iter().all(|l| !l.contains(wrong)),
        "the token leaked into the output"
    );
    // The fake records the bad token as a protocol violation: expected here.
    let violations = d.take_violations();
    assert!(
        violations
            .iter()
            .all(|v| v.contains("without the bot token")),
        "{violations:?}"
    );
}
