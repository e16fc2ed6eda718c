//! Search folding: the one definition of a "word" for the station index and its queries, and the
//! spellings a name is indexed under so that German and Nordic transliterations find each other.
//!
//! Text is folded to ASCII lowercase with [`model::fold`](super::model::fold) (deunicode: "Köln" → "koln")
//! and cut into ASCII alphanumeric words. That alone misses the way people write umlauts without an
//! umlaut key: "koeln" for Köln, "goeteborg" for Göteborg, "oestfold" for Østfold, and the names that
//! are *written* that way ("Radio Koeln"). So the index holds every name under up to three [`spellings`]:
//!
//! - plain: `model::fold` (ä→a, ö/ø→o, ü→u, å→a, æ→ae, ß→ss);
//! - spelled out: ä/æ→ae, ö/ø→oe, ü→ue, å→aa (then the plain fold for the rest);
//! - contracted: the plain spelling with the ASCII digraphs ae/oe/ue/aa read as one letter ("koeln" →
//!   "koln"), so a name written "Koeln" is found by "köln" and "koln".
//!
//! Queries are folded plainly only: whichever way the user writes Köln (köln, koln, koeln), one of the
//! indexed spellings of "Köln" and of "Koeln" is that word. Folding `oe` → `o` on both sides instead
//! would make "joe" and "jo" one word; here the contracted spelling only *adds* terms, and leaves out the
//! digraphs that are rarely an umlaut: at the end of a word (joe, blue, reggae) and `ue` after q or g
//! (queen, guest, merengue).

use super::model::fold;

/// The plain fold of `text` cut into ASCII alphanumeric words (queries, tags, the tie-break length).
pub fn words(text: &str) -> Vec<String> {
    split_words(&fold(text))
}

/// The distinct spellings `text` is indexed under, each as its words; the plain one ([`words`]) first.
/// Most names have one spelling; a name with an umlaut or an ASCII digraph has two or three.
pub fn spellings(text: &str) -> Vec<Vec<String>> {
    let plain = words(text);
    let spelled_out = split_words(&fold(&spell_out_umlauts(text)));
    let contracted: Vec<String> = plain.iter().map(|word| contract_digraphs(word)).collect();
    let mut spellings = vec![plain];
    for candidate in [spelled_out, contracted] {
        if !spellings.contains(&candidate) {
            spellings.push(candidate);
        }
    }
    spellings
}

fn split_words(folded: &str) -> Vec<String> {
    folded
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Lowercases and writes the German and Nordic letters the way a keyboard without them does.
fn spell_out_umlauts(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars().flat_map(char::to_lowercase) {
        match c {
            'ä' | 'æ' => out.push_str("ae"),
            'ö' | 'ø' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'å' => out.push_str("aa"),
            other => out.push(other),
        }
    }
    out
}

/// Reads ae/oe/ue/aa inside an ASCII word as the one letter they stand for ("koeln" → "koln",
/// "aarhus" → "arhus"), except where they are rarely an umlaut: at the end of the word, and `ue` after
/// q or g.
fn contract_digraphs(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut previous: Option<char> = None;
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        let Some(&next) = chars.peek() else { break };
        let digraph = matches!((c, next), ('a', 'e' | 'a') | ('o' | 'u', 'e'));
        let romance_ue = c == 'u' && matches!(previous, Some('q' | 'g'));
        if digraph && !romance_ue {
            // Drop the second letter unless it ends the word.
            let mut after = chars.clone();
            after.next();
            if after.peek().is_some() {
                chars.next();
            }
        }
        previous = Some(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_fold_and_split() {
        assert_eq!(words("ANTENNE THÜRINGEN"), ["antenne", "thuringen"]);
        assert_eq!(words("  BBC-Radio 1!! "), ["bbc", "radio", "1"]);
        assert!(words("?!… —").is_empty());
    }

    #[test]
    fn umlauts_are_indexed_plain_and_spelled_out() {
        assert_eq!(
            spellings("Radio Köln"),
            [["radio", "koln"], ["radio", "koeln"]]
        );
        assert_eq!(
            spellings("Sveriges Radio P4 Göteborg")[1],
            ["sveriges", "radio", "p4", "goeteborg"]
        );
        assert_eq!(spellings("NRK P1 Østfold")[1], ["nrk", "p1", "oestfold"]);
        assert_eq!(spellings("Ländle TV")[1], ["laendle", "tv"]);
        assert_eq!(spellings("TeleZÜRI")[1], ["telezueri"]);
        assert_eq!(spellings("Århus")[1], ["aarhus"]);
        // ß is "ss" and æ is "ae" in both: only the ø differs.
        assert_eq!(
            spellings("Straße Æbelø")[..2],
            [["strasse", "aebelo"], ["strasse", "aebeloe"]]
        );
    }

    #[test]
    fn ascii_digraphs_are_also_indexed_contracted() {
        assert_eq!(
            spellings("Radio Koeln"),
            [["radio", "koeln"], ["radio", "koln"]]
        );
        assert_eq!(
            spellings("FluxFM - JaegerMusic")[1],
            ["fluxfm", "jagermusic"]
        );
        assert_eq!(spellings("Aarhus")[1], ["arhus"]);
        assert_eq!(spellings("Ö1 oesterreich")[1], ["oe1", "oesterreich"]);
        assert_eq!(spellings("Ö1 oesterreich")[2], ["o1", "osterreich"]);
    }

    #[test]
    fn digraphs_that_are_rarely_umlauts_stay_as_written() {
        for word in [
            "joe", "blue", "reggae", "queen", "guest", "merengue", "radio",
        ] {
            assert_eq!(spellings(word), [[word]], "{word}");
        }
        // Only added, never replacing: "phoenix" keeps its own spelling first.
        assert_eq!(spellings("Phoenix"), [["phoenix"], ["phonix"]]);
    }
}
