//! # Project 12 — RSA to compare GPT-2 vs. BERT embeddings
//!
//! **Question.** Do two language models represent the same words in a comparable way?
//! Comparing one word's embedding vectors across models dimension by dimension is
//! meaningless (the axes of two models are arbitrary and unaligned), but comparing the
//! *pattern of similarities* among a set of words — representational similarity
//! analysis (RSA) — is meaningful, and does not even need equal widths.
//!
//! **What to look for.**
//! - Part 2: the per-word correlations between BERT's and GPT-2's vectors are all near
//!   0, and the scatter for "space" is a shapeless cloud.
//! - Part 3: both 18×18 cosine matrices show a 3×3 block structure (space, furniture,
//!   fruit); the RSA score (Pearson r of the 153 upper-triangle values) is clearly
//!   positive: the second-order structure is shared.
//! - Part 4: RSA works just as well for models of different widths (768 vs 1024), where
//!   Part 2's per-word correlation is not even defined.
//!
//! Run: `cargo run --release -p project12_rsa_gpt2_vs_bert_embeddings` (downloads
//! bert-large-uncased, gpt2-medium, bert-base-uncased and gpt2 once; only their
//! embedding matrices are read).

use anyhow::{bail, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::device::to_rows_f64;
use common::embeddings::{token_embeddings, TokenEmbeddings};
use common::output::Output;
use common::plot::{rgb_f, Colormap, Figure, Heatmap, Marker, Panel, Series, Style};
use common::stats::{cosine_matrix, pearson, rsa, upper_triangle};
use common::tokenizer::Tokenizer;
use std::collections::HashMap;

const PROJECT: &str = "project12_rsa_gpt2_vs_bert_embeddings";

/// The 18 words: 3 categories of 6 (space, furniture, fruit), in the book's order.
const WORDS: [&str; 18] = [
    "space",
    "spaceship",
    "planet",
    "moon",
    "star",
    "galaxy",
    "chair",
    "table",
    "couch",
    "stool",
    "floor",
    "desk",
    "apple",
    "banana",
    "pear",
    "orange",
    "peach",
    "grape",
];

/// RSA between GPT-2 and BERT token embeddings (18 words, 3 categories).
///
/// `--quick` runs offline in seconds: BERT is the real all-MiniLM-L6-v2 (bert-base-uncased's
/// vocabulary, so the BERT ids are the book's; 384-d trained embeddings), GPT-2 is the tiny
/// test model (GPT-2's real tokenizer, random 16-d embeddings). The quick run's GPT-2
/// values come from random weights and mean nothing; its widths differ (384 vs 16), so
/// Part 2's per-word correlation is reported as not applicable, as for any two models of
/// unequal width (the method does not change under --quick, only the models).
///
/// Each of the four models has its own flag; `--model` is the BERT of Parts 1-3 only.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// GPT-2 model of Parts 1-3 [default: gpt2-medium; the tiny GPT-2 under --quick]
    /// (`--model` sets the BERT model, default bert-large-uncased).
    #[arg(long)]
    gpt2_model: Option<String>,
    /// The 768-d BERT of Part 4, paired with --gpt2-model [default: bert-base-uncased;
    /// all-MiniLM-L6-v2 under --quick].
    #[arg(long)]
    bert_small_model: Option<String>,
    /// The 768-d GPT-2 of Part 4, paired with the BERT of Parts 1-3 [default: gpt2; the
    /// tiny GPT-2 under --quick].
    #[arg(long)]
    gpt2_small_model: Option<String>,
}

