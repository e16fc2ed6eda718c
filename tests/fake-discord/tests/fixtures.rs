//! Every payload the fake sends, deserialized with serenity 0.12.5's own model types: a field serenity starts to
//! require (like Role `colors` or `attachment_size_limit` did) fails here, by name, instead of a scenario silently
//! hanging because the bot dropped an event with a `warn!`.

use fake_discord::fixtures::{self, InteractionFields, MessageFields};
use fake_discord::world::{Guild, User, VoiceState, World};
use fake_discord::{GUILD_ID, LISTENER_ID, TEXT_CHANNEL_ID, VOICE_CHANNEL_ID};
use serde_json::{Value, json};
use serenity::model::prelude::*;

fn world() -> World {
    World::default()
}

fn guild(w: &World) -> &Guild {
    &w.guilds[&GUILD_ID]
}

/// Wraps a dispatch the way the gateway sends it and parses it like the shard does.
fn dispatch(t: &str, d: Value) -> Event {
    let mut frame = json!({"op": 0, "s": 7, "t": t});
    frame["d"] = d;
    match serde_json::from_value::<GatewayEvent>(frame) {
        Ok(GatewayEvent::Dispatch(7, event)) => event,
        Ok(other) => panic!("{t}: parsed as {other:?}"),
        Err(e) => panic!("{t}: serenity rejects the fixture: {e}"),
    }
}

#[test]
fn ready_parses_with_the_application_id() {
    let w = world();
    let Event::Ready(r) = dispatch(
        "READY",
        fixtures::ready(&w, "sess", "ws://127.0.0.1:1", [0, 1]),
    ) else {
        panic!("READY")
    };
    assert_eq!(r.ready.user.id.get(), w.bot.id);
    assert_eq!(r.ready.application.id.get(), w.application_id);
    assert_eq!(r.ready.session_id, "sess");
    assert_eq!(r.ready.guilds.len(), 1);
}

#[test]
fn guild_create_carries_channels_roles_members_and_voice_states() {
    let w = world();
    let bot_voice = VoiceState::new(w.bot.id, VOICE_CHANNEL_ID);
    let Event::GuildCreate(g) = dispatch(
        "GUILD_CREATE",
        fixtures::guild_create(guild(&w), &w, Some(&bot_voice)),
    ) else {
        panic!("GUILD_CREATE")
    };
    let g = g.guild;
    assert_eq!(g.id.get(), GUILD_ID);
    assert_eq!(g.channels.len(), 3);
    assert_eq!(
        g.channels[&ChannelId::new(VOICE_CHANNEL_ID)].kind,
        ChannelType::Voice
    );
    assert_eq!(g.roles.len(), 2);
    assert_eq!(g.members.len(), 4, "owner, listener, lurker and the bot");
    let listener = &g.voice_states[&UserId::new(LISTENER_ID)];
    assert_eq!(listener.channel_id, Some(ChannelId::new(VOICE_CHANNEL_ID)));
    assert!(g.voice_states.contains_key(&UserId::new(w.bot.id)));
}

#[test]
fn voice_state_and_voice_server_updates_parse() {
    let w = world();
    let g = guild(&w);
    let member = &g.members[&LISTENER_ID];
    let state = VoiceState::new(LISTENER_ID, VOICE_CHANNEL_ID);
    let joined = fixtures::voice_state(
        GUILD_ID,
        LISTENER_ID,
        Some(&state),
        "s1",
        Some(fixtures::member(member)),
    );
    let Event::VoiceStateUpdate(v) = dispatch("VOICE_STATE_UPDATE", joined) else {
        panic!("VSU")
    };
    assert_eq!(
        v.voice_state.channel_id,
        Some(ChannelId::new(VOICE_CHANNEL_ID))
    );
    assert_eq!(v.voice_state.session_id, "s1");
    let left = fixtures::voice_state(
        GUILD_ID,
        LISTENER_ID,
        None,
        "s1",
        Some(fixtures::member(member)),
    );
    let Event::VoiceStateUpdate(v) = dispatch("VOICE_STATE_UPDATE", left) else {
        panic!("VSU")
    };
    assert_eq!(v.voice_state.channel_id, None);
    let Event::VoiceServerUpdate(s) = dispatch(
        "VOICE_SERVER_UPDATE",
        fixtures::voice_server_update(GUILD_ID, "tok", "localhost:1"),
    ) else {
        panic!("VOICE_SERVER_UPDATE")
    };
    assert_eq!(
        (s.token.as_str(), s.endpoint.as_deref()),
        ("tok", Some("localhost:1"))
    );
}

