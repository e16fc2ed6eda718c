//! `StationIndex`: fuzzy, alias- and genre-aware station search behind autocomplete and `stations search`.
//!
//! One tantivy document per station in an in-RAM index, built from a [`Catalog`] snapshot in one call
//! (the caller swaps the whole index on reload). Text is folded to ASCII lowercase and cut into words
//! before it reaches tantivy ([`fold`](super::fold)), so "THÜRINGEN", "thuringen" and "Thüringen" are one
//! term; names, aliases and tags are indexed under each of their [`spellings`] too, so "koeln", "koln" and
//! "köln" find both "Radio Köln" and "Radio Koeln". Queries are folded once, plainly ([`words`]).
//!
//! Ranking is designed, not BM25: every clause scores a constant so the order follows these rules, best first:
//! 1. the whole query equals the station name ([`EXACT_NAME`]), else one of its aliases or its name
//!    without spaces ([`EXACT_ALIAS`]): an exact name is first whatever the rest scores (a preferred
//!    station included), an exact alias above any word match;
//! 2. per query word, the best of: whole word > prefix (last word only, the user is typing) > typo
//!    (Levenshtein 1, or 2 for words of 6+ letters, transpositions cost 1), in the name > in an alias;
//!    a tag (genre) match counts only where neither matches, and below the weakest of them, so a station
//!    with the word in its name always outranks one only tagged with it;
//!    a second typo, and a typo in the word being typed, only count when the first letter is right;
//!    word scores add up, so stations matching more of the words rank higher;
//! 3. ties: the closer name first (fewer words, then fewer letters: "absolute" finds "Absolute Radio"
//!    before "1.FM - Absolute Trance (Euro) Radio"), then folded name, then id — fully deterministic.
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
use super::fold::{spellings, words};
use super::model::{MAX_NAME_CHARS, StationId, fold};

/// Discord allows at most 25 autocomplete choices.
pub const MAX_AUTOCOMPLETE: usize = 25;

/// Longest query we look at (in characters); Discord caps autocomplete input at 100, the CLI does not.
const MAX_QUERY_CHARS: usize = 200;
/// Most query words we turn into clauses: bounds latency on pasted paragraphs.
const MAX_QUERY_WORDS: usize = 8;
/// Longest word we try fuzzily; longer "words" are noise (URLs, pasted junk) and only match exactly.
const MAX_FUZZY_WORD_CHARS: usize = 32;

/// Score of the whole query being the station's name: more than any other match can add up to (an exact
/// alias and eight whole words, boosted as preferred, is (200 + 80) × 1.15 = 322).
pub const EXACT_NAME: f32 = 1000.0;
/// Score of the whole query being one of the station's aliases (or its name without spaces): more than
/// eight whole words, boosted (80 × 1.15 = 92).
pub const EXACT_ALIAS: f32 = 200.0;
const WORD: f32 = 10.0;
const PREFIX: f32 = 6.0;
const TYPO_1: f32 = 4.0;
const TYPO_2: f32 = 2.5;
const NAME_WEIGHT: f32 = 1.0;
const ALIAS_WEIGHT: f32 = 0.9;
/// A query word that is a tag: below the weakest name or alias match (a second typo in an alias,
/// 2.5 × 0.9 = 2.25) even when boosted as preferred (1.5 × 1.15 = 1.725).
const TAG_WORD: f32 = 1.5;
const TAG_TYPO_1: f32 = 0.75;
const TAG_TYPO_2: f32 = 0.5;
/// Multiplier for caller-preferred stations on a non-empty query: reorders near-equals, never beats a
/// clearly better match (a whole word over a typo is 10 vs 4, a name over a tag 2.25 vs 1.5).
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
    /// INVARIANT: sorted by the tie-break order — closeness (name words, then letters), folded name, id —
    /// and added to the index in this order, so docid order is that order too (tantivy breaks score ties
    /// by docid); the `ord` fast field of a document indexes this vector.
    entries: Vec<Entry>,
    /// Indices into `entries` by (folded name, id): the empty query's alphabetical page.
    alphabetical: Vec<usize>,
}

