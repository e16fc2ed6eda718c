//! User-facing text: every shipped locale's Fluent files (`locales/<tag>/<owner>.ftl`), embedded in the
//! binary, the choice of locale for a reply (guild setting > the user's Discord locale > en-US) and the
//! [`UserMessage`] trait every user-facing error implements.
//!
//! Lookups never panic and never show a blank: a key missing in a locale falls back to en-US, and a key
//! missing everywhere renders as the key itself (and logs a warning) so the gap is visible in review.

use std::collections::HashMap;
use std::fmt;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use include_dir::{Dir, include_dir};
use unic_langid::LanguageIdentifier;

use crate::core::guild::LocaleTag;

/// Every `locales/<tag>/*.ftl` file, compiled into the binary so a deployment is one file.
static LOCALES_DIR: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/locales");

/// The locale every key must exist in, and the last resort for a reply.
pub const FALLBACK: &str = "en-US";

/// Why the shipped locale files could not be loaded (a build-time defect, caught by the test suite).
#[derive(Debug, thiserror::Error)]
pub enum LocaleError {
    #[error("{file}:{line}: Fluent syntax error: {kind}")]
    Syntax {
        file: String,
        line: usize,
        kind: String,
    },
    #[error("{file}: message `{id}` is defined twice in locale {locale}")]
    Duplicate {
        file: String,
        locale: String,
        id: String,
    },
    #[error("locales/{dir}: `{dir}` is not a language tag like `de` or `en-US`")]
    BadTag { dir: String },
    #[error("{file}: not UTF-8")]
    NotUtf8 { file: String },
    #[error("locales/{FALLBACK} is missing: every key needs an en-US text")]
    NoFallback,
}

/// A Fluent argument value.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Str(String),
    Num(f64),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Self::Str(s.to_owned())
    }
}
impl From<String> for Arg {
    fn from(s: String) -> Self {
        Self::Str(s)
    }
}
impl From<&String> for Arg {
    fn from(s: &String) -> Self {
        Self::Str(s.clone())
    }
}
impl From<f64> for Arg {
    fn from(n: f64) -> Self {
        Self::Num(n)
    }
}
macro_rules! num_arg {
    ($($t:ty),*) => {$(
        impl From<$t> for Arg {
            fn from(n: $t) -> Self {
                Self::Num(f64::from(n))
            }
        }
    )*};
}
num_arg!(u8, u16, u32, i32, f32);
impl From<u64> for Arg {
    #[allow(clippy::cast_precision_loss)] // counts and seconds shown to people: far below 2^53
    fn from(n: u64) -> Self {
        Self::Num(n as f64)
    }
}
impl From<usize> for Arg {
    #[allow(clippy::cast_precision_loss)] // counts shown to people: far below 2^53
    fn from(n: usize) -> Self {
        Self::Num(n as f64)
    }
}

/// A localizable text: a Fluent id (`setup-saved`, or `cmd-setup-description.attr`) and its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub key: &'static str,
    pub args: Vec<(&'static str, Arg)>,
}

impl Message {
    pub fn new(key: &'static str) -> Self {
        Self {
            key,
            args: Vec::new(),
        }
    }

    #[must_use]
    pub fn arg(mut self, name: &'static str, value: impl Into<Arg>) -> Self {
        self.args.push((name, value.into()));
        self
    }
}

/// Implemented by every error a user may see: what to tell them, in their language.
pub trait UserMessage {
    fn user_message(&self) -> Message;
}

struct Bundle {
    tag: LocaleTag,
    bundle: FluentBundle<FluentResource>,
}

/// All shipped locales. Cheap to share (`Arc<Locales>`); `Send + Sync`.
pub struct Locales {
    /// INVARIANT: the en-US bundle is at index 0; tags are unique.
    bundles: Vec<Bundle>,
    shipped: Vec<LocaleTag>,
}

impl fmt::Debug for Locales {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Locales")
            .field("shipped", &self.shipped)
            .finish_non_exhaustive()
    }
}

/// 1-based line of a byte offset, for error messages people can jump to.
fn line_of(source: &str, offset: usize) -> usize {
    source
        .get(..offset.min(source.len()))
        .map_or(1, |s| s.bytes().filter(|b| *b == b'\n').count() + 1)
}

