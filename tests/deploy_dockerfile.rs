//! The Dockerfile's essentials, checked by parsing it (no Docker engine runs in CI): a multi-stage build whose
//! final stage runs as a non-root user, declares the /data and /stations volumes, points the bot at them,
//! has a HEALTHCHECK running `alastor doctor --quick` and a STOPSIGNAL, and bakes in no token.

const DOCKERFILE: &str = include_str!("../Dockerfile");
const DOCKERIGNORE: &str = include_str!("../.dockerignore");

#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

#[derive(Debug)]
struct Stage {
    from: String,
    instructions: Vec<Instruction>,
}

/// Joins `\` continuations, drops comments and blank lines, and groups instructions by `FROM`.
fn parse(text: &str) -> (Vec<Instruction>, Vec<Stage>) {
    let mut logical = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && pending.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
        } else {
            pending.push_str(trimmed);
            logical.push(std::mem::take(&mut pending));
        }
    }
    let mut preamble = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical {
        let (keyword, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let instruction = Instruction {
            keyword: keyword.to_ascii_uppercase(),
            args: args.trim().to_owned(),
        };
        if instruction.keyword == "FROM" {
            stages.push(Stage {
                from: instruction.args,
                instructions: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push(instruction);
        } else {
            preamble.push(instruction);
        }
    }
    (preamble, stages)
}

fn final_stage() -> Stage {
    let (_, mut stages) = parse(DOCKERFILE);
    assert!(stages.len() >= 2, "multi-stage build expected");
    stages.pop().expect("a stage")
}

fn all<'a>(stage: &'a Stage, keyword: &str) -> Vec<&'a str> {
    stage
        .instructions
        .iter()
        .filter(|i| i.keyword == keyword)
        .map(|i| i.args.as_str())
        .collect()
}

fn last<'a>(stage: &'a Stage, keyword: &str) -> &'a str {
    all(stage, keyword)
        .pop()
        .unwrap_or_else(|| panic!("{keyword} missing in the final stage"))
}

#[test]
fn builds_in_a_debian_builder_and_ships_a_slim_debian_image() {
    let (_, stages) = parse(DOCKERFILE);
    assert!(stages[0].from.contains(" AS builder"), "{}", stages[0].from);
    assert!(stages[0].from.starts_with("rust:"), "{}", stages[0].from);
    let runtime = final_stage();
    assert!(
        runtime.from.starts_with("debian:") && runtime.from.contains("-slim"),
        "{}",
        runtime.from
    );
    // The final image carries the binary, not the toolchain or sources.
    let copies = all(&runtime, "COPY");
    assert!(
        copies.iter().any(|c| c.starts_with("--from=builder")),
        "{copies:?}"
    );
    assert!(
        !copies.iter().any(|c| c.starts_with(". ")),
        "sources copied into the runtime: {copies:?}"
    );
}

#[test]
fn final_stage_runs_as_a_non_root_user() {
    let runtime = final_stage();
    let user = last(&runtime, "USER");
    let name = user.split(':').next().unwrap_or_default();
    assert!(!["root", "0", ""].contains(&name), "USER {user}");
    // USER must come after the steps that need root (apt, chown), i.e. nothing root-only follows it.
    let at = runtime
        .instructions
        .iter()
        .rposition(|i| i.keyword == "USER")
        .expect("USER");
    assert!(
        !runtime.instructions[at..]
            .iter()
            .any(|i| i.keyword == "RUN"),
        "RUN after USER"
    );
}

#[test]
fn volumes_and_env_point_the_bot_at_data_and_stations() {
    let runtime = final_stage();
    let volumes = all(&runtime, "VOLUME").join(" ");
    assert!(
        volumes.contains("\"/data\"") && volumes.contains("\"/stations\""),
        "{volumes}"
    );
    let env = all(&runtime, "ENV").join(" ");
    assert!(env.contains("ALASTOR_DATA_DIR=/data"), "{env}");
    assert!(env.contains("ALASTOR_STATIONS_DIR=/stations"), "{env}");
}

#[test]
fn healthcheck_runs_doctor_quick_and_stopsignal_is_sigterm() {
    let runtime = final_stage();
    let health = last(&runtime, "HEALTHCHECK");
    assert!(health.contains("CMD"), "{health}");
    assert!(health.contains("\"doctor\", \"--quick\""), "{health}");
    assert_eq!(last(&runtime, "STOPSIGNAL"), "SIGTERM");
    assert_eq!(last(&runtime, "CMD"), "[\"run\"]");
}

#[test]
fn no_token_or_secret_is_baked_in() {
    let (preamble, stages) = parse(DOCKERFILE);
    let instructions = preamble
        .iter()
        .chain(stages.iter().flat_map(|s| &s.instructions));
    for instruction in instructions {
        if matches!(instruction.keyword.as_str(), "ENV" | "ARG" | "LABEL") {
            let upper = instruction.args.to_ascii_uppercase();
            for secret in ["TOKEN", "SECRET", "PASSWORD"] {
                assert!(
                    !upper.contains(secret),
                    "{} {}",
                    instruction.keyword,
                    instruction.args
                );
            }
        }
    }
    for ignored in ["target/", "data/", ".env", "*.env", "alastor.toml"] {
        assert!(
            DOCKERIGNORE.lines().any(|l| l.trim() == ignored),
            ".dockerignore must exclude {ignored}"
        );
    }
}

#[test]
fn parser_joins_continuations_and_groups_stages() {
    let (preamble, stages) =
        parse("ARG X=1\nFROM a AS b\n# c\nRUN one \\\n    two\nFROM c\nUSER me\n");
    assert_eq!(preamble.len(), 1);
    assert_eq!(stages.len(), 2);
    assert_eq!(stages[0].instructions[0].args, "one  two");
    assert_eq!(stages[1].instructions[0].keyword, "USER");
}
