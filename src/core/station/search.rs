//! `StationIndex`: fuzzy, alias- and genre-aware station search behind autocomplete and `stations search`.
//!
//! One tantivy document per station in an in-RAM index, built from a [`Catalog`] snapshot in one call
//! (the caller swaps the whole index on reload). Text is folded to ASCII lowercase (`model::fold`) and cut
//! into words before it reaches tantivy, and queries go through the same [`words`] function, so "THÜRINGEN",
//! "thuringen" and "Thüringen" are one term.
//!
//! Ranking is designed, not BM25: every clause scores a constant so the order follows these rules, best first:
//! 1. the whole query equals the station name ([`EXACT_NAME`]) or one of its aliases ([`EXACT_ALIAS`]);
//! 2. per query word, the best of: whole word > prefix (last word only, the user is typing) > typo
//!    (Levenshtein 1, or 2 for words of 6+ letters, transpositions cost 1); name > alias > tag;
//!    a second typo, and a typo in the word being typed, only count when the first letter is right;
//!    word scores add up, so stations matching more of the words rank higher;
//! 3. ties: score, then folded name, then id — fully deterministic.
//!
//! The empty query returns a fixed first page: caller-preferred ids first (a guild's favourites and
//! most-played), then every station alphabetically by folded name, then id.

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};

use levenshtein_automata::{DFA, Distance, LevenshteinAutomatonBuilder, SINK_STATE};
use serde::Serialize;
use tantivy::collector::TopDocs;
use tantivy::query::{
    AutomatonWeight, BooleanQuery, ConstScoreQuery, DisjunctionMaxQuery, EnableScoring, Occur,
    Query, TermQuery, Weight,
};
use tantivy::schema::{
    FAST, Field, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{LowerCaser, SimpleTokenizer, TextAnalyzer};
use tantivy::{Index, IndexReader, ReloadPolicy, SingleSegmentIndexWriter, TantivyDocument, Term};

use super::catalog::Catalog;
use super::model::{MAX_NAME_CHARS, StationId, fold};

/// Discord allows at most 25 autocomplete choices.
pub const MAX_AUTOCOMPLETE: usize = 25;

/// Longest query we look at (in characters); Discord caps autocomplete input at 100, the CLI does not.
const MAX_QUERY_CHARS: usize = 200;
/// Most query words we turn into clauses: bounds latency on pasted paragraphs.
const MAX_QUERY_WORDS: usize = 8;
/// Longest word we try fuzzily; longer "words" are noise (URLs, pasted junk) and only match exactly.
const MAX_FUZZY_WORD_CHARS: usize = 32;

/// Score of the whole query being the station's name.
pub const EXACT_NAME: f32 = 100.0;
/// Score of the whole query being one of the station's aliases.
pub const EXACT_ALIAS: f32 = 90.0;
const WORD: f32 = 10.0;
const PREFIX: f32 = 6.0;
const TYPO_1: f32 = 4.0;
const TYPO_2: f32 = 2.5;
const NAME_WEIGHT: f32 = 1.0;
const ALIAS_WEIGHT: f32 = 0.9;
const TAG_WEIGHT: f32 = 0.6;
/// Share of the score of the other fields a word also matches (see `build_query`).
const FIELD_TIE_BREAKER: f32 = 0.2;
/// Multiplier for caller-preferred stations on a non-empty query: reorders near-equals, never beats a
/// clearly better match (a whole word over a typo is 10 vs 4).
const PREFERRED_BOOST: f32 = 1.15;

/// Name of the analyzer registered on the index: text arrives pre-folded, so split + lowercase suffices.
const ANALYZER: &str = "alastor_words";

/// One ranked result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    pub id: StationId,
    pub name: String,
    pub score: f32,
}

/// Why the index could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("building the station index failed: {0}")]
    Build(#[from] tantivy::TantivyError),
}

#[derive(Clone, Copy)]
struct Fields {
    ord: Field,
    name: Field,
    alias: Field,
    tag: Field,
    name_key: Field,
    alias_key: Field,
}

/// A station as the ranking needs it, in index order.
struct Entry {
    id: StationId,
    name: String,
}

/// A searchable snapshot of a catalog. Cheap to query from many tasks at once (`&self`, `Send + Sync`).
pub struct StationIndex {
    reader: IndexReader,
    fields: Fields,
    /// INVARIANT: sorted by (folded name, id); the `ord` fast field of a document indexes this vector.
    entries: Vec<Entry>,
}