/// Parses one `.ftl` file, naming `file:line` on a syntax error.
pub(crate) fn parse_ftl(file: &str, source: String) -> Result<FluentResource, LocaleError> {
    FluentResource::try_new(source).map_err(|(resource, errors)| {
        let first = &errors[0];
        let source = resource.source();
        // The entry holding the error, skipping the blank lines before it; the bare position often
        // points past the entry's end (an unclosed placeable is noticed at the next line).
        let offset = first.slice.as_ref().map_or(first.pos.start, |slice| {
            let skipped = source
                .get(slice.start..slice.end)
                .map_or(0, |s| s.len() - s.trim_start().len());
            slice.start + skipped
        });
        LocaleError::Syntax {
            file: file.to_owned(),
            line: line_of(source, offset),
            kind: first.kind.to_string(),
        }
    })
}

impl Locales {
    /// The locales compiled into the binary.
    pub fn embedded() -> Result<Self, LocaleError> {
        let mut files = Vec::new();
        for dir in LOCALES_DIR.dirs() {
            let name = dir.path().to_string_lossy().into_owned();
            for file in dir.files() {
                if file.path().extension().is_some_and(|e| e == "ftl") {
                    let path = format!("locales/{}", file.path().display());
                    let text = file
                        .contents_utf8()
                        .ok_or_else(|| LocaleError::NotUtf8 { file: path.clone() })?;
                    files.push((name.clone(), path, text.to_owned()));
                }
            }
        }
        Self::from_files(files)
    }