impl std::fmt::Debug for StationIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StationIndex")
            .field("stations", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// How close a name is to any query that matches it, smaller first: its number of words, then their
/// letters. Among stations a query matches equally well, the one with fewer words besides the query's
/// is the one meant ("Absolute Radio", not "1.FM - Absolute Trance (Euro) Radio").
fn closeness(name_words: &[String]) -> (usize, usize) {
    (name_words.len(), name_words.iter().map(String::len).sum())
}

/// Adds each word of `spellings` once to `field`, as one text value.
fn add_words(doc: &mut TantivyDocument, field: Field, spellings: &[Vec<String>]) {
    let mut seen = HashSet::new();
    let distinct: Vec<&str> = spellings
        .iter()
        .flatten()
        .map(String::as_str)
        .filter(|w| seen.insert(*w))
        .collect();
    doc.add_text(field, distinct.join(" "));
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

        // Only the sort keys for all stations at once; the spellings are made one station at a time below
        // (holding them all would cost tens of MB at 50k stations, kept mapped after the build).
        let mut stations: Vec<_> = catalog
            .iter()
            .map(|s| (closeness(&words(&s.name)), fold(&s.name), s))
            .collect();
        stations.sort_by(|(ca, ka, a), (cb, kb, b)| {
            ca.cmp(cb)
                .then_with(|| ka.cmp(kb))
                .then_with(|| a.id.cmp(&b.id))
        });
        let mut alphabetical: Vec<usize> = (0..stations.len()).collect();
        alphabetical.sort_by(|&a, &b| {
            let key = |ord: usize| stations.get(ord).map(|(_, name, s)| (name, &s.id));
            key(a).cmp(&key(b))
        });

        // One segment in docid order, so the index (and ties inside tantivy) are the same on every build,
        // written on this thread: an indexing thread would leave its freed arena (megabytes) mapped in
        // its own malloc arena for the life of the process. 50k stations take a few MB; tantivy's
        // minimum budget (15 MB) is plenty.
        let mut writer = SingleSegmentIndexWriter::<TantivyDocument>::new(index, 15_000_000)?;
        let mut entries = Vec::with_capacity(stations.len());
        for (ord, (_, _, station)) in stations.into_iter().enumerate() {
            // INVARIANT: validation caps names; a longer one would be rejected by Discord, so fail loudly
            // in debug builds and truncate defensively in release.
            debug_assert!(station.name.chars().count() <= MAX_NAME_CHARS);
            let mut doc = TantivyDocument::default();
            doc.add_u64(fields.ord, ord as u64);
            let name_spellings = spellings(&station.name);
            add_words(&mut doc, fields.name, &name_spellings);
            for spelling in &name_spellings {
                doc.add_text(fields.name_key, spelling.join(" "));
                // The name without spaces is an implicit alias: "jazz 24" finds "Jazz24", "bbcradio1"
                // finds "BBC Radio 1".
                doc.add_text(fields.alias_key, spelling.concat());
            }
            for alias in &station.aliases {
                let alias_spellings = spellings(alias);
                add_words(&mut doc, fields.alias, &alias_spellings);
                for spelling in &alias_spellings {
                    doc.add_text(fields.alias_key, spelling.join(" "));
                    doc.add_text(fields.alias_key, spelling.concat());
                }
            }
            for tag in &station.tags {
                add_words(&mut doc, fields.tag, &spellings(tag));
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
            alphabetical,
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
            let Some((ord, entry)) = self.ord_of(&searcher, address) else {
                continue;
            };
            let score = if preferred.contains(&entry.id) {
                score * PREFERRED_BOOST
            } else {
                score
            };
            hits.push((score, ord));
        }
        // Entries are already in tie-break order (closeness, name, id), so ord is the tie-break.
        hits.sort_by(|(sa, oa), (sb, ob)| sb.total_cmp(sa).then(oa.cmp(ob)));
        hits.truncate(limit);
        hits.into_iter()
            .filter_map(|(score, ord)| self.hit(ord, score))
            .collect()
    }

    /// The entry a search result is, by its `ord` fast field.
    fn ord_of(
        &self,
        searcher: &tantivy::Searcher,
        address: tantivy::DocAddress,
    ) -> Option<(usize, &Entry)> {
        let segment = searcher.segment_reader(address.segment_ord);
        let column = segment.fast_fields().u64("ord").ok()?;
        let ord = usize::try_from(column.first(address.doc_id)?).ok()?;
        Some((ord, self.entries.get(ord)?))
    }

    fn hit(&self, ord: usize, score: f32) -> Option<SearchHit> {
        let entry = self.entries.get(ord)?;
        Some(SearchHit {
            id: entry.id.clone(),
            name: entry.name.clone(),
            score,
        })
    }

    /// The empty-query page: preferred ids (known ones, first occurrence, in the given order), then the
    /// rest alphabetically.
    fn first_page(&self, limit: usize, preferred: &[StationId]) -> Vec<SearchHit> {
        let mut seen = HashSet::new();
        let preferred_ords = preferred.iter().filter_map(|id| {
            self.entries
                .iter()
                .position(|e| &e.id == id)
                .filter(|&ord| seen.insert(ord))
        });
        let ords: Vec<usize> = preferred_ords.collect();
        let rest = self
            .alphabetical
            .iter()
            .copied()
            .filter(|ord| !seen.contains(ord));
        ords.iter()
            .copied()
            .chain(rest)
            .take(limit)
            .filter_map(|ord| self.hit(ord, 0.0))
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
        let whole = query_words.join(" ");
        let mut exact = vec![
            scored(term_query(f.name_key, &whole), EXACT_NAME),
            scored(term_query(f.alias_key, &whole), EXACT_ALIAS),
        ];
        if query_words.len() > 1 {
            // "bbc1" typed as "bbc 1", "jazz 24": the concatenation may be an alias or compact name.
            exact.push(scored(
                term_query(f.alias_key, &query_words.concat()),
                EXACT_ALIAS,
            ));
        }
        // The best exact match only: an exact name also matches its own compact form, and that must not
        // add up to more than the rule says.
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Should, Box::new(DisjunctionMaxQuery::new(exact)))];
        let last = query_words.len() - 1;
        for (i, word) in query_words.iter().enumerate() {
            let typing = i == last;
            let known = self.is_known_word(searcher, word);
            let automata = WordAutomata::new(word, typing, known);
            // Per word: the best of name, alias and tag counts, never their sum. Aliases often repeat name
            // words, and packs tag a jazz station "jazz": adding them up would rank "Linn Jazz" (tagged
            // jazz) over "Jazz FM" (not tagged) for "jazz", against the closer name. Tags score below
            // every name and alias tier, so the best is a tag only where the word is in neither.
            clauses.push((
                Occur::Should,
                Box::new(DisjunctionMaxQuery::new(vec![
                    automata.in_field(f.name, &Tiers::title(NAME_WEIGHT)),
                    automata.in_field(f.alias, &Tiers::title(ALIAS_WEIGHT)),
                    automata.in_field(f.tag, &Tiers::TAG),
                ])),
            ));
        }
        BooleanQuery::new(clauses)
    }
}

