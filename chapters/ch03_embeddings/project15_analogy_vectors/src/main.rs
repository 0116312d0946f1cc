//! # Project 15 — Analogy vectors
//!
//! **Question.** Does the classic word-vector analogy "king − man + woman ≈ queen" hold in
//! the static token embeddings of a modern transformer (RoBERTa-large)?
//!
//! **What to look for.**
//! - Part 1: tokenisation details matter: "spaceship" is 3 BPE pieces, " spaceship" one;
//!   looking up the token *string* " king" fails (the vocabulary stores "Ġking") and
//!   gives `<unk>` = 3, while *encoding* the text " king" gives the real id.
//! - Part 2: the four vectors have near-zero means and similar spreads.
//! - Part 3: pairwise scatters show positive linear relations of varying strength.
//! - Part 4: all off-diagonal cosines are positive; man–woman and king–queen are highest.
//! - Part 5: the tokens nearest to king − man + woman are dominated by the inputs
//!   themselves (" king" first) and their variants; " queen" near the top is the
//!   "analogy works" outcome. R² ranks tokens almost like cosine (means are near 0).
//! - Part 6: a reusable `analogy()` with tokenisation checks; hand − glove + shoe.
//!
//! Run: `cargo run --release -p project15_analogy_vectors` (downloads roberta-large once;
//! only its embedding matrix is read).

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::device::{to_rows_f64, to_vec_f64};
use common::embeddings::{token_embeddings, TokenEmbeddings};
use common::output::Output;
use common::plot::{
    pairplot, rgb_f, scatter_size_px, Bins, Colormap, Figure, Heatmap, Marker, Panel, Series, Style,
};
use common::stats::pearson;
use common::tokenizer::Tokenizer;
use statrs::statistics::Statistics;
use tch::Tensor;

const PROJECT: &str = "project15_analogy_vectors";
const TOP_K: usize = 10;
const PART1_WORDS: [&str; 4] = ["list", "computer", "apple", "spaceship"];
const PART2_WORDS: [&str; 4] = [" king", " man", " woman", " queen"];
/// Part 6: the two active calls, then the notebook's commented-out ones (most of them
/// exercise the error paths: a word that is more than one token).
const ANALOGIES: [(&str, &str, &str); 10] = [
    (" king", " man", " woman"),
    (" hand", " glove", " shoe"),
    (" tree", " leaf", " petals"),
    ("tree", "leaf", "petals"),
    ("leaf", "tree", "flower"),
    (" husky", " dog", " bird"),
    ("finger", "hand", "foot"),
    (" shoe", " foot", " hand"),
    ("tomorrow", "future", "past"),
    ("pants", "legs", "arms"),
];

/// Analogy vectors (king − man + woman) in RoBERTa-large's static token embeddings.
///
/// `--quick` runs offline in seconds on the tiny test GPT-2: RoBERTa's BPE is GPT-2's
/// (same merges, other id numbers), so every word splits as in RoBERTa, but ids are
/// GPT-2's, there are no <s>/</s> or <unk> tokens, and the 16-d embeddings are random: the
/// values and token lists mean nothing.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Run only Part 6's two active analogies, not the notebook's commented-out list.
    #[arg(long)]
    active_only: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    let mut out = args.common.output(PROJECT)?;
    let model = args.common.model_or("roberta-large");
    args.common.resolve_embeddings(&[&model])?;
    if args.common.quick {
        out.say(
            "--quick: tiny random GPT-2 stands in for RoBERTa-large (same BPE splits, GPT-2 ids): \
                 values and token lists mean nothing.",
        );
    }
    let emb = token_embeddings(&model)?;
    part1_tokenizer(&emb, &mut out)?;
    let e4 = part2_describe(&emb, &mut out)?;
    part3_pairplot(&e4, &mut out)?;
    part4_cosines(&e4, &mut out)?;
    part5_arithmetic(&emb, &mut out)?;
    let n = if args.active_only { 2 } else { ANALOGIES.len() };
    out.say("\n## Part 6: analogy-completing function");
    for (i, &(start, sub, add)) in ANALOGIES[..n].iter().enumerate() {
        match analogy(&emb, start, sub, add, &mut out) {
            Ok(table) => {
                out.table(&format!("part6_analogy{}", i + 1), &TABLE_HEADER, &table)?;
            }
            Err(e) => out.say(format!("Error: {e}")),
        }
    }
    out.finish()
}