/// The two word-by-embedding matrices of one model pair.
struct Pair {
    bert_name: String,
    gpt2_name: String,
    /// `[18, d_bert]` rows of the BERT embedding matrix.
    eb: Vec<Vec<f64>>,
    /// `[18, d_gpt2]` rows of the GPT-2 embedding matrix.
    eg: Vec<Vec<f64>>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let c = &args.common;
    c.init()?;
    let mut out = c.output(PROJECT)?;
    // Every model of every part, each from its own flag, found before Part 1.
    let bert_id = c.bert_model_or("bert-large-uncased")?;
    let gpt2_id = c.other_model_or(args.gpt2_model.as_deref(), "gpt2-medium");
    let bert_small =
        c.other_bert_model_or(args.bert_small_model.as_deref(), "bert-base-uncased")?;
    let gpt2_small = c.other_model_or(args.gpt2_small_model.as_deref(), "gpt2");
    c.resolve_embeddings(&[&bert_id, &gpt2_id, &bert_small, &gpt2_small])?;
    if c.quick {
        out.say(
            "--quick: BERT = all-MiniLM-L6-v2 (real, 384-d), GPT-2 = tiny random 16-d model: \
                 token ids are real, GPT-2 values come from random weights and mean nothing.",
        );
    }
    out.say(format!("BERT of Parts 1-3 (--model): {bert_id}"));
    out.say(format!("GPT-2 of Parts 1-3 (--gpt2-model): {gpt2_id}"));
    out.say(format!("BERT of Part 4 (--bert-small-model): {bert_small}"));
    out.say(format!(
        "GPT-2 of Part 4 (--gpt2-small-model): {gpt2_small}"
    ));
    let mut models = Models::default();

    part1_load(&mut models, &bert_id, &gpt2_id, &mut out)?;
    let (bert_ids, gpt2_ids) = part2a_token_table(
        &models.get(&bert_id)?.tokenizer,
        &models.get(&gpt2_id)?.tokenizer,
        &mut out,
    )?;
    let pair = models.pair(&bert_id, &gpt2_id, &bert_ids, &gpt2_ids)?;
    part2b_direct_comparison(&pair, &mut out)?;
    part3_rsa(&pair, "ch3_proj12_part3", &mut out)?;

    // Part 4: pairs of unequal widths (the same models under --quick).
    for (b, g, slug) in [
        (&bert_small, &gpt2_id, "bert-base_vs_gpt2-medium"),
        (&bert_id, &gpt2_small, "gpt2_vs_bert-large"),
    ] {
        models.load(b, &mut out)?;
        models.load(g, &mut out)?;
        let pair = models.pair(b, g, &bert_ids, &gpt2_ids)?;
        part4_unequal_widths(&pair, slug, &mut out)?;
    }
    out.finish()
}

/// Embedding matrices loaded so far, by id (Part 4 reuses Part 1's).
#[derive(Default)]
struct Models(HashMap<String, TokenEmbeddings>);

impl Models {
    fn load(&mut self, id: &str, out: &mut Output) -> Result<()> {
        if !self.0.contains_key(id) {
            let e = token_embeddings(id)?;
            out.say(format!(
                "{}: vocabulary {} tokens, embedding matrix {:?}",
                short(id),
                e.tokenizer.vocab_size(),
                e.matrix.size()
            ));
            self.0.insert(id.to_string(), e);
        }
        Ok(())
    }
    fn get(&self, id: &str) -> Result<&TokenEmbeddings> {
        self.0
            .get(id)
            .ok_or_else(|| anyhow::anyhow!("{id} was not loaded"))
    }
    fn pair(&self, bert: &str, gpt2: &str, bert_ids: &[u32], gpt2_ids: &[u32]) -> Result<Pair> {
        Ok(Pair {
            bert_name: short(bert),
            gpt2_name: short(gpt2),
            eb: to_rows_f64(&self.get(bert)?.rows(bert_ids)?)?,
            eg: to_rows_f64(&self.get(gpt2)?.rows(gpt2_ids)?)?,
        })
    }
}

/// A model id or folder shortened for titles.
fn short(id: &str) -> String {
    std::path::Path::new(id)
        .components()
        .filter_map(|c| c.as_os_str().to_str())
        .rfind(|c| *c != "model")
        .unwrap_or(id)
        .to_string()
}

/// Part 1: the two embedding matrices (vocabulary sizes and shapes are printed on load).
fn part1_load(models: &mut Models, bert: &str, gpt2: &str, out: &mut Output) -> Result<()> {
    out.say("## Part 1: embeddings from two LLMs");
    models.load(bert, out)?;
    models.load(gpt2, out)
}