impl std::fmt::Debug for StationIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StationIndex")
            .field("stations", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// Folds text and cuts it into ASCII alphanumeric words: the one definition of "word" for index and query.
fn words(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

fn build_schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::Basic),
    );
    let fields = Fields {
        ord: builder.add_u64_field("ord", FAST),
        name: builder.add_text_field("name", text.clone()),
        alias: builder.add_text_field("alias", text.clone()),
        tag: builder.add_text_field("tag", text),
        name_key: builder.add_text_field("name_key", STRING),
        alias_key: builder.add_text_field("alias_key", STRING),
    };
    (builder.build(), fields)
}

impl StationIndex {
    /// Indexes every station of `catalog`. Self-contained (RAM only) so a reload can build a fresh index
    /// off to the side and swap it in whole.
    pub fn build(catalog: &Catalog) -> Result<Self, SearchError> {
        let (schema, fields) = build_schema();
        let index = Index::create_in_ram(schema);
        index.tokenizers().register(
            ANALYZER,
            TextAnalyzer::builder(SimpleTokenizer::default())
                .filter(LowerCaser)
                .build(),
        );

        let mut stations: Vec<_> = catalog.iter().map(|s| (fold(&s.name), s)).collect();
        stations.sort_by(|(ka, a), (kb, b)| ka.cmp(kb).then_with(|| a.id.cmp(&b.id)));

        // One segment in docid order, so the index (and ties inside tantivy) are the same on every build,
        // written on this thread: an indexing thread would leave its freed arena (megabytes) mapped in
        // its own malloc arena for the life of the process. 50k stations take a few MB; tantivy's
        // minimum budget (15 MB) is plenty.
        let mut writer = SingleSegmentIndexWriter::<TantivyDocument>::new(index, 15_000_000)?;
        let mut entries = Vec::with_capacity(stations.len());
        for (ord, (_, station)) in stations.into_iter().enumerate() {
            // INVARIANT: validation caps names; a longer one would be rejected by Discord, so fail loudly
            // in debug builds and truncate defensively in release.
            debug_assert!(station.name.chars().count() <= MAX_NAME_CHARS);
            let mut doc = TantivyDocument::default();
            doc.add_u64(fields.ord, ord as u64);
            let name_words = words(&station.name);
            doc.add_text(fields.name, name_words.join(" "));
            doc.add_text(fields.name_key, name_words.join(" "));
            // The name without spaces is an implicit alias: "jazz 24" finds "Jazz24", "bbcradio1" finds
            // "BBC Radio 1".
            doc.add_text(fields.alias_key, name_words.concat());
            for alias in &station.aliases {
                let alias_words = words(alias);
                doc.add_text(fields.alias, alias_words.join(" "));
                doc.add_text(fields.alias_key, alias_words.join(" "));
                doc.add_text(fields.alias_key, alias_words.concat());
            }
            for tag in &station.tags {
                doc.add_text(fields.tag, words(tag).join(" "));
            }
            writer.add_document(doc)?;
            entries.push(Entry {
                id: station.id.clone(),
                name: station.name.chars().take(MAX_NAME_CHARS).collect(),
            });
        }
        let index = writer.finalize()?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            reader,
            fields,
            entries,
        })
    }

    /// Number of indexed stations.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Autocomplete choices for `query`, at most `limit` clamped to [`MAX_AUTOCOMPLETE`].
    pub fn autocomplete(&self, query: &str, limit: usize) -> Vec<SearchHit> {
        self.autocomplete_preferring(query, limit, &[])
    }

    /// Autocomplete with caller-preferred stations (a guild's favourites, then most-played, in the order
    /// given). Empty query: the preferred stations first, in that order, then the alphabetical page. Non-empty
    /// query: preferred stations get a small boost that reorders near-equal matches only.
    pub fn autocomplete_preferring(
        &self,
        query: &str,
        limit: usize,
        preferred: &[StationId],
    ) -> Vec<SearchHit> {
        self.ranked(query, limit.min(MAX_AUTOCOMPLETE), preferred)
    }

    /// Ranked search with no Discord cap on `limit` (the CLI, the `stations check` filter).
    pub fn search(&self, query: &str, limit: usize) -> Vec<SearchHit> {
        self.ranked(query, limit, &[])
    }

    fn ranked(&self, query: &str, limit: usize, preferred: &[StationId]) -> Vec<SearchHit> {
        if limit == 0 || self.entries.is_empty() {
            return Vec::new();
        }
        let query: String = query.chars().take(MAX_QUERY_CHARS).collect();
        let mut query_words = words(&query);
        query_words.truncate(MAX_QUERY_WORDS);
        if query_words.is_empty() {
            return self.first_page(limit, preferred);
        }
        let searcher = self.reader.searcher();
        let tantivy_query = self.build_query(&searcher, &query_words);
        // Fetch a margin past `limit` so re-sorting ties by name (and the preferred boost) decides the cut,
        // not tantivy's internal order.
        let fetch = limit.saturating_add(32).min(self.entries.len());
        let top = match searcher.search(&tantivy_query, &TopDocs::with_limit(fetch)) {
            Ok(top) => top,
            Err(error) => {
                // RAM index, no I/O: only a bug gets here. Autocomplete must still answer, so log and
                // return nothing rather than fail the interaction.
                tracing::warn!(%error, "station search failed");
                return Vec::new();
            }
        };
        let preferred: HashSet<&StationId> = preferred.iter().collect();
        let mut hits: Vec<(f32, usize)> = Vec::with_capacity(top.len());
        for (score, address) in top {
            let Some(ord) = self.ord_of(&searcher, address) else {
                continue;
            };
            let entry = &self.entries[ord];
            let score = if preferred.contains(&entry.id) {
                score * PREFERRED_BOOST
            } else {
                score
            };
            hits.push((score, ord));
        }
        // Entries are already in (name, id) order, so ord is the name-then-id tie-break.
        hits.sort_by(|(sa, oa), (sb, ob)| sb.total_cmp(sa).then(oa.cmp(ob)));
        hits.truncate(limit);
        hits.into_iter()
            .map(|(score, ord)| self.hit(ord, score))
            .collect()
    }

    fn ord_of(&self, searcher: &tantivy::Searcher, address: tantivy::DocAddress) -> Option<usize> {
        let segment = searcher.segment_reader(address.segment_ord);
        let column = segment.fast_fields().u64("ord").ok()?;
        let ord = column.first(address.doc_id)?;
        usize::try_from(ord)
            .ok()
            .filter(|&o| o < self.entries.len())
    }

    fn hit(&self, ord: usize, score: f32) -> SearchHit {
        let entry = &self.entries[ord];
        SearchHit {
            id: entry.id.clone(),
            name: entry.name.clone(),
            score,
        }
    }

    /// The empty-query page: preferred ids (known ones, first occurrence, in the given order), then the
    /// rest alphabetically. Scores count down so the JSON output shows the order.
    fn first_page(&self, limit: usize, preferred: &[StationId]) -> Vec<SearchHit> {
        let mut seen = HashSet::new();
        let preferred_ords = preferred.iter().filter_map(|id| {
            self.entries
                .iter()
                .position(|e| &e.id == id)
                .filter(|&ord| seen.insert(ord))
        });
        let ords: Vec<usize> = preferred_ords.collect();
        let rest = (0..self.entries.len()).filter(|ord| !seen.contains(ord));
        ords.iter()
            .copied()
            .chain(rest)
            .take(limit)
            .map(|ord| self.hit(ord, 0.0))
            .collect()
    }

    /// Whether `word` is a whole word of some station's name or alias.
    fn is_known_word(&self, searcher: &tantivy::Searcher, word: &str) -> bool {
        searcher.segment_readers().iter().any(|segment| {
            [self.fields.name, self.fields.alias].iter().any(|&field| {
                segment
                    .inverted_index(field)
                    .ok()
                    .and_then(|index| index.terms().get(word.as_bytes()).ok().flatten())
                    .is_some()
            })
        })
    }

    fn build_query(&self, searcher: &tantivy::Searcher, query_words: &[String]) -> BooleanQuery {
        let f = self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let whole = query_words.join(" ");
        clauses.push((
            Occur::Should,
            scored(term_query(f.name_key, &whole), EXACT_NAME),
        ));
        clauses.push((
            Occur::Should,
            scored(term_query(f.alias_key, &whole), EXACT_ALIAS),
        ));
        if query_words.len() > 1 {
            // "bbc1" typed as "bbc 1", "jazz 24": the concatenation may be an alias or compact name.
            let compact = query_words.concat();
            clauses.push((
                Occur::Should,
                scored(term_query(f.alias_key, &compact), EXACT_ALIAS),
            ));
        }
        let last = query_words.len() - 1;
        for (i, word) in query_words.iter().enumerate() {
            let typing = i == last;
            let known = self.is_known_word(searcher, word);
            let automata = WordAutomata::new(word, typing, known);
            // Per word: the better of name and alias counts (aliases often repeat name words, so adding
            // them up would favour stations with redundant aliases), plus a fifth of a tag match: "Jazz24"
            // named *and* tagged jazz beats a station only tagged jazz, but a prefix or a tag never
            // reaches a whole word in the name.
            let titles = DisjunctionMaxQuery::new(vec![
                automata.in_field(f.name, NAME_WEIGHT, true),
                automata.in_field(f.alias, ALIAS_WEIGHT, true),
            ]);
            let tag = automata.in_field(f.tag, TAG_WEIGHT, false);
            clauses.push((
                Occur::Should,
                Box::new(DisjunctionMaxQuery::with_tie_breaker(
                    vec![Box::new(titles), tag],
                    FIELD_TIE_BREAKER,
                )),
            ));
        }
        BooleanQuery::new(clauses)
    }
}