fn interaction(kind: u8, data: Value, message: Option<Value>) -> Interaction {
    let w = world();
    let g = guild(&w);
    let fields = InteractionFields {
        kind,
        id: 1234,
        token: "tok",
        application_id: w.application_id,
        guild: g,
        channel: g.channel(TEXT_CHANNEL_ID).expect("text channel"),
        member: &g.members[&LISTENER_ID],
        data,
        message,
        app_permissions: fake_discord::world::permissions::ALL,
    };
    let Event::InteractionCreate(i) =
        dispatch("INTERACTION_CREATE", fixtures::interaction(&fields))
    else {
        panic!("INTERACTION_CREATE")
    };
    i.interaction
}

#[test]
fn command_and_autocomplete_interactions_parse_with_member_permissions() {
    let data = json!({"id": "55", "name": "radio", "type": 1, "guild_id": GUILD_ID.to_string(), "options": [
        {"name": "play", "type": 1, "options": [{"name": "station", "type": 3, "value": "jazz"}]}
    ]});
    let Interaction::Command(c) = interaction(2, data.clone(), None) else {
        panic!("command")
    };
    assert_eq!(c.data.name, "radio");
    assert!(
        c.member.as_ref().and_then(|m| m.permissions).is_some(),
        "poise needs member.permissions"
    );
    assert!(c.app_permissions.is_some(), "poise needs app_permissions");
    let mut auto = data;
    auto["options"][0]["options"][0]["focused"] = json!(true);
    let Interaction::Autocomplete(a) = interaction(4, auto, None) else {
        panic!("autocomplete")
    };
    assert_eq!(a.data.autocomplete().map(|o| o.value), Some("jazz"));
}

fn bot_message(components: &Value) -> Value {
    let bot = User {
        id: fake_discord::BOT_ID,
        name: "alastor".into(),
        bot: true,
    };
    fixtures::message(&MessageFields {
        id: 99,
        channel_id: TEXT_CHANNEL_ID,
        guild_id: Some(GUILD_ID),
        author: &bot,
        content: "Now playing",
        embeds: &json!([{"title": "jazz"}]),
        components,
        flags: 0,
        kind: 20,
        webhook_id: Some(fake_discord::APPLICATION_ID),
        application_id: Some(fake_discord::APPLICATION_ID),
        timestamp: "2024-01-01T00:00:00.000000+00:00",
        edited_timestamp: None,
    })
}

#[test]
fn component_and_modal_interactions_parse() {
    let components = json!([
        {"type": 1, "components": [{"type": 2, "custom_id": "radio:stop", "label": "Stop", "style": 4}]},
        {"type": 1, "components": [{"type": 3, "custom_id": "radio:volume", "options": [{"label": "Loud", "value": "loud"}]}]},
    ]);
    let msg = bot_message(&components);
    let Interaction::Component(b) = interaction(
        3,
        json!({"custom_id": "radio:stop", "component_type": 2}),
        Some(msg.clone()),
    ) else {
        panic!("button")
    };
    assert_eq!(
        (b.data.custom_id.as_str(), b.message.id.get()),
        ("radio:stop", 99)
    );
    let select = json!({"custom_id": "radio:volume", "component_type": 3, "values": ["loud"]});
    let Interaction::Component(s) = interaction(3, select, Some(msg.clone())) else {
        panic!("select")
    };
    assert!(
        matches!(&s.data.kind, ComponentInteractionDataKind::StringSelect { values } if values == &["loud"])
    );
    let role_select = json!({"custom_id": "r", "component_type": 6, "values": ["30"], "resolved": {"roles": {"30": fixtures::role(&guild(&world()).roles[1])}}});
    let Interaction::Component(r) = interaction(3, role_select, Some(msg.clone())) else {
        panic!("role select")
    };
    assert!(
        matches!(&r.data.kind, ComponentInteractionDataKind::RoleSelect { values } if values[0].get() == 30)
    );
    let modal = json!({"custom_id": "feedback", "components": [{"type": 1, "components": [{"type": 4, "custom_id": "t", "value": "hi"}]}]});
    let Interaction::Modal(m) = interaction(5, modal, Some(msg)) else {
        panic!("modal")
    };
    assert_eq!(m.data.custom_id, "feedback");
}