/// Part 2.1: tokens per word for each tokenizer, without and with a leading space, and the
/// ids used: BERT's first id of "word", GPT-2's first id of " word" (WordPiece ignores the
/// space; GPT-2's BPE folds it into the token, and with it all 18 words are one token).
fn part2a_token_table(
    bert: &Tokenizer,
    gpt2: &Tokenizer,
    out: &mut Output,
) -> Result<(Vec<u32>, Vec<u32>)> {
    out.say("\n## Part 2: comparing model embeddings directly");
    out.say(format!("{:>10} | B-n | G-n | B-s | G-s", "word"));
    let (mut bert_ids, mut gpt2_ids, mut rows) = (vec![], vec![], vec![]);
    for w in WORDS {
        let spaced = format!(" {w}");
        let (bn, gn) = (bert.encode(w)?, gpt2.encode(w)?);
        let (bs, gs) = (bert.encode(&spaced)?, gpt2.encode(&spaced)?);
        let (Some(&b), Some(&g)) = (bn.first(), gs.first()) else {
            bail!("{w:?} encodes to no tokens: is the tokenizer right?");
        };
        out.say(format!(
            "{w:>10} | {:>3} | {:>3} | {:>3} | {:>3}",
            bn.len(),
            gn.len(),
            bs.len(),
            gs.len()
        ));
        rows.push(vec![
            w.to_string(),
            bn.len().to_string(),
            gn.len().to_string(),
            bs.len().to_string(),
            gs.len().to_string(),
            b.to_string(),
            g.to_string(),
        ]);
        bert_ids.push(b);
        gpt2_ids.push(g);
    }
    out.table(
        "part2_token_counts",
        &[
            "word", "bert_n", "gpt2_n", "bert_s", "gpt2_s", "bert_id", "gpt2_id",
        ],
        &rows,
    )?;
    out.say(format!("BERT ids:  {bert_ids:?}"));
    out.say(format!("GPT-2 ids: {gpt2_ids:?}"));
    Ok((bert_ids, gpt2_ids))
}

/// Pearson correlation of each word's two vectors, dimension by dimension. Defined only
/// when both models have the same width; an error otherwise (Part 4).
fn per_word_correlations(eb: &[Vec<f64>], eg: &[Vec<f64>]) -> Result<Vec<f64>> {
    eb.iter()
        .zip(eg)
        .map(|(b, g)| {
            if b.len() != g.len() {
                bail!(
                    "not applicable: the embeddings have different widths ({} vs {}), so there \
                     is no dimension-by-dimension pairing",
                    b.len(),
                    g.len()
                );
            }
            pearson(b, g)
        })
        .collect()
}

/// Part 2.2-2.3: the word vectors compared directly, dimension by dimension (defined only
/// for two models of the same width).
fn part2b_direct_comparison(pair: &Pair, out: &mut Output) -> Result<()> {
    let (db, dg) = (pair.eb[0].len(), pair.eg[0].len());
    out.say(format!(
        "EB: [{}, {db}] ({}), EG: [{}, {dg}] ({})",
        pair.eb.len(),
        pair.bert_name,
        pair.eg.len(),
        pair.gpt2_name
    ));
    // The book's pair is 1024 vs 1024. Models of unequal width (any pair under --quick:
    // 384 vs 16) have no dimension-by-dimension pairing: reported as not applicable
    // (see Part 4), never compared on a cut-down set of dimensions.
    if db != dg {
        out.say(format!(
            "Part 2 per-word correlation: not applicable ({db} vs {dg} dimensions)"
        ));
        return Ok(());
    }
    let (eb, eg) = (&pair.eb, &pair.eg);
    let r = per_word_correlations(eb, eg)?;
    for (w, v) in WORDS.iter().zip(&r) {
        out.say(format!("  r({w}) = {v:.3}"));
    }
    let hex = |c| Style::markers(c, Marker::Hexagon).size(5).edge((0, 0, 0));
    let a = Panel::new(&format!("A) Embeddings for \"{}\"", WORDS[0]))
        .xlabel(&format!("{} embedding", pair.bert_name))
        .ylabel(&format!("{} embedding", pair.gpt2_name))
        .add(Series::scatter(
            eb[0].clone(),
            eg[0].clone(),
            hex(rgb_f(0.5, 0.5, 0.9)).alpha(0.6).label("space"),
        ));
    let x: Vec<f64> = (0..WORDS.len()).map(|i| i as f64).collect();
    let b = Panel::new("B) Per-word correlations across models")
        .ylabel("Correlation coefficient")
        .ylim(-0.5, 0.5)
        .xlim(-0.5, WORDS.len() as f64 - 0.5)
        .x_ticks(word_ticks(0..WORDS.len()))
        .x_tick_angle(90.0)
        .add(Series::hline(0.0, Style::line((0, 0, 0)).dashed().width(1)))
        .add(Series::scatter(
            x,
            r,
            hex(rgb_f(0.9, 0.6, 0.3)).size(10).label("r(BERT, GPT-2)"),
        ));
    out.figure(
        &Figure::grid(10.0, 4.0, 1, 2).panel(a).panel(b),
        "ch3_proj12_part2",
    )?;
    Ok(())
}