/// The automata of one query word, built once and walked over the name, alias and tag dictionaries.
struct WordAutomata {
    word: String,
    prefix: Option<Arc<TermAutomaton>>,
    typo_1: Option<Arc<TermAutomaton>>,
    typo_2: Option<Arc<TermAutomaton>>,
    typo_prefix: Option<Arc<TermAutomaton>>,
}

impl WordAutomata {
    /// `known`: the word is a whole word of some name or alias. Its typo neighbours would then only pad
    /// the tail of the results (a whole word scores 10, a typo 4), so whole-word typos are not tried:
    /// that is most of the search work saved on the most common queries.
    fn new(word: &str, typing: bool, known: bool) -> Self {
        let len = word.chars().count();
        let fuzzy = (3..=MAX_FUZZY_WORD_CHARS).contains(&len);
        let typos = fuzzy && !known;
        let build = |distance: u8, prefix: bool, pinned: bool| {
            Some(Arc::new(TermAutomaton::new(word, distance, prefix, pinned)))
        };
        Self {
            word: word.to_owned(),
            prefix: if typing { build(0, true, false) } else { None },
            typo_1: if typos { build(1, false, false) } else { None },
            // Walking a term dictionary with a 2-typo automaton, or a 1-typo prefix automaton, visits
            // most of it: pinning the first letter (rarely the mistyped one) keeps that walk to one branch.
            typo_2: if typos && len >= 6 {
                build(2, false, true)
            } else {
                None
            },
            // A typo inside the word being typed: "radoi para" → "Radio Paradise".
            typo_prefix: if fuzzy && typing && len >= 4 {
                build(1, true, true)
            } else {
                None
            },
        }
    }

