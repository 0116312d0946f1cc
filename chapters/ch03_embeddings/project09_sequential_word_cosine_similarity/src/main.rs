//! # Project 9 — Sequential word cosine similarity
//!
//! **Question.** When a sentence becomes tokens, how similar is each token's static
//! embedding (the row of BERT's embedding matrix) to the embedding of the token before
//! it? And do those similarities change when the surrounding words change?
//!
//! **What to look for.**
//! - Part 1: neighbour-to-neighbour similarities are modest and mostly positive; there
//!   is no strong sequential structure. Position 0 has no predecessor: an empty bar.
//! - Part 2: two sentences that differ only at positions 7 and 8 give identical bars
//!   everywhere except at positions 7, 8 and 9 (the pairs that involve a changed
//!   token). The embedding lookup is context-free: context only enters later, inside
//!   the transformer layers.
//!
//! Run: `cargo run --release -p project09_sequential_word_cosine_similarity` (downloads
//! `bert-base-uncased` once; only its embedding matrix is read). `--quick` uses the real
//! all-MiniLM-L6-v2 embeddings instead (same 30522-word vocabulary, 384-d): the token
//! ids are those of the book, the similarity values are MiniLM's, not BERT's.

use anyhow::Result;
use clap::Parser;
use common::cli::CommonArgs;
use common::device::to_rows_f64;
use common::embeddings::{token_embeddings, TokenEmbeddings};
use common::output::Output;
use common::plot::{cycle_color, rgb_f, Figure, Panel, Series, Style};
use common::stats::successive_cosine;

const PROJECT: &str = "project09_sequential_word_cosine_similarity";
const SENTENCE: &str = "my phone is in the kitchen near the cold ice cream";
const SENTENCES: [&str; 2] = [
    "The conductor waved his hands as the train departed and people sat down",
    "The conductor waved his hands as the orchestra began and people sat down",
];

/// Cosine similarity of each token's static embedding with the previous token's.
///
/// `--quick` runs offline on the real all-MiniLM-L6-v2 embeddings (bert-base-uncased's
/// vocabulary): token ids are the book's, the values are MiniLM's, not BERT's.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    let mut out = args.common.output(PROJECT)?;
    let model = args.common.bert_model_or("bert-base-uncased")?;
    args.common.resolve_embeddings(&[&model])?;
    if args.common.quick {
        out.say("--quick: all-MiniLM-L6-v2's embeddings stand in for BERT's (same vocabulary); the similarity values are MiniLM's, not the book's.");
    }
    let emb = token_embeddings(&model)?;
    out.say(emb.to_string());
    part1_sequential_similarity(&emb, &mut out)?;
    part2_context_independence(&emb, &mut out)?;
    out.finish()
}

/// A sentence's token ids (no special tokens: the book encodes with them and drops the
/// first and last, `[CLS]` and `[SEP]`), their strings, and the successive similarities.
struct Sequence {
    ids: Vec<u32>,
    tokens: Vec<String>,
    sims: Vec<f64>,
}

fn sequence(emb: &TokenEmbeddings, text: &str) -> Result<Sequence> {
    let ids = emb.tokenizer.encode(text)?;
    let tokens = ids
        .iter()
        .map(|&i| emb.tokenizer.decode_one(i))
        .collect::<Result<Vec<_>>>()?;
    // [n, d] rows in sentence order; similarities computed in float64
    let rows = to_rows_f64(&emb.rows(&ids)?)?;
    Ok(Sequence {
        ids,
        tokens,
        sims: successive_cosine(&rows),
    })
}

fn positions(n: usize) -> Vec<f64> {
    (0..n).map(|i| i as f64).collect()
}