fn word_ticks(idx: impl Iterator<Item = usize>) -> Vec<(f64, String)> {
    idx.map(|i| (i as f64, WORDS[i].to_string())).collect()
}

/// The cosine-similarity matrix of a word-by-dimension matrix: `[n, n]`.
fn cosine_rows(m: &[Vec<f64>]) -> Result<Vec<Vec<f64>>> {
    let flat: Vec<f64> = m.iter().flatten().copied().collect();
    let t = tch::Tensor::from_slice(&flat).view([m.len() as i64, -1]); // [n, d]
    to_rows_f64(&cosine_matrix(&t))
}

/// Part 3: RSA = Pearson r between the 153 non-redundant entries of the two models' 18×18
/// cosine matrices. Returns r.
fn part3_rsa(pair: &Pair, figure: &str, out: &mut Output) -> Result<f64> {
    out.say(format!(
        "\n## RSA: {} vs {} ({figure})",
        pair.bert_name, pair.gpt2_name
    ));
    let cb = cosine_rows(&pair.eb)?;
    let cg = cosine_rows(&pair.eg)?;
    let (ub, ug) = (upper_triangle(&cb), upper_triangle(&cg));
    out.say(format!(
        "similarity matrices {}x{}, {} non-redundant elements",
        cb.len(),
        cb.len(),
        ub.len()
    ));
    let r = rsa(&cb, &cg)?;
    out.say(format!("RSA r = {r:.4}"));
    // The diagonal of a cosine matrix is 1; report its largest deviation (a check).
    let diag_err = cb
        .iter()
        .chain(&cg)
        .enumerate()
        .map(|(i, row)| (row[i % WORDS.len()] - 1.0).abs())
        .fold(0.0, f64::max);
    out.say(format!("max |diagonal - 1| = {diag_err:.2e}"));

    let even = word_ticks((0..WORDS.len()).step_by(2));
    let odd = word_ticks((1..WORDS.len()).step_by(2));
    let heat = |title: &str, m: &[Vec<f64>]| {
        Panel::new(title)
            .heatmap(Heatmap::new(m.to_vec(), Colormap::Plasma).range(0.1, 0.5))
            .x_ticks(even.clone())
            .x_tick_angle(90.0)
            .y_ticks(odd.clone())
    };
    let c = Panel::new(&format!("C) RSA r = {r:.2}"))
        .xlabel(&format!("{} similarities", pair.bert_name))
        .ylabel(&format!("{} similarities", pair.gpt2_name))
        .grid()
        .add(Series::scatter(
            ub,
            ug,
            Style::markers(rgb_f(0.4, 0.7, 0.4), Marker::Hexagon)
                .size(5)
                .edge((0, 0, 0))
                .alpha(0.7)
                .label("word pairs"),
        ));
    out.figure(
        &Figure::grid(13.0, 4.0, 1, 3)
            .panel(heat(
                &format!("A) {} cosine similarities", pair.bert_name),
                &cb,
            ))
            .panel(heat(
                &format!("B) {} cosine similarities", pair.gpt2_name),
                &cg,
            ))
            .panel(c),
        figure,
    )?;
    // The matrices themselves, for checking (row-major, word order above).
    let rows: Vec<Vec<String>> = (0..WORDS.len())
        .flat_map(|i| (0..WORDS.len()).map(move |j| (i, j)))
        .map(|(i, j)| {
            vec![
                WORDS[i].to_string(),
                WORDS[j].to_string(),
                format!("{}", cb[i][j]),
                format!("{}", cg[i][j]),
            ]
        })
        .collect();
    out.table(
        &format!("{figure}_matrices"),
        &["word_i", "word_j", "bert_cos", "gpt2_cos"],
        &rows,
    )?;
    Ok(r)
}