    /// How the word matches in one field: the best of whole word, prefix (`prefixes`: a field where a
    /// prefix counts; tags are whole genre words, never prefixes; only built for the word being typed),
    /// and typos. Only the best counts: a whole-word hit must not also collect the prefix and typo
    /// scores of the same word.
    fn in_field(&self, field: Field, weight: f32, prefixes: bool) -> Box<dyn Query> {
        let mut alternatives: Vec<Box<dyn Query>> =
            vec![scored(term_query(field, &self.word), WORD * weight)];
        let automata = [
            (self.prefix.as_ref().filter(|_| prefixes), PREFIX),
            (self.typo_1.as_ref(), TYPO_1),
            (self.typo_2.as_ref(), TYPO_2),
            (self.typo_prefix.as_ref().filter(|_| prefixes), TYPO_2),
        ];
        for (automaton, score) in automata {
            if let Some(automaton) = automaton {
                let query = AutomatonQuery {
                    field,
                    automaton: Arc::clone(automaton),
                };
                alternatives.push(scored(Box::new(query), score * weight));
            }
        }
        Box::new(DisjunctionMaxQuery::new(alternatives))
    }
}

/// A Levenshtein automaton over term bytes (tantivy's `FuzzyTermQuery` builds one per field; this one is
/// shared by all three), optionally pinned to the word's first byte.
struct TermAutomaton {
    dfa: DFA,
    first: Option<u8>,
}

/// The state before the pinned first byte was read (DFA states are small indices, never this).
const AWAITING_FIRST: u32 = u32::MAX;