/// The id of the vocabulary's `<unk>` token (RoBERTa: 3), read from the tokenizer; an
/// error when it has none (GPT-2's byte-level BPE, which `--quick` uses, has no unknown
/// token: every byte sequence encodes).
fn unk_id(tok: &Tokenizer) -> Result<u32> {
    tok.token_to_id("<unk>")
        .ok_or_else(|| anyhow!("this tokenizer has no <unk> token"))
}

/// Look `s` up as an already-formed token string (what passing a list of strings to the
/// tokenizer does): the vocabulary spells a leading space as "Ġ", so " king" is absent and
/// gives `<unk>`.
fn token_string_lookup(tok: &Tokenizer, s: &str) -> Result<u32> {
    match tok.token_to_id(s) {
        Some(id) => Ok(id),
        None => unk_id(tok).with_context(|| format!("{s:?} is not in the vocabulary")),
    }
}

/// Part 1: ids with special tokens, the first 20 ids, and lookup vs encoding.
fn part1_tokenizer(emb: &TokenEmbeddings, out: &mut Output) -> Result<()> {
    out.say(format!(
        "## Part 1: embedding matrix {:?}",
        emb.matrix.size()
    ));
    let tok = &emb.tokenizer;
    for w in PART1_WORDS {
        out.say(format!(
            "{w:>10}: {:?}   \" {w}\": {:?}",
            tok.encode_with_special_tokens(w)?,
            tok.encode_with_special_tokens(&format!(" {w}"))?
        ));
    }
    for w in PART1_WORDS {
        out.say(format!(
            "pieces without special tokens: {w:?} {}, \" {w}\" {}",
            tok.encode(w)?.len(),
            tok.encode(&format!(" {w}"))?.len()
        ));
    }
    out.say("first 20 ids:");
    for i in 0..20u32 {
        out.say(format!("  {i:>2}: {:?}", tok.decode_one(i)?));
    }
    let lookup = match token_string_lookup(tok, " king") {
        Ok(id) => format!("[{id}]"),
        Err(e) => format!("none ({e:#})"),
    };
    out.say(format!(
        "token-string lookup of \" king\": {lookup}   text encoding of \" king\": {:?}",
        tok.encode(" king")?
    ));
    Ok(())
}

/// pandas' `describe()`: count, mean, sample SD, min, quartiles (linear interpolation,
/// numpy's default), max.
#[derive(Debug, Clone, PartialEq)]
struct Describe {
    count: usize,
    mean: f64,
    std: f64,
    min: f64,
    q25: f64,
    q50: f64,
    q75: f64,
    max: f64,
}

/// Percentile `q` in 0..1 of sorted values by linear interpolation between order
/// statistics (numpy's default; statrs' quantile estimator is a different one).
fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, frac) = (pos.floor() as usize, pos - pos.floor());
    match sorted.get(lo + 1) {
        Some(hi) => sorted[lo] + frac * (hi - sorted[lo]),
        None => sorted[lo],
    }
}