#[test]
fn rest_answers_parse_as_serenity_expects_them() {
    let w = world();
    let me: CurrentUser =
        serde_json::from_value(fixtures::current_user(&w)).expect("GET /users/@me");
    assert_eq!(me.id.get(), w.bot.id);
    let app: CurrentApplicationInfo = serde_json::from_value(fixtures::application_info(&w))
        .expect("GET /oauth2/applications/@me");
    assert_eq!(app.owner.map(|o| o.id.get()), Some(w.owner.id));
    let gw: BotGateway = serde_json::from_value(fixtures::gateway_bot("ws://127.0.0.1:1"))
        .expect("GET /gateway/bot");
    assert_eq!(gw.shards, 1);
    let plain: serenity::model::gateway::Gateway =
        serde_json::from_value(fixtures::gateway("ws://127.0.0.1:1")).expect("GET /gateway");
    assert_eq!(plain.url, "ws://127.0.0.1:1");
    let def = json!({"name": "radio", "description": "The radio", "options": [{"name": "play", "description": "Play", "type": 1}]});
    let cmd: Command = serde_json::from_value(fixtures::registered_command(
        &def,
        5,
        w.application_id,
        Some(GUILD_ID),
        6,
    ))
    .expect("registered command");
    assert_eq!(
        (cmd.name.as_str(), cmd.guild_id.map(GuildId::get)),
        ("radio", Some(GUILD_ID))
    );
    let m: Message = serde_json::from_value(bot_message(&json!([]))).expect("message");
    assert_eq!((m.content.as_str(), m.embeds.len()), ("Now playing", 1));
    let g = guild(&w);
    let ch: GuildChannel =
        serde_json::from_value(fixtures::channel(&g.channels[0], GUILD_ID)).expect("channel");
    assert_eq!(ch.kind, ChannelType::Text);
    let role: Role = serde_json::from_value(fixtures::role(&g.roles[0])).expect("role");
    assert_eq!(role.name, "@everyone");
    let mut member = fixtures::member(&g.members[&LISTENER_ID]);
    member["guild_id"] = json!(GUILD_ID.to_string());
    let member: Member = serde_json::from_value(member).expect("member");
    assert_eq!(member.user.id.get(), LISTENER_ID);
}

#[test]
fn voice_payloads_parse_with_songbirds_voice_model() {
    use serenity_voice_model::Event as VoiceEvent;
    // songbird parses voice frames from text with borrowed keys, so go through a string as it does.
    let parse = |v: Value| {
        serde_json::from_str::<VoiceEvent>(&v.to_string())
            .unwrap_or_else(|e| panic!("songbird rejects it: {e}"))
    };
    assert!(matches!(
        parse(json!({"op": 8, "d": {"heartbeat_interval": 13750.0}})),
        VoiceEvent::Hello(_)
    ));
    let ready = json!({"op": 2, "d": {"ssrc": 1, "ip": "127.0.0.1", "port": 5, "modes": fake_discord::voice_ws::MODES, "experiments": []}});
    assert!(matches!(parse(ready), VoiceEvent::Ready(r) if r.port == 5));
    let desc = json!({"op": 4, "d": {"mode": "aead_aes256_gcm_rtpsize", "secret_key": vec![0u8; 32], "dave_protocol_version": 0,
        "audio_codec": "opus", "video_codec": null, "media_session_id": "x"}});
    assert!(matches!(parse(desc), VoiceEvent::SessionDescription(s) if s.secret_key.len() == 32));
    assert!(
        matches!(parse(json!({"op": 6, "d": 42})), VoiceEvent::HeartbeatAck(a) if a.nonce == 42)
    );
    assert!(matches!(
        parse(json!({"op": 9, "d": null})),
        VoiceEvent::Resumed
    ));
}