impl TermAutomaton {
    fn new(word: &str, distance: u8, prefix: bool, pinned: bool) -> Self {
        // Building a Levenshtein builder costs milliseconds at distance 2: one per distance, for good.
        static BUILDERS: [OnceLock<LevenshteinAutomatonBuilder>; 3] =
            [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        let builder = BUILDERS[usize::from(distance.min(2))]
            .get_or_init(|| LevenshteinAutomatonBuilder::new(distance.min(2), true));
        let dfa = if prefix {
            builder.build_prefix_dfa(word)
        } else {
            builder.build_dfa(word)
        };
        Self {
            dfa,
            first: word.as_bytes().first().copied().filter(|_| pinned),
        }
    }
}

impl tantivy_fst::Automaton for TermAutomaton {
    type State = u32;

    fn start(&self) -> u32 {
        if self.first.is_some() {
            AWAITING_FIRST
        } else {
            self.dfa.initial_state()
        }
    }

    fn is_match(&self, state: &u32) -> bool {
        *state != AWAITING_FIRST && matches!(self.dfa.distance(*state), Distance::Exact(_))
    }

    fn can_match(&self, state: &u32) -> bool {
        *state != SINK_STATE
    }

    fn accept(&self, state: &u32, byte: u8) -> u32 {
        match (*state, self.first) {
            (AWAITING_FIRST, Some(first)) if byte != first => SINK_STATE,
            (AWAITING_FIRST, _) => self.dfa.transition(self.dfa.initial_state(), byte),
            (state, _) => self.dfa.transition(state, byte),
        }
    }
}

/// Every document holding a term the automaton accepts (what `FuzzyTermQuery` does, with our automaton).
#[derive(Clone)]
struct AutomatonQuery {
    field: Field,
    automaton: Arc<TermAutomaton>,
}

impl std::fmt::Debug for AutomatonQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutomatonQuery")
            .field("field", &self.field)
            .field("pinned", &self.automaton.first)
            .finish_non_exhaustive()
    }
}

impl Query for AutomatonQuery {
    fn weight(&self, _: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(AutomatonWeight::<TermAutomaton>::new(
            self.field,
            Arc::clone(&self.automaton),
        )))
    }
}

fn term_query(field: Field, text: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, text),
        IndexRecordOption::Basic,
    ))
}

fn scored(query: Box<dyn Query>, score: f32) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(query, score))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(automaton: &TermAutomaton, term: &str) -> bool {
        use tantivy_fst::Automaton as _;
        let mut state = automaton.start();
        for byte in term.bytes() {
            state = automaton.accept(&state, byte);
            if !automaton.can_match(&state) {
                return false;
            }
        }
        automaton.is_match(&state)
    }

    #[test]
    fn automata_pin_the_first_letter_only_for_second_typos_and_typed_prefixes() {
        let typing = WordAutomata::new("radoi", true, false);
        let typo_prefix = typing
            .typo_prefix
            .as_ref()
            .expect("4+ letters while typing");
        assert!(accepts(typo_prefix, "radiohead"));
        assert!(!accepts(typo_prefix, "tadiohead"), "first letter pinned");
        let prefix = typing.prefix.as_ref().expect("typing");
        assert!(accepts(prefix, "radoix") && !accepts(prefix, "radio"));
        // One typo anywhere, the first letter included, is still found.
        let typo_1 = typing.typo_1.as_ref().expect("3+ letters");
        assert!(accepts(typo_1, "radio") && accepts(typo_1, "tadoi"));

        let long = WordAutomata::new("paradise", false, false);
        assert!(long.prefix.is_none() && long.typo_prefix.is_none());
        let typo_2 = long.typo_2.as_ref().expect("6+ letters");
        assert!(accepts(typo_2, "pardaice"));
        assert!(!accepts(typo_2, "baradice"), "first letter pinned");
        assert!(!accepts(typo_2, "paradiseradio"), "not a prefix automaton");
        assert!(WordAutomata::new("fm", true, false).typo_1.is_none());
        // A word some station has whole: no whole-word typos, but still typed-prefix typos.
        let known = WordAutomata::new("paradise", true, true);
        assert!(known.typo_1.is_none() && known.typo_2.is_none());
        assert!(known.prefix.is_some() && known.typo_prefix.is_some());
    }

    #[test]
    fn words_fold_and_split_like_the_index() {
        assert_eq!(words("ANTENNE THÜRINGEN"), ["antenne", "thuringen"]);
        assert_eq!(words("  BBC-Radio 1!! "), ["bbc", "radio", "1"]);
        assert!(words("?!… —").is_empty());
    }
}