fn describe(v: &[f64]) -> Result<Describe> {
    if v.len() < 2 || v.iter().any(|x| !x.is_finite()) {
        bail!("describe() needs at least two finite values");
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    Ok(Describe {
        count: v.len(),
        mean: v.mean(),
        std: v.std_dev(), // statrs: sample SD (N − 1), like pandas
        min: s[0],
        q25: percentile_sorted(&s, 0.25),
        q50: percentile_sorted(&s, 0.5),
        q75: percentile_sorted(&s, 0.75),
        max: s[s.len() - 1],
    })
}

/// Part 2: the four words' embeddings `[4, d]` as columns of a table, and its summary.
fn part2_describe(emb: &TokenEmbeddings, out: &mut Output) -> Result<Vec<Vec<f64>>> {
    out.say("\n## Part 2: four embeddings in a table");
    let mut ids = vec![];
    for w in PART2_WORDS {
        let id = emb.single_token(w)?;
        out.say(format!("{w:?}: {id}"));
        ids.push(id);
    }
    let e4 = to_rows_f64(&emb.rows(&ids)?)?; // [4, d]
    let stats: Vec<Describe> = e4.iter().map(|r| describe(r)).collect::<Result<_>>()?;
    let names = ["count", "mean", "std", "min", "25%", "50%", "75%", "max"];
    out.say(format!(
        "{:>6} {}",
        "",
        PART2_WORDS.map(|w| format!("{:>10}", w.trim())).join(" ")
    ));
    let mut rows = vec![];
    for (k, name) in names.iter().enumerate() {
        let vals: Vec<f64> = stats
            .iter()
            .map(|d| {
                [
                    d.count as f64,
                    d.mean,
                    d.std,
                    d.min,
                    d.q25,
                    d.q50,
                    d.q75,
                    d.max,
                ][k]
            })
            .collect();
        out.say(format!(
            "{name:>6} {}",
            vals.iter()
                .map(|v| format!("{v:>10.4}"))
                .collect::<Vec<_>>()
                .join(" ")
        ));
        let mut row = vec![name.to_string()];
        row.extend(vals.iter().map(|v| v.to_string()));
        rows.push(row);
    }
    let mut header = vec!["stat"];
    header.extend(PART2_WORDS.map(str::trim));
    out.table("part2_describe", &header, &rows)?;
    Ok(e4)
}

/// Part 3: every pair of the four vectors against each other.
fn part3_pairplot(e4: &[Vec<f64>], out: &mut Output) -> Result<()> {
    let names: Vec<String> = PART2_WORDS.iter().map(|w| w.trim().to_string()).collect();
    out.figure(&pairplot(&names, e4, 2.5)?, "ch3_proj15_part3")?;
    Ok(())
}

/// The cosine-similarity matrix of the rows of `m`.
fn cosine_matrix_rows(m: &[Vec<f64>]) -> Vec<Vec<f64>> {
    m.iter()
        .map(|a| m.iter().map(|b| common::stats::cosine(a, b)).collect())
        .collect()
}

/// Part 4: the 4×4 cosine matrix as an annotated heatmap.
fn part4_cosines(e4: &[Vec<f64>], out: &mut Output) -> Result<()> {
    out.say("\n## Part 4: cosine similarities");
    let c = cosine_matrix_rows(e4);
    let lo = c.iter().flatten().copied().fold(f64::INFINITY, f64::min);
    let ticks: Vec<(f64, String)> = PART2_WORDS
        .iter()
        .enumerate()
        .map(|(i, w)| (i as f64, w.trim().to_string()))
        .collect();
    let mut panel = Panel::new("Cosine similarities")
        .heatmap(Heatmap::new(c.clone(), Colormap::Reds).range(lo, 1.0))
        .x_ticks(ticks.clone())
        .y_ticks(ticks);
    let mut rows = vec![];
    for (i, row) in c.iter().enumerate() {
        out.say(format!(
            "{:>7} {}",
            PART2_WORDS[i].trim(),
            row.iter()
                .map(|v| format!("{v:.3}"))
                .collect::<Vec<_>>()
                .join("  ")
        ));
        for (j, v) in row.iter().enumerate() {
            // Dark cells get white text, light cells black (like seaborn's annot).
            let t = (v - lo) / (1.0 - lo).max(1e-12);
            let color = if t > 0.6 { (255, 255, 255) } else { (0, 0, 0) };
            panel = panel.add(Series::text(
                j as f64,
                i as f64,
                &format!("{v:.2}"),
                18,
                color,
            ));
            rows.push(vec![
                PART2_WORDS[i].trim().to_string(),
                PART2_WORDS[j].trim().to_string(),
                v.to_string(),
            ]);
        }
    }
    out.table("part4_cosine", &["word_i", "word_j", "cosine"], &rows)?;
    out.figure(&Figure::new(6.0, 5.0).panel(panel), "ch3_proj15_part4")?;
    Ok(())
}

const TABLE_HEADER: [&str; 5] = ["rank", "token_id", "cosine", "r2_percent", "token"];

/// Cosine of `a` `[d]` with every row of `e` `[vocab, d]`: `[vocab]`.
fn cosine_to_all(e: &Tensor, a: &Tensor) -> Result<Vec<f64>> {
    to_vec_f64(&Tensor::cosine_similarity(e, &a.unsqueeze(0), 1, 1e-8))
}

/// The analogy vector of rows `start − subtract + add`, the cosine of every token with it,
/// and the top-10 table (cosine, R² = 100·r², token); input words are not excluded.
fn analogy_table(
    emb: &TokenEmbeddings,
    [start, sub, add]: [u32; 3],
) -> Result<(Vec<f64>, Vec<Vec<String>>)> {
    let a = emb.row(start)? - emb.row(sub)? + emb.row(add)?; // [d], raw vectors
    let sim = cosine_to_all(&emb.matrix, &a)?;
    let av = to_vec_f64(&a)?;
    let mut idx: Vec<usize> = (0..sim.len()).collect();
    idx.sort_by(|&i, &j| sim[j].total_cmp(&sim[i]));
    let mut rows = vec![];
    for (rank, &i) in idx.iter().take(TOP_K).enumerate() {
        let r = pearson(&av, &to_vec_f64(&emb.row(i as u32)?)?)?;
        rows.push(vec![
            (rank + 1).to_string(),
            i.to_string(),
            sim[i].to_string(),
            (100.0 * r * r).to_string(),
            emb.tokenizer.decode_one(i as u32)?,
        ]);
    }
    Ok((sim, rows))
}

fn print_table(rows: &[Vec<String>], out: &mut Output) -> Result<()> {
    out.say("cos.sim | R2 (%) | token");
    for r in rows {
        let (c, r2): (f64, f64) = (r[2].parse()?, r[3].parse()?);
        out.say(format!("{c:>6.3}  | {r2:>5.1}  | \"{}\"", r[4]));
    }
    Ok(())
}

/// Panel A of Part 5 as matplotlib draws it: colour = sqrt(|sim|) through "cool", marker
/// area = sim²·60 points². The plot layer has one marker size per series, so points are
/// grouped by their pixel radius, one series per radius (small first). Each series
/// normalises its colours by its own value range, so every group also carries two
/// undrawn anchor points (NaN coordinates) holding the global colour minimum and maximum.
fn sized_colored_scatter(sim: &[f64]) -> Vec<Series> {
    let colour: Vec<f64> = sim.iter().map(|s| s.abs().sqrt()).collect();
    let (cmin, cmax) = (
        colour.iter().copied().fold(f64::INFINITY, f64::min),
        colour.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    let radius: Vec<u32> = sim
        .iter()
        .map(|s| scatter_size_px(s * s * 60.0, 100.0))
        .collect();
    let mut sizes = radius.clone();
    sizes.sort_unstable();
    sizes.dedup();
    sizes
        .iter()
        .enumerate()
        .map(|(g, &r)| {
            let members: Vec<usize> = (0..sim.len()).filter(|&i| radius[i] == r).collect();
            let mut x: Vec<f64> = members.iter().map(|&i| i as f64).collect();
            let mut y: Vec<f64> = members.iter().map(|&i| sim[i]).collect();
            let mut c: Vec<f64> = members.iter().map(|&i| colour[i]).collect();
            x.extend([f64::NAN, f64::NAN]);
            y.extend([f64::NAN, f64::NAN]);
            c.extend([cmin, cmax]);
            let style = Style::markers((0, 0, 0), Marker::Circle).size(r).alpha(0.7);
            let style = if g == 0 {
                style.label("sqrt|cos|")
            } else {
                style
            };
            Series::scatter_colored(x, y, style, c, Colormap::Cool)
        })
        .collect()
}

/// Part 5: king − man + woman against the whole vocabulary.
fn part5_arithmetic(emb: &TokenEmbeddings, out: &mut Output) -> Result<()> {
    out.say("\n## Part 5: arithmetic with embedding vectors");
    let ids = [
        emb.single_token(PART2_WORDS[0])?,
        emb.single_token(PART2_WORDS[1])?,
        emb.single_token(PART2_WORDS[2])?,
    ];
    let (sim, rows) = analogy_table(emb, ids)?;
    let (lo, hi) = (
        sim.iter().copied().fold(f64::INFINITY, f64::min),
        sim.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    out.say(format!(
        "cosine with the analogy vector ranges over [{lo:.4}, {hi:.4}]"
    ));
    let mut a = Panel::new("A) Cosine similarity to king − man + woman")
        .xlabel("Token index")
        .ylabel("Cosine similarity")
        .xlim(-10.0, sim.len() as f64 + 10.0);
    for series in sized_colored_scatter(&sim) {
        a = a.add(series);
    }
    let b = Panel::new("B) Distribution")
        .xlabel("Cosine similarity")
        .ylabel("Count (log)")
        .log_y()
        .xlim(lo, hi)
        .add(
            Series::histogram(&sim, Bins::FreedmanDiaconis, rgb_f(0.68, 0.85, 0.9))
                .with_edge((128, 128, 128)) // matplotlib's "gray"
                .with_label("cosines"),
        );
    out.figure(
        &Figure::grid(12.0, 3.5, 1, 3)
            .panel_at(a, 0, 0, 1, 2)
            .panel_at(b, 0, 2, 1, 1),
        "ch3_proj15_part5",
    )?;
    print_table(&rows, out)?;
    out.table("part5_top10", &TABLE_HEADER, &rows)?;
    Ok(())
}

/// The three ids of an analogy, or why they cannot be used: every word must be exactly one
/// token (3 ids in all) and none may be `<unk>` (`unk`: its id, `None` for a vocabulary
/// without one).
fn check_analogy_ids(ids: &[u32], decoded: &str, unk: Option<u32>) -> Result<[u32; 3]> {
    let [a, b, c] = ids else {
        bail!(
            "too many tokens: the three words encode to {} ids {ids:?} (each must be one token)",
            ids.len()
        );
    };
    if unk.is_some_and(|u| ids.contains(&u)) || decoded.contains("<unk>") {
        let id = unk.map_or(String::new(), |u| format!(" (id {u})"));
        bail!("unknown token: {decoded:?} contains <unk>{id}");
    }
    Ok([*a, *b, *c])
}

/// Part 6: "start" is to "subtract" as ___ is to "add" — the top-10 table.
fn analogy(
    emb: &TokenEmbeddings,
    start: &str,
    subtract: &str,
    add: &str,
    out: &mut Output,
) -> Result<Vec<Vec<String>>> {
    out.say(format!(
        "\n\"{start}\" is to \"{subtract}\" as \"_____\" is to \"{add}\""
    ));
    let mut ids = vec![];
    for w in [start, subtract, add] {
        ids.extend(emb.tokenizer.encode(w)?);
    }
    let decoded = emb.tokenizer.decode(&ids).map_err(|e| anyhow!("{e}"))?;
    // Encoding text cannot give <unk> when the vocabulary has none (byte-level BPE).
    let ids = check_analogy_ids(&ids, &decoded, unk_id(&emb.tokenizer).ok())?;
    let (_, rows) = analogy_table(emb, ids)?;
    print_table(&rows, out)?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn describe_matches_pandas() {
        let v: Vec<f64> = (1..=1024).map(f64::from).collect();
        let d = describe(&v).unwrap();
        assert_eq!(d.count, 1024);
        assert_eq!(
            (d.mean, d.q25, d.q50, d.q75),
            (512.5, 256.75, 512.5, 768.25)
        );
        assert!((d.std - 295.7475).abs() < 1e-3, "{}", d.std);
        assert_eq!((d.min, d.max), (1.0, 1024.0));
    }

    #[test]
    fn analogy_id_checks() {
        assert_eq!(
            check_analogy_ids(&[5, 6, 7], "a b c", Some(3)).unwrap(),
            [5, 6, 7]
        );
        let e = check_analogy_ids(&[5, 6, 7, 8], "a b c", Some(3)).unwrap_err();
        assert!(e.to_string().contains("too many tokens"));
        let e = check_analogy_ids(&[3, 6, 7], "<unk> b c", Some(3)).unwrap_err();
        assert!(e.to_string().contains("unknown token"));
        // Without an <unk> token (GPT-2) id 3 is an ordinary token.
        assert_eq!(
            check_analogy_ids(&[3, 6, 7], "$ b c", None).unwrap(),
            [3, 6, 7]
        );
    }

    fn tiny_roberta() -> TokenEmbeddings {
        let dir = common::assets_dir().join("models/tiny-roberta");
        token_embeddings(&dir.display().to_string()).unwrap()
    }

    /// RoBERTa's tokenizer paths on the tiny test RoBERTa (its tokenizer.json has RoBERTa's
    /// special ids `<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3 and a 320-entry byte-level BPE).
    #[test]
    fn roberta_special_tokens_unk_and_leading_space() {
        let emb = tiny_roberta();
        let tok = &emb.tokenizer;
        assert_eq!(unk_id(tok).unwrap(), 3);
        // Part 1: "word" and " word" wrapped in <s> … </s>.
        for w in PART1_WORDS {
            for text in [w.to_string(), format!(" {w}")] {
                let ids = tok.encode_with_special_tokens(&text).unwrap();
                assert_eq!((ids[0], ids[ids.len() - 1]), (0, 2), "{text:?}: {ids:?}");
                assert_eq!(
                    &ids[1..ids.len() - 1],
                    tok.encode(&text).unwrap(),
                    "{text:?}"
                );
            }
        }
        // Check 4: the token string " king" is absent (the vocabulary writes "Ġ"), so the
        // lookup gives <unk> = 3, and an analogy holding it fails as unknown.
        assert_eq!(token_string_lookup(tok, " king").unwrap(), 3);
        let the = token_string_lookup(tok, "Ġthe").unwrap();
        assert_eq!(tok.encode(" the").unwrap(), [the]);
        assert_eq!(tok.decode_one(the).unwrap(), " the");
        let ids = [3, the, the];
        let decoded = tok.decode(&ids).unwrap();
        let e = check_analogy_ids(&ids, &decoded, unk_id(tok).ok()).unwrap_err();
        assert!(e.to_string().contains("unknown token"), "{e}");
        assert!(e.to_string().contains("(id 3)"), "{e}");

        // Part 1 as the run prints it.
        let dir = tempfile::tempdir().unwrap();
        let mut out = Output::new(dir.path()).unwrap();
        part1_tokenizer(&emb, &mut out).unwrap();
        out.finish().unwrap();
        let s = std::fs::read_to_string(dir.path().join("summary.txt")).unwrap();
        assert!(
            s.contains("token-string lookup of \" king\": [3]   "),
            "{s}"
        );
        for (i, name) in ["<s>", "<pad>", "</s>", "<unk>"].iter().enumerate() {
            assert!(s.contains(&format!("  {i:>2}: {name:?}")), "{name}: {s}");
        }
        let list = s
            .lines()
            .find(|l| l.trim_start().starts_with("list:"))
            .unwrap();
        assert!(list.contains(": [0, ") && list.ends_with(", 2]"), "{list}");
    }

    /// Without an `<unk>` token (GPT-2's BPE, as under --quick) the lookup says so instead
    /// of inventing id 3.
    #[test]
    fn missing_unk_is_an_error() {
        let dir = common::assets_dir().join("models/tiny-gpt2");
        let tok = Tokenizer::from_pretrained(&dir.display().to_string()).unwrap();
        let e = unk_id(&tok).unwrap_err();
        assert!(e.to_string().contains("no <unk> token"), "{e}");
        let e = token_string_lookup(&tok, " king").unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "\" king\" is not in the vocabulary: this tokenizer has no <unk> token"
        );
        assert_eq!(token_string_lookup(&tok, "Ġking").unwrap(), 5822);
    }

    #[test]
    fn planted_analogy_row_wins_and_r2_ignores_shift_and_scale() {
        tch::manual_seed(4);
        let e = Tensor::randn([200, 32], (Kind::Float, tch::Device::Cpu)); // [vocab, d]
        let (k, m, w, q) = (10i64, 20, 30, 40);
        let a = e.get(k) - e.get(m) + e.get(w);
        e.get(q).copy_(&(&a * 2.5));
        let sim = cosine_to_all(&e, &a).unwrap();
        let best = (0..sim.len())
            .max_by(|&i, &j| sim[i].total_cmp(&sim[j]))
            .unwrap();
        assert_eq!(best, q as usize);
        assert!((sim[best] - 1.0).abs() < 1e-6);
        assert!(sim.iter().all(|s| (-1.0 - 1e-6..=1.0 + 1e-6).contains(s)));
        // R² of 3a + 2 is 100 % while its cosine is below 1.
        let av = to_vec_f64(&a).unwrap();
        let shifted: Vec<f64> = av.iter().map(|x| 3.0 * x + 2.0).collect();
        let r = pearson(&av, &shifted).unwrap();
        assert!((100.0 * r * r - 100.0).abs() < 1e-9);
        assert!(common::stats::cosine(&av, &shifted) < 0.999);
        // The 4×4 cosine matrix is symmetric with a unit diagonal.
        let c = cosine_matrix_rows(&to_rows_f64(&e.narrow(0, 0, 4)).unwrap());
        for (i, row) in c.iter().enumerate() {
            assert!((row[i] - 1.0).abs() < 1e-12);
            for (j, v) in row.iter().enumerate() {
                assert_eq!(*v, c[j][i]);
            }
        }
    }
}