/// Bars at `x` (NaN heights left out, so position 0 stays empty) with black edges.
fn bars_with_edges(
    panel: Panel,
    x: &[f64],
    h: &[f64],
    width: f64,
    color: (u8, u8, u8),
    label: Option<&str>,
) -> Panel {
    let (x, h): (Vec<f64>, Vec<f64>) = x
        .iter()
        .zip(h)
        .filter(|(_, v)| v.is_finite())
        .map(|(a, b)| (*a, *b))
        .unzip();
    // Each series' edges are drawn with its own bars, so a later (overlapping) series
    // covers an earlier one's edges, as in matplotlib.
    let mut bars = Series::bars_width(x, h, width, vec![color]).with_edge((0, 0, 0));
    if let Some(l) = label {
        bars = bars.with_label(l);
    }
    panel.add(bars)
}

/// Part 1: similarity of each token to its predecessor in one sentence.
fn part1_sequential_similarity(emb: &TokenEmbeddings, out: &mut Output) -> Result<()> {
    out.say(format!(
        "\n## Part 1: sequential similarities in {SENTENCE:?}"
    ));
    let s = sequence(emb, SENTENCE)?;
    let n = s.ids.len();
    out.say(format!("{n} tokens"));
    let mut rows = vec![];
    for (i, ((id, tok), sim)) in s.ids.iter().zip(&s.tokens).zip(&s.sims).enumerate() {
        out.say(format!("{i:>2}  {id:>5}  {tok:<10} {sim:.4}"));
        rows.push(vec![
            i.to_string(),
            id.to_string(),
            tok.clone(),
            sim.to_string(),
        ]);
    }
    out.table(
        "part1_similarities",
        &["position", "token_id", "token", "cosine"],
        &rows,
    )?;

    let ticks = s
        .tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (i as f64, t.clone()))
        .collect();
    let panel = Panel::new("Cosine similarities of sequential token embeddings")
        .bold_title()
        .ylabel("Cosine similarity")
        .xlim(-0.5, n as f64 - 0.5)
        .x_ticks(ticks)
        .x_tick_angle(-45.0);
    let panel = bars_with_edges(
        panel,
        &positions(n),
        &s.sims,
        0.8,
        rgb_f(0.7, 0.7, 0.95),
        None,
    );
    out.figure(&Figure::new(12.0, 4.0).panel(panel), "ch3_proj9_part1")?;
    Ok(())
}