    /// Builds the bundles from `(locale dir name, file path, text)` triples.
    pub(crate) fn from_files(files: Vec<(String, String, String)>) -> Result<Self, LocaleError> {
        let mut by_tag: Vec<Bundle> = Vec::new();
        for (dir, path, text) in files {
            let tag: LocaleTag = dir
                .parse()
                .map_err(|_| LocaleError::BadTag { dir: dir.clone() })?;
            let resource = parse_ftl(&path, text)?;
            let index = if let Some(i) = by_tag.iter().position(|b| b.tag == tag) {
                i
            } else {
                let langid: LanguageIdentifier = tag
                    .as_str()
                    .parse()
                    .map_err(|_| LocaleError::BadTag { dir: dir.clone() })?;
                let mut bundle = FluentBundle::new_concurrent(vec![langid]);
                // Discord shows Unicode isolation marks as stray boxes on some clients.
                bundle.set_use_isolating(false);
                by_tag.push(Bundle {
                    tag: tag.clone(),
                    bundle,
                });
                by_tag.len() - 1
            };
            by_tag[index]
                .bundle
                .add_resource(resource)
                .map_err(|errors| {
                    let id = errors
                        .iter()
                        .find_map(|e| match e {
                            fluent_bundle::FluentError::Overriding { id, .. } => Some(id.clone()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    LocaleError::Duplicate {
                        file: path.clone(),
                        locale: tag.to_string(),
                        id,
                    }
                })?;
        }
        let fallback = by_tag
            .iter()
            .position(|b| b.tag.as_str() == FALLBACK)
            .ok_or(LocaleError::NoFallback)?;
        by_tag.swap(0, fallback);
        by_tag[1..].sort_by(|a, b| a.tag.cmp(&b.tag));
        let shipped = by_tag.iter().map(|b| b.tag.clone()).collect();
        Ok(Self {
            bundles: by_tag,
            shipped,
        })
    }

    /// Every shipped locale, en-US first.
    pub fn shipped(&self) -> &[LocaleTag] {
        &self.shipped
    }

    /// The shipped locale closest to `tag`: exact, then same language without region (de-AT → de),
    /// then same language with any region (en-GB → en-US).
    pub fn best_match(&self, tag: &str) -> Option<LocaleTag> {
        let tag: LocaleTag = tag.parse().ok()?;
        if let Some(t) = self.shipped.iter().find(|t| **t == tag) {
            return Some(t.clone());
        }
        let same_language = |t: &&LocaleTag| t.language() == tag.language();
        self.shipped
            .iter()
            .filter(same_language)
            .find(|t| t.as_str() == t.language())
            .or_else(|| self.shipped.iter().find(same_language))
            .cloned()
    }

    /// The locale for a reply: the guild's choice, else the user's Discord locale, else en-US.
    pub fn resolve(&self, guild: Option<&LocaleTag>, user: Option<&str>) -> LocaleTag {
        guild
            .and_then(|g| self.best_match(g.as_str()))
            .or_else(|| user.and_then(|u| self.best_match(u)))
            .unwrap_or_else(|| self.shipped[0].clone())
    }

    fn bundle(&self, locale: &LocaleTag) -> &Bundle {
        self.bundles
            .iter()
            .find(|b| b.tag == *locale)
            .unwrap_or(&self.bundles[0])
    }

    /// Formats `key` (or `key.attribute`) in `locale` only; `None` when that locale lacks it.
    fn format_in(bundle: &Bundle, key: &str, args: &[(&str, Arg)]) -> Option<String> {
        let (id, attribute) = match key.split_once('.') {
            Some((id, attr)) => (id, Some(attr)),
            None => (key, None),
        };
        let message = bundle.bundle.get_message(id)?;
        let pattern = match attribute {
            Some(attr) => message.get_attribute(attr)?.value(),
            None => message.value()?,
        };
        let mut fluent_args = FluentArgs::new();
        for (name, value) in args {
            match value {
                Arg::Str(s) => fluent_args.set(*name, FluentValue::from(s.as_str())),
                Arg::Num(n) => fluent_args.set(*name, FluentValue::from(*n)),
            }
        }
        let mut errors = Vec::new();
        let text = bundle
            .bundle
            .format_pattern(pattern, Some(&fluent_args), &mut errors);
        if !errors.is_empty() {
            tracing::warn!(key, locale = %bundle.tag, ?errors, "Fluent formatting problem");
        }
        Some(text.into_owned())
    }

    /// The text for `key` in `locale`, falling back to en-US, then to the key itself. Never panics.
    pub fn text(&self, locale: &LocaleTag, key: &str, args: &[(&str, Arg)]) -> String {
        Self::format_in(self.bundle(locale), key, args)
            .or_else(|| Self::format_in(&self.bundles[0], key, args))
            .unwrap_or_else(|| {
                tracing::warn!(key, "no text for this key in any locale");
                key.to_owned()
            })
    }

    /// [`Locales::text`] for a [`Message`].
    pub fn render(&self, locale: &LocaleTag, message: &Message) -> String {
        self.text(locale, message.key, &message.args)
    }

    /// `key` in every shipped locale that has it (no fallback): for Discord's per-locale command names
    /// and descriptions. Discord's locale codes are the tags (`de`, `en-US`).
    pub fn translations(&self, key: &str) -> HashMap<String, String> {
        self.bundles
            .iter()
            .filter_map(|b| Self::format_in(b, key, &[]).map(|text| (b.tag.to_string(), text)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use fluent_syntax::ast;
    use rstest::rstest;

    use super::*;

    fn locales() -> Locales {
        Locales::embedded().expect("shipped locales load")
    }

    fn tag(s: &str) -> LocaleTag {
        s.parse().unwrap()
    }

    #[test]
    fn locales_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Locales>();
    }

    #[test]
    fn ships_english_and_german() {
        let l = locales();
        assert_eq!(l.shipped()[0].as_str(), "en-US");
        assert!(l.shipped().iter().any(|t| t.as_str() == "de"));
    }

    #[rstest]
    #[case(Some("de"), Some("en-US"), "de")] // guild wins over user
    #[case(None, Some("de-AT"), "de")] // language of a regional variant
    #[case(None, Some("de"), "de")]
    #[case(None, Some("en-GB"), "en-US")] // same language, other region
    #[case(None, Some("ja"), "en-US")] // not shipped
    #[case(None, Some("nonsense tag"), "en-US")]
    #[case(None, None, "en-US")]
    #[case(Some("fr"), Some("de"), "de")] // a guild locale no longer shipped yields to the user's
    #[case(Some("de-CH"), None, "de")]
    fn resolve_order(#[case] guild: Option<&str>, #[case] user: Option<&str>, #[case] want: &str) {
        let guild = guild.map(tag);
        assert_eq!(locales().resolve(guild.as_ref(), user).as_str(), want);
    }

    #[test]
    fn text_formats_arguments_in_the_locale() {
        let l = locales();
        let en = l.text(
            &tag("en-US"),
            "error-rate-limited",
            &[("seconds", Arg::from(3u32))],
        );
        let de = l.text(
            &tag("de"),
            "error-rate-limited",
            &[("seconds", Arg::from(3u32))],
        );
        assert!(en.contains('3') && en.contains("again"), "{en}");
        assert!(de.contains('3') && de.contains("erneut"), "{de}");
    }

    #[test]
    fn missing_keys_fall_back_never_panic() {
        let files = vec![
            (
                "en-US".into(),
                "en-US/x.ftl".into(),
                "only-en = Hello\n".into(),
            ),
            ("de".into(), "de/x.ftl".into(), "other = Hallo\n".into()),
        ];
        let l = Locales::from_files(files).unwrap();
        assert_eq!(l.text(&tag("de"), "only-en", &[]), "Hello");
        assert_eq!(l.text(&tag("de"), "other", &[]), "Hallo");
        assert_eq!(l.text(&tag("de"), "nowhere", &[]), "nowhere");
        assert_eq!(l.text(&tag("ja"), "only-en", &[]), "Hello");
        assert_eq!(
            l.text(&tag("de"), "other.missing-attr", &[]),
            "other.missing-attr"
        );
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let files = vec![(
            "en-US".into(),
            "locales/en-US/x.ftl".into(),
            "ok = fine\n\nbroken = { $x\n".into(),
        )];
        let err = Locales::from_files(files).unwrap_err().to_string();
        assert!(err.starts_with("locales/en-US/x.ftl:3:"), "{err}");
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let files = vec![
            ("en-US".into(), "en-US/a.ftl".into(), "same = A\n".into()),
            ("en-US".into(), "en-US/b.ftl".into(), "same = B\n".into()),
        ];
        let err = Locales::from_files(files).unwrap_err().to_string();
        assert!(
            err.contains("`same`") && err.contains("en-US/b.ftl"),
            "{err}"
        );
    }

    #[test]
    fn translations_cover_each_locale_with_the_key() {
        let t = locales().translations("cmd-setup-description");
        assert!(t.contains_key("en-US") && t.contains_key("de"), "{t:?}");
        assert_ne!(t["en-US"], t["de"]);
    }

    /// Every (file, message id, attribute) in one locale directory, read from disk.
    fn keys_of(dir: &Path) -> BTreeSet<(String, String)> {
        let mut keys = BTreeSet::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "ftl") {
                continue;
            }
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let resource =
                parse_ftl(&path.display().to_string(), text).unwrap_or_else(|e| panic!("{e}"));
            for entry in resource.entries() {
                if let ast::Entry::Message(m) = entry {
                    let id = m.id.name.to_owned();
                    if m.value.is_some() {
                        keys.insert((file.clone(), id.clone()));
                    }
                    for a in &m.attributes {
                        keys.insert((file.clone(), format!("{id}.{}", a.id.name)));
                    }
                }
            }
        }
        keys
    }

    /// Scans `locales/` on disk, so files added by anyone are covered without touching this test.
    #[test]
    fn every_key_exists_in_every_locale() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("locales");
        let reference = keys_of(&root.join(FALLBACK));
        assert!(!reference.is_empty());
        let mut problems = Vec::new();
        for entry in std::fs::read_dir(&root).unwrap() {
            let dir = entry.unwrap().path();
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            if !dir.is_dir() || name == FALLBACK {
                continue;
            }
            let keys = keys_of(&dir);
            for (file, key) in reference.difference(&keys) {
                problems.push(format!("locales/{name}/{file}: missing `{key}`"));
            }
            for (file, key) in keys.difference(&reference) {
                problems.push(format!("locales/{name}/{file}: `{key}` is not in en-US"));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        // And the embedded copy loads (duplicates across files, tags).
        locales();
    }
}