/// Part 4 (the book's exercise): RSA needs only the same words, not the same width.
fn part4_unequal_widths(pair: &Pair, slug: &str, out: &mut Output) -> Result<()> {
    out.say(format!(
        "\n## Part 4: {} ({}-d) vs {} ({}-d)",
        pair.bert_name,
        pair.eb[0].len(),
        pair.gpt2_name,
        pair.eg[0].len()
    ));
    match per_word_correlations(&pair.eb, &pair.eg) {
        Ok(r) => out.say(format!(
            "per-word correlation (equal widths here): mean r = {:.3}",
            r.iter().sum::<f64>() / r.len() as f64
        )),
        Err(e) => out.say(format!("per-word correlation: {e}")),
    }
    let r = part3_rsa(pair, &format!("ch3_proj12_part4_{slug}"), out)?;
    out.say(format!("Part 4 RSA ({slug}) = {r:.4}"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    fn rows(t: &Tensor) -> Vec<Vec<f64>> {
        to_rows_f64(t).unwrap()
    }

    /// A random orthogonal `[d, d]` matrix (QR of a Gaussian matrix).
    fn rotation(d: i64) -> Tensor {
        let g = Tensor::randn([d, d], (Kind::Double, tch::Device::Cpu));
        let (q, _) = Tensor::linalg_qr(&g, "reduced");
        q
    }

    #[test]
    fn rsa_is_rotation_invariant_while_per_word_correlation_is_not() {
        tch::manual_seed(1);
        let a = Tensor::randn([18, 64], (Kind::Double, tch::Device::Cpu));
        let rotated = a.matmul(&rotation(64));
        let (ca, cr) = (
            cosine_rows(&rows(&a)).unwrap(),
            cosine_rows(&rows(&rotated)).unwrap(),
        );
        assert!((rsa(&ca, &ca).unwrap() - 1.0).abs() < 1e-12);
        assert!((rsa(&ca, &cr).unwrap() - 1.0).abs() < 1e-9);
        let r = per_word_correlations(&rows(&a), &rows(&rotated)).unwrap();
        let mean_abs = r.iter().map(|v| v.abs()).sum::<f64>() / r.len() as f64;
        assert!(mean_abs < 0.25, "{r:?}");
    }

    #[test]
    fn rsa_ignores_row_scaling_and_works_across_widths() {
        tch::manual_seed(2);
        let a = Tensor::randn([18, 16], (Kind::Double, tch::Device::Cpu));
        let scale = Tensor::rand([18, 1], (Kind::Double, tch::Device::Cpu)) + 0.1;
        let ca = cosine_rows(&rows(&a)).unwrap();
        let cs = cosine_rows(&rows(&(&a * scale))).unwrap();
        assert!((rsa(&ca, &cs).unwrap() - 1.0).abs() < 1e-9);
        let b = Tensor::randn([18, 24], (Kind::Double, tch::Device::Cpu));
        let cb = cosine_rows(&rows(&b)).unwrap();
        assert!(rsa(&ca, &cb).unwrap().abs() < 1.0);
        assert!(per_word_correlations(&rows(&a), &rows(&b)).is_err());
    }

    #[test]
    fn upper_triangle_has_153_values_in_row_major_order() {
        let m: Vec<Vec<f64>> = (0..18)
            .map(|i| (0..18).map(|j| (100 * i + j) as f64).collect())
            .collect();
        let u = upper_triangle(&m);
        assert_eq!(u.len(), 153);
        assert_eq!(&u[..3], &[1.0, 2.0, 3.0]);
        assert_eq!(u[17], 102.0); // row 1 starts after row 0's 17 values
    }

    #[test]
    fn pearson_basics() {
        let x: Vec<f64> = (0..10).map(|i| (i * i) as f64).collect();
        let y: Vec<f64> = x.iter().map(|v| 2.0 * v + 3.0).collect();
        let neg: Vec<f64> = x.iter().map(|v| -v).collect();
        assert!((pearson(&x, &y).unwrap() - 1.0).abs() < 1e-12);
        assert!((pearson(&x, &neg).unwrap() + 1.0).abs() < 1e-12);
        let z: Vec<f64> = (0..10).map(|i| ((i * 7) % 5) as f64).collect();
        assert_eq!(pearson(&x, &z).unwrap(), pearson(&z, &x).unwrap());
    }
}