/// What each kind of match of a query word scores in one field.
struct Tiers {
    word: f32,
    /// `None`: a prefix does not count in this field (tags are whole genre words).
    prefix: Option<f32>,
    typo_1: f32,
    typo_2: f32,
    /// A typo inside the word being typed (prefix fields only).
    typo_prefix: Option<f32>,
}

impl Tiers {
    const TAG: Self = Self {
        word: TAG_WORD,
        prefix: None,
        typo_1: TAG_TYPO_1,
        typo_2: TAG_TYPO_2,
        typo_prefix: None,
    };

    fn title(weight: f32) -> Self {
        Self {
            word: WORD * weight,
            prefix: Some(PREFIX * weight),
            typo_1: TYPO_1 * weight,
            typo_2: TYPO_2 * weight,
            typo_prefix: Some(TYPO_2 * weight),
        }
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

    /// How the word matches in one field: the best of whole word, prefix (only built for the word being
    /// typed, and only where `tiers` scores one) and typos. Only the best counts: a whole-word hit must
    /// not also collect the prefix and typo scores of the same word.
    fn in_field(&self, field: Field, tiers: &Tiers) -> Box<dyn Query> {
        let mut alternatives: Vec<Box<dyn Query>> =
            vec![scored(term_query(field, &self.word), tiers.word)];
        let automata = [
            (self.prefix.as_ref(), tiers.prefix),
            (self.typo_1.as_ref(), Some(tiers.typo_1)),
            (self.typo_2.as_ref(), Some(tiers.typo_2)),
            (self.typo_prefix.as_ref(), tiers.typo_prefix),
        ];
        for (automaton, score) in automata {
            if let (Some(automaton), Some(score)) = (automaton, score) {
                let query = AutomatonQuery {
                    field,
                    automaton: Arc::clone(automaton),
                };
                alternatives.push(scored(Box::new(query), score));
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
        static EXACT: OnceLock<LevenshteinAutomatonBuilder> = OnceLock::new();
        static ONE: OnceLock<LevenshteinAutomatonBuilder> = OnceLock::new();
        static TWO: OnceLock<LevenshteinAutomatonBuilder> = OnceLock::new();
        let distance = distance.min(2);
        let builder = match distance {
            0 => &EXACT,
            1 => &ONE,
            _ => &TWO,
        }
        .get_or_init(|| LevenshteinAutomatonBuilder::new(distance, true));
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

    fn index_of(names: &[&str]) -> StationIndex {
        use crate::core::station::model::{Origin, StationDraft};
        let origin = Origin::file("search.rs");
        let stations = names.iter().map(|name| {
            let draft = StationDraft {
                name: Some((*name).to_owned()),
                streams: vec!["http://127.0.0.1:9/".to_owned()],
                ..StationDraft::default()
            };
            draft.validate(&origin).expect("valid station").0
        });
        StationIndex::build(&Catalog::new(stations)).expect("index builds")
    }

    #[test]
    fn koeln_koln_and_koln_with_umlaut_find_both_spellings_as_whole_words() {
        let index = index_of(&[
            "Radio Köln",
            "Radio Koeln",
            "Radio Kolberg",
            "Joe FM",
            "Phoenix",
        ]);
        for query in ["koeln", "koln", "köln", "KÖLN"] {
            let hits = index.search(query, 5);
            let found: Vec<&str> = hits.iter().take(2).map(|h| h.name.as_str()).collect();
            assert!(
                found.contains(&"Radio Köln") && found.contains(&"Radio Koeln"),
                "{query:?} → {hits:?}"
            );
            assert!(
                hits.iter().take(2).all(|h| h.score >= WORD),
                "{query:?} → {hits:?}"
            );
        }
        // The contracted spellings are only added: "jo" is still just a prefix of "joe", "phoenix" whole.
        let jo = index.search("jo", 5);
        assert!(
            jo.first()
                .is_some_and(|h| h.name == "Joe FM" && h.score < WORD)
        );
        let phoenix = index.search("phoenix", 5);
        assert!(
            phoenix
                .first()
                .is_some_and(|h| h.name == "Phoenix" && h.score >= EXACT_NAME)
        );
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
}