/// Part 2: the same measure for two sentences that differ only at positions 7 and 8.
fn part2_context_independence(emb: &TokenEmbeddings, out: &mut Output) -> Result<()> {
    out.say("\n## Part 2: are embedding vectors context-dependent?");
    let seqs = SENTENCES
        .iter()
        .map(|t| sequence(emb, t))
        .collect::<Result<Vec<_>>>()?;
    let n = seqs[1].ids.len();
    if seqs[0].ids.len() != n || n < 9 {
        anyhow::bail!(
            "the two Part 2 sentences should both be 13 tokens, got {} and {n}: is {} a BERT-vocabulary model?",
            seqs[0].ids.len(),
            emb.model_id
        );
    }
    let differ: Vec<usize> = (0..n)
        .filter(|&i| seqs[0].ids[i] != seqs[1].ids[i])
        .collect();
    out.say(format!("tokens differ at positions {differ:?}"));
    // Bit-for-bit comparison: a token pair always gives the same similarity.
    let sim_differ: Vec<usize> = (1..n)
        .filter(|&i| seqs[0].sims[i].to_bits() != seqs[1].sims[i].to_bits())
        .collect();
    out.say(format!("similarities differ at positions {sim_differ:?}"));

    let mut rows = vec![];
    for i in 0..n {
        rows.push(vec![
            i.to_string(),
            seqs[0].ids[i].to_string(),
            seqs[0].tokens[i].clone(),
            seqs[0].sims[i].to_string(),
            seqs[1].ids[i].to_string(),
            seqs[1].tokens[i].clone(),
            seqs[1].sims[i].to_string(),
        ]);
    }
    out.table(
        "part2_similarities",
        &[
            "position",
            "token_id_1",
            "token_1",
            "cosine_1",
            "token_id_2",
            "token_2",
            "cosine_2",
        ],
        &rows,
    )?;

    // Tick labels: the last sentence's tokens, with both words at the changed positions
    // (the book writes them on two lines, "train/\norchestra"; one line here).
    let ticks = (0..n)
        .map(|i| {
            let label = if seqs[0].tokens[i] != seqs[1].tokens[i] {
                format!("{}/\n{}", seqs[0].tokens[i], seqs[1].tokens[i])
            } else {
                seqs[1].tokens[i].clone()
            };
            (i as f64, label)
        })
        .collect();
    let mut panel = Panel::new("Cosine similarities of sequential token embeddings")
        .bold_title()
        .ylabel("Cosine similarity")
        .xlim(-0.5, n as f64 - 0.5)
        .x_ticks(ticks)
        .x_tick_angle(-45.0)
        .add(Series::hline(0.0, Style::line((0, 0, 0)).dashed().width(1)));
    for (k, s) in seqs.iter().enumerate() {
        let x: Vec<f64> = positions(n)
            .iter()
            .map(|p| p + k as f64 / 4.0 - 0.1)
            .collect();
        let label = format!("{} {}", s.tokens[7], s.tokens[8]);
        panel = bars_with_edges(panel, &x, &s.sims, 0.5, cycle_color(k), Some(&label));
    }
    out.figure(
        &Figure::new(12.0, 4.0).panel(panel.legend()),
        "ch3_proj9_part2",
    )?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // matrix checks read best with indices
mod tests {
    use super::*;
    use common::stats::cosine;

    #[test]
    fn cosine_properties() {
        let v = vec![0.3, -1.2, 2.0, 0.5];
        let w = vec![1.0, 0.1, -0.4, 2.0];
        assert!((cosine(&v, &v) - 1.0).abs() < 1e-12);
        let neg: Vec<f64> = v.iter().map(|x| -x).collect();
        assert!((cosine(&v, &neg) + 1.0).abs() < 1e-12);
        let scaled: Vec<f64> = v.iter().map(|x| 7.5 * x).collect();
        assert!((cosine(&scaled, &w) - cosine(&v, &w)).abs() < 1e-12);
    }

    /// The core property, on a random matrix: the two Part 2 similarity vectors agree
    /// bit for bit except at positions 7, 8, 9; a repeated token ("the" at 0 and 6 in
    /// Part 2) gives the same similarity to a fixed neighbour.
    #[test]
    fn context_free_on_random_embeddings() {
        let tok = common::tokenizer::Tokenizer::minilm_bert().unwrap();
        let m = tch::Tensor::randn([30522, 16], (tch::Kind::Float, tch::Device::Cpu));
        let sims: Vec<Vec<f64>> = SENTENCES
            .iter()
            .map(|s| {
                let ids = tok.encode(s).unwrap();
                let idx: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
                successive_cosine(
                    &to_rows_f64(&m.index_select(0, &tch::Tensor::from_slice(&idx))).unwrap(),
                )
            })
            .collect();
        assert_eq!(sims[0].len(), 13);
        assert!(sims[0][0].is_nan() && sims[1][0].is_nan());
        for i in 1..13 {
            let same = sims[0][i].to_bits() == sims[1][i].to_bits();
            assert_eq!(same, ![7, 8, 9].contains(&i), "position {i}");
            assert!((-1.0..=1.0).contains(&sims[0][i]));
        }
        // "the" (0) -> "conductor" (1) vs "the" (6) -> ... : fixed neighbour check
        let ids = tok.encode(SENTENCE).unwrap();
        let rows = to_rows_f64(&m.index_select(
            0,
            &tch::Tensor::from_slice(&ids.iter().map(|&i| i as i64).collect::<Vec<_>>()),
        ))
        .unwrap();
        // "the" at positions 4 and 7; "near" at 6 is the fixed neighbour of position 7
        assert_eq!(ids[4], ids[7]);
        assert_eq!(cosine(&rows[4], &rows[6]), cosine(&rows[7], &rows[6]));
    }
}
