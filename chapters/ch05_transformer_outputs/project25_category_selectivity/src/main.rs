//! # Project 25 — Category selectivity via cosine similarity
//!
//! **Question.** Do GPT-2's hidden states carry semantic-category information? Are the
//! vectors of words from one category (space / home furnishings / fruit) more similar to
//! each other than to words of the other categories, and how does that selectivity change
//! across the layers? In a second experiment one word is taken in many real contexts
//! (*The Great Gatsby*): are the hidden states of one word in different contexts more
//! similar to each other than to those of other words, and how does context erode word
//! identity with depth?
//!
//! **What to look for.**
//! - Part 1: in "The next word is <word>" the first four tokens are the same in all 34
//!   sentences, and GPT-2 is causal, so their hidden states are identical: the variance
//!   across sentences is exactly 0 at positions 0–3 and non-zero only at position 4.
//! - Part 2 (layer 4): within-category cosine similarities exceed across-category ones
//!   (Δ > 0, a sizeable t), though all cosines are high (≈ 0.5–0.85).
//! - Part 3: Δ and t change with the layer, and not in proportion: where all vectors are
//!   very similar (anisotropy) the raw Δ is small while t can still be large (panel D).
//!   The next-token predictions are plausible continuations.
//! - Parts 5–6: at the embeddings every occurrence of a word has the same vector (same
//!   token, same position 50), so within-word similarity is exactly 1; with depth the
//!   within distribution moves left and widens as context mixes in, but stays above the
//!   across-word distributions; garage–lawn is at least as similar as years–garage/lawn.
//!
//! Run: `cargo run --release -p project25_category_selectivity` (downloads `gpt2`, 0.5 GB,
//! and Gutenberg book 64317 once). `--quick` runs offline in seconds on the tiny random
//! GPT-2 in `assets/` (GPT-2's real tokenizer, 3 blocks, so 4 hidden states) and on a
//! passage written for this project instead of the novel (10 occurrences of the three
//! words instead of the book's); the single-layer analyses of Parts 2 and 5 then use the
//! last hidden state (3) because the tiny model has no layer 4. Its numbers come from
//! random weights and mean nothing.

mod figures;
mod quick_text;
mod similarity;

use anyhow::{ensure, Context, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::data::RawBook;
use common::model::hidden::layer_label;
use common::output::{thousands, Output};
use common::plot::{
    density_histogram, Bins, Colormap, Figure, Heatmap, LegendPos, Marker, Panel, Series, Style,
};
use common::{HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use figures::{density_curve, discrete_colorbar, discrete_image, layer_ticks};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use similarity::{
    category_mask, cosine_matrix, edges, group_values, mean, own_range_histogram, student_t,
};
use std::path::PathBuf;
use tch::{Kind, Tensor};

const PROJECT: &str = "project25_category_selectivity";
/// The 34 words of Parts 1-3 (word index 0..33) and their category (1 space, 2 home,
/// 3 fruit); each is one GPT-2 token after a space.
const WORDS: [(&str, u32); 34] = [
    ("galaxy", 1),
    ("asteroid", 1),
    ("comet", 1),
    ("cosmos", 1),
    ("space", 1),
    ("sun", 1),
    ("planet", 1),
    ("moon", 1),
    ("star", 1),
    ("orbit", 1),
    ("ceiling", 2),
    ("sofa", 2),
    ("couch", 2),
    ("carpet", 2),
    ("door", 2),
    ("window", 2),
    ("lamp", 2),
    ("chair", 2),
    ("table", 2),
    ("rug", 2),
    ("bed", 2),
    ("floor", 2),
    ("wall", 2),
    ("pear", 3),
    ("grape", 3),
    ("banana", 3),
    ("cherry", 3),
    ("peach", 3),
    ("apple", 3),
    ("seed", 3),
    ("jelly", 3),
    ("orange", 3),
    ("lime", 3),
    ("fruit", 3),
];
const CATEGORIES: [&str; 3] = ["space", "home", "fruit"];
/// The sentence frame: 5 tokens, the word last.
const PREFIX: &str = "The next word is";
/// The target words of Parts 4-6, labelled 1, 2, 3 (GPT-2 ids 812, 15591, 21133).
const TARGETS: [&str; 3] = [" years", " garage", " lawn"];
/// Hidden state whose per-position variance Part 1 plots.
const PART1_LAYER: usize = 3;
/// *The Great Gatsby* on Project Gutenberg.
const GATSBY: u32 = 64317;
/// Mask codes within one category (1·1, 2·2, 3·3) and across two (1·2, 1·3, 2·3).
const WITHIN: [u32; 3] = [1, 4, 9];
const ACROSS: [u32; 3] = [2, 3, 6];

/// Category selectivity of GPT-2's hidden states (cosine similarity within vs across
/// semantic categories, and within vs across words in the contexts of a novel).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Hidden state analysed in Parts 2 and 5 (0 = embeddings, k = output of block k-1)
    /// [the book: 4; the last hidden state under --quick, whose tiny model has only 4].
    #[arg(long)]
    layer: Option<usize>,
    /// Tokens of context before each occurrence of a target word (each sequence is
    /// context + 1 tokens, the target last).
    #[arg(long, default_value_t = 50)]
    context: usize,
    /// Padded tokens per forward pass in Part 5 (the N x 51 batch is cut into batches of
    /// at most this many tokens; the results do not depend on it).
    #[arg(long, default_value_t = 2048)]
    max_batch_tokens: usize,
    /// A local copy of the book (pg64317.txt as Project Gutenberg serves it) instead of
    /// downloading it; any UTF-8 text file works.
    #[arg(long)]
    book_file: Option<PathBuf>,
}

/// One sentence of Parts 1-3.
struct Word {
    word: &'static str,
    label: u32,
    id: u32,
    tokens: Vec<u32>,
}

/// One occurrence of a target word in the book.
struct Occurrence {
    position: usize,
    label: u32,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;

    // Fail fast: the model and the book are found before anything is computed or written.
    let model_id = args.common.model_or("gpt2");
    args.common.resolve_decoder(
        &model_id,
        "this project reads a causal decoder's hidden states (identical prefixes, the word last); pass GPT-2, GPT-Neo or GPT-NeoX with --model",
    )?;
    let (book_label, book) = load_book(&args)?;
    let model = args.common.load_model(&model_id)?;
    let n_layers = model.cfg.n_layers;
    // ... and everything that depends on the tokenizer or the model's size.
    let words = sentence_tokens(&model)?;
    let book_tokens = model.tokenizer.encode(&book)?;
    let target_ids = TARGETS
        .iter()
        .map(|t| model.tokenizer.single_token(t))
        .collect::<Result<Vec<_>>>()?;
    ensure!(
        args.context < model.cfg.n_ctx,
        "--context {} needs {}-token sequences, more than {}'s context of {}",
        args.context,
        args.context + 1,
        model.id,
        model.cfg.n_ctx
    );
    ensure!(
        args.max_batch_tokens > 0,
        "--max-batch-tokens must be at least 1"
    );
    let layer = match (args.layer, args.common.quick) {
        (Some(l), _) => l,
        (None, false) => 4,
        (None, true) => 4.min(n_layers),
    };
    ensure!(
        layer <= n_layers,
        "--layer {layer}: {} has hidden states 0..={n_layers}",
        model.id
    );
    ensure!(
        PART1_LAYER <= n_layers,
        "Part 1 reads hidden state {PART1_LAYER}; {} has only {n_layers} blocks",
        model.id
    );

    let mut out = args.common.output(PROJECT)?;
    if args.common.quick {
        out.say(
            "--quick: tiny random GPT-2 from assets/ (GPT-2's tokenizer, random weights, 3 \
             blocks = 4 hidden states) and a passage written for this project instead of the \
             novel; Parts 2 and 5 use hidden state 3 (the tiny model has no layer 4). Same \
             method, smaller sizes: its numbers mean nothing.",
        );
    }
    out.say(format!(
        "{}: {} parameters, {} blocks, d_model = {}, {} hidden states",
        model.id,
        thousands(model.n_params()),
        n_layers,
        model.cfg.d_model,
        n_layers + 1
    ));

    let (h, logits) = part1_hidden_states(&model, &words, args.common.seed, &mut out)?;
    let labels: Vec<u32> = words.iter().map(|w| w.label).collect();
    part2_one_layer(&h, &words, &labels, layer, &mut out)?;
    part3_laminar_profiles(&model, &h, &logits, &words, &labels, &mut out)?;
    let (seqs, occ_labels) = part4_context_batch(
        &model,
        &book_label,
        &book_tokens,
        &target_ids,
        args.context,
        &mut out,
    )?;
    let last = part5_within_across_words(
        &model,
        &seqs,
        &occ_labels,
        layer,
        args.max_batch_tokens,
        &mut out,
    )?;
    part6_tornado_plots(&last, &occ_labels, &mut out)?;
    out.finish()
}

/// The book as served (header and licence kept: "all matches" includes them), a local
/// copy, or the project's own passage under `--quick`.
fn load_book(args: &Args) -> Result<(String, String)> {
    common::data::raw_book_or_local(&RawBook {
        id: GATSBY,
        title: "The Great Gatsby",
        local: args.book_file.as_deref(),
        quick: args
            .common
            .quick
            .then_some(("the quick passage", quick_text::TEXT)),
    })
}

/// The 34 sentences "The next word is <word>", each 5 tokens with the word's own token last.
fn sentence_tokens(model: &HookedModel) -> Result<Vec<Word>> {
    WORDS
        .iter()
        .map(|&(word, label)| {
            let id = model.tokenizer.single_token(&format!(" {word}"))?;
            let tokens = model.tokenizer.encode(&format!("{PREFIX} {word}"))?;
            ensure!(
                tokens.len() == 5 && tokens[4] == id,
                "{PREFIX:?} + {word:?} is {tokens:?} for {}'s tokenizer, not 5 tokens ending \
                 in {id}",
                model.id
            );
            Ok(Word {
                word,
                label,
                id,
                tokens,
            })
        })
        .collect()
}

/// Part 1: forward the 34 x 5 batch once, keeping the hidden states (only those) and the
/// logits at the last position. Plots the across-sentence variance of every dimension of
/// hidden state 3 at each position. Returns `H` (`n_layers + 1` tensors `[34, 5, d]`) and
/// the logits `[34, vocab]`.
fn part1_hidden_states(
    model: &HookedModel,
    words: &[Word],
    seed: u64,
    out: &mut Output,
) -> Result<(Vec<Tensor>, Tensor)> {
    out.say("\n## Part 1: model, tokens, hidden states");
    let mut rows = vec![];
    for (i, w) in words.iter().enumerate() {
        out.say(format!(
            "word {i:>2} {:<9} ({:<5}) {:?} -> token {}",
            w.word,
            CATEGORIES[w.label as usize - 1],
            format!(" {}", w.word),
            w.id
        ));
        rows.push(vec![
            i.to_string(),
            w.word.to_string(),
            w.label.to_string(),
            w.id.to_string(),
        ]);
    }
    out.table(
        "part1_word_tokens",
        &["index", "word", "category", "token_id"],
        &rows,
    )?;
    let seqs: Vec<Vec<u32>> = words.iter().map(|w| w.tokens.clone()).collect();
    out.say(format!(
        "sentence tokens (all rows): {:?} + word",
        &seqs[0][..4]
    ));
    let batch = model.batch_from_ids(&seqs, PaddingSide::Right)?;
    let mut run = model.run(
        &batch,
        &RunOptions::default()
            .cache(Names::list(&model.hidden_state_names()))
            .logits(LogitsAt::Last)
            .cache_on(tch::Device::Cpu),
    )?;
    // on the CPU already (cache_on); float32 whatever the model's dtype
    let h: Vec<Tensor> = model
        .take_hidden_states(&mut run.cache)?
        .into_iter()
        .map(|t| t.to_kind(Kind::Float))
        .collect();
    let logits = run.logits.context("no logits")?.to_device(tch::Device::Cpu);
    out.say(format!(
        "{} hidden states of shape {:?}; logits only at the last position: {:?} (not {} x 5)",
        h.len(),
        h[0].size(),
        logits.size(),
        seqs.len()
    ));

    // Unbiased variance across the 34 sentences, per position and dimension, in float64
    // (exact for identical float32 rows: the mean of identical values is the value).
    let var_of = |k: usize| -> Result<Vec<Vec<f64>>> {
        common::device::to_rows_f64(&h[k].to_kind(Kind::Double).var_dim(0, true, false))
    };
    for k in 0..h.len() {
        let v = var_of(k)?;
        let prefix_max = v[..4].iter().flatten().copied().fold(0.0, f64::max);
        let word_max = v[4].iter().copied().fold(0.0, f64::max);
        out.say(format!(
            "H[{k:>2}] ({:>3}): largest variance at positions 0-3 = {prefix_max:e}, at position 4 = {word_max:.6}",
            layer_label(k)
        ));
    }
    let var = var_of(PART1_LAYER)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let jitter = Normal::new(0.0, 0.03).expect("a positive sd");
    let mut panel = Panel::new(&format!(
        "Variance across {} sentences of each dimension of H[{PART1_LAYER}]",
        words.len()
    ))
    .xlabel("Token position")
    .ylabel("Variance across sentences")
    .x_ticks(
        ["The", " next", " word", " is", " <word>"]
            .iter()
            .enumerate()
            .map(|(i, s)| (i as f64, format!("{i}: {s:?}")))
            .collect(),
    );
    for (i, v) in var.iter().enumerate() {
        panel = panel.add(Series::scatter(
            (0..v.len())
                .map(|_| i as f64 + jitter.sample(&mut rng))
                .collect(),
            v.clone(),
            Style::markers(common::plot::cycle_color(i), Marker::Circle)
                .size(3)
                .alpha(0.3)
                .label(&format!("position {i}")),
        ));
    }
    out.figure(&Figure::new(9.0, 5.0).panel(panel), "ch5_proj25_part1")?;
    Ok((h, logits))
}

/// Within- and across-category similarities of one hidden state's last-token vectors.
struct Selectivity {
    s: Vec<Vec<f64>>,
    within: Vec<f64>,
    across: Vec<f64>,
    delta: f64,
    t: f64,
}

fn selectivity(x: &Tensor, mask: &[Vec<u32>]) -> Result<Selectivity> {
    let s = cosine_matrix(x)?;
    let within = group_values(&s, mask, &WITHIN);
    let across = group_values(&s, mask, &ACROSS);
    let delta = mean(&within) - mean(&across);
    let t = student_t(&within, &across)?;
    Ok(Selectivity {
        s,
        within,
        across,
        delta,
        t,
    })
}

/// The last-token vectors `[n, d]` of a `[n, pos, d]` hidden state.
fn last_token(h: &Tensor) -> Tensor {
    h.select(1, -1)
}

/// Part 2: the category mask, and at one layer the cosine matrix of the last-token
/// vectors, its within/across groups, their histograms and a t-test.
fn part2_one_layer(
    h: &[Tensor],
    words: &[Word],
    labels: &[u32],
    layer: usize,
    out: &mut Output,
) -> Result<()> {
    out.say(format!(
        "\n## Part 2: cosine similarities in hidden state {layer}"
    ));
    let mask = category_mask(labels);
    let mut rows = vec![];
    for (i, r) in mask.iter().enumerate() {
        for (j, &v) in r.iter().enumerate() {
            rows.push(vec![i.to_string(), j.to_string(), v.to_string()]);
        }
    }
    out.table("part2a_mask", &["row", "col", "mask"], &rows)?;
    for c in WITHIN.iter().chain(&ACROSS) {
        let n = mask.iter().flatten().filter(|&&v| v == *c).count();
        out.say(format!("mask value {c}: {n} pairs"));
    }
    let count = |codes: &[u32]| mask.iter().flatten().filter(|v| codes.contains(v)).count();
    let (n_within, n_across) = (count(&WITHIN), count(&ACROSS));
    out.say(format!(
        "within pairs: {n_within}, across pairs: {n_across}"
    ));

    // The mask as a discrete 9-colour rainbow image, colorbar ticks at its values.
    let n = labels.len();
    let ticks: Vec<(f64, String)> = words
        .iter()
        .enumerate()
        .map(|(i, w)| (i as f64, w.word.to_string()))
        .collect();
    let mut uniq: Vec<u32> = mask.iter().flatten().copied().collect();
    uniq.sort_unstable();
    uniq.dedup();
    let img = discrete_image("Category mask (upper triangle of c cᵀ)", &mask, 9, 9.0)
        .xlabel("Word")
        .ylabel("Word")
        .x_ticks(ticks.clone())
        .y_ticks(
            ticks
                .iter()
                .map(|(i, s)| (n as f64 - i - 0.5, s.clone()))
                .collect(),
        );
    let fig = Figure::grid(9.5, 8.0, 1, 12)
        .panel_at(img, 0, 0, 1, 11)
        .panel_at(discrete_colorbar(9, 9.0, &uniq, "Mask value"), 0, 11, 1, 1);
    out.figure(&fig, "ch5_proj25_part2a")?;

    let sel = selectivity(&last_token(&h[layer]), &mask)?;
    out.say(format!(
        "H[{layer}] ({}): {} within, {} across similarities",
        layer_label(layer),
        sel.within.len(),
        sel.across.len()
    ));
    out.say(format!(
        "mean within = {:.4}, mean across = {:.4}, delta = {:.4}, t = {:.4} (df {})",
        mean(&sel.within),
        mean(&sel.across),
        sel.delta,
        sel.t,
        sel.within.len() + sel.across.len() - 2
    ));
    let offdiag: Vec<f64> = group_values(&sel.s, &mask, &WITHIN)
        .into_iter()
        .chain(group_values(&sel.s, &mask, &ACROSS))
        .collect();
    out.say(format!(
        "cosine range over all pairs: {:.4} .. {:.4}",
        offdiag.iter().copied().fold(f64::MAX, f64::min),
        offdiag.iter().copied().fold(f64::MIN, f64::max)
    ));

    let a = Panel::new(&format!("A) Cosine similarities, {}", layer_label(layer)))
        .heatmap(
            Heatmap::new(sel.s.clone(), Colormap::Viridis)
                .range(0.5, 0.85)
                .label("Cosine similarity"),
        )
        .xlabel("Word")
        .ylabel("Word")
        .x_ticks(ticks.clone())
        .y_ticks(ticks);
    let (ew, dw) = own_range_histogram(&sel.within, 20)?;
    let (ea, da) = own_range_histogram(&sel.across, 20)?;
    let top = dw.iter().chain(&da).copied().fold(0.0, f64::max);
    let b = Panel::new(&format!("B) Δ = {:.2}, t = {:.2}", sel.delta, sel.t))
        .xlabel("Cosine similarity")
        .ylabel("Density")
        .ylim(0.0, top * 1.05)
        .add(density_curve(&ew, dw, (0, 128, 0), "Within"))
        .add(density_curve(&ea, da, (200, 0, 0), "Across"))
        .legend_at(LegendPos::UpperLeft);
    let fig = Figure::grid(16.0, 7.0, 1, 2).panel(a).panel(b);
    out.figure(&fig, "ch5_proj25_part2b")?;
    Ok(())
}

/// Part 3: the four metrics at every hidden state, and the next-token predictions.
fn part3_laminar_profiles(
    model: &HookedModel,
    h: &[Tensor],
    logits: &Tensor,
    words: &[Word],
    labels: &[u32],
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 3: laminar profiles");
    let mask = category_mask(labels);
    let n = h.len();
    // metrics[0..4][k]: mean within, mean across, delta, t
    let mut metrics = vec![vec![0.0; n]; 4];
    let mut rows = vec![];
    for (k, hk) in h.iter().enumerate() {
        let sel = selectivity(&last_token(hk), &mask)?;
        let m = [mean(&sel.within), mean(&sel.across), sel.delta, sel.t];
        for (row, v) in metrics.iter_mut().zip(m) {
            row[k] = v;
        }
        out.say(format!(
            "H[{k:>2}] {:>3}: within {:.4}, across {:.4}, delta {:.4}, t {:.3}",
            layer_label(k),
            m[0],
            m[1],
            m[2],
            m[3]
        ));
        rows.push(
            std::iter::once(layer_label(k))
                .chain(m.iter().map(|v| format!("{v:.8}")))
                .collect(),
        );
    }
    out.table(
        "part3_metrics",
        &["layer", "mean_within", "mean_across", "delta", "t"],
        &rows,
    )?;

    let xs: Vec<f64> = (0..n).map(|k| k as f64).collect();
    let ks: Vec<f64> = xs.clone();
    let ticks = layer_ticks(n);
    let xlim = (-0.5, n as f64 - 0.5);
    let mut a = Panel::new("A) Mean cosine similarities")
        .xlabel("Hidden layer")
        .ylabel("Mean cosine similarity")
        .xlim(xlim.0, xlim.1)
        .x_ticks(ticks.clone());
    for (k, (&w, &x)) in metrics[0].iter().zip(&metrics[1]).enumerate() {
        let seg = Style::line((90, 90, 90)).dotted().width(1);
        let seg = if k == 0 { seg.label("Δ") } else { seg };
        a = a.add(Series::line(vec![k as f64; 2], vec![w, x], seg));
    }
    a = a
        .add(Series::scatter(
            xs.clone(),
            metrics[0].clone(),
            Style::markers((144, 238, 144), Marker::Hexagon)
                .size(8)
                .edge((0, 0, 0))
                .label("Within"),
        ))
        .add(Series::scatter(
            xs.clone(),
            metrics[1].clone(),
            Style::markers((255, 160, 160), Marker::Circle)
                .size(7)
                .edge((0, 0, 0))
                .label("Across"),
        ))
        .legend_at(LegendPos::LowerRight);
    let big = |x: Vec<f64>, y: Vec<f64>| {
        Series::scatter_colored(
            x,
            y,
            Style::markers((0, 0, 0), Marker::Circle)
                .size(10)
                .alpha(0.7)
                .label("Hidden layer"),
            ks.clone(),
            Colormap::Plasma,
        )
    };
    let b = Panel::new("B) Δ (within − across)")
        .xlabel("Hidden layer")
        .ylabel("Δ cosine similarity")
        .xlim(xlim.0, xlim.1)
        .x_ticks(ticks.clone())
        .add(big(xs.clone(), metrics[2].clone()));
    let c = Panel::new("C) t-value (within vs across)")
        .xlabel("Hidden layer")
        .ylabel("t-value")
        .xlim(xlim.0, xlim.1)
        .x_ticks(ticks)
        .add(big(xs.clone(), metrics[3].clone()));
    let d = Panel::new("D) Impact of normalization")
        .xlabel("Δ cosine similarity")
        .ylabel("t-value")
        .add(big(metrics[2].clone(), metrics[3].clone()));
    let fig = Figure::grid(13.0, 10.0, 2, 2)
        .panel(a)
        .panel(b)
        .panel(c)
        .panel(d);
    out.figure(&fig, "ch5_proj25_part3")?;

    // The model's greedy next token after each sentence (final logits, last position).
    let best = common::device::to_vec_i64(&logits.argmax(-1, false))?;
    let mut rows = vec![];
    for (w, &id) in words.iter().zip(&best) {
        let sentence = model.tokenizer.decode(&w.tokens)?;
        let next = model.tokenizer.decode_one(id as u32)?;
        out.say(format!("{sentence} -> {next:?}"));
        rows.push(vec![sentence, id.to_string(), next]);
    }
    out.table(
        "part3_predictions",
        &["sentence", "argmax_id", "argmax_token"],
        &rows,
    )?;
    Ok(())
}

/// Part 4: every occurrence of each target word in the book, and for each the sequence of
/// the `context` tokens before it plus the word (the word last). Returns the sequences
/// and their labels (1, 2, 3), years first, then garage, then lawn.
fn part4_context_batch(
    model: &HookedModel,
    book_label: &str,
    tokens: &[u32],
    target_ids: &[u32],
    context: usize,
    out: &mut Output,
) -> Result<(Vec<Vec<u32>>, Vec<u32>)> {
    out.say("\n## Part 4: same words, different contexts");
    let mut uniq = tokens.to_vec();
    uniq.sort_unstable();
    uniq.dedup();
    out.say(format!(
        "{book_label}: {} tokens, {} unique",
        thousands(tokens.len() as i64),
        thousands(uniq.len() as i64)
    ));
    let mut occ = vec![];
    for (i, (&id, word)) in target_ids.iter().zip(TARGETS).enumerate() {
        let at: Vec<usize> = (0..tokens.len()).filter(|&p| tokens[p] == id).collect();
        out.say(format!("{word:?}: token {id}, {} occurrences", at.len()));
        // A match with fewer than `context` tokens before it has no full window (the
        // book's slice tokens[p-50 : p+1] would wrap around or be empty): left out.
        let short = at.iter().filter(|&&p| p < context).count();
        if short > 0 {
            out.say(format!(
                "  {short} of them within the first {context} tokens: left out (no full context)"
            ));
        }
        occ.extend(
            at.into_iter()
                .filter(|&p| p >= context)
                .map(|p| Occurrence {
                    position: p,
                    label: i as u32 + 1,
                }),
        );
    }
    for l in 1..=3u32 {
        ensure!(
            occ.iter().filter(|o| o.label == l).count() >= 2,
            "{book_label} has fewer than 2 usable occurrences of {:?}: Part 5 needs at least 2 \
             per word",
            TARGETS[l as usize - 1]
        );
    }
    let seqs: Vec<Vec<u32>> = occ
        .iter()
        .map(|o| tokens[o.position - context..=o.position].to_vec())
        .collect();
    let labels: Vec<u32> = occ.iter().map(|o| o.label).collect();
    out.say(format!(
        "context batch: {} x {} tokens",
        seqs.len(),
        context + 1
    ));
    let mut rows = vec![];
    for (i, (s, o)) in seqs.iter().zip(&occ).enumerate() {
        let tail = model.tokenizer.decode(&s[s.len().saturating_sub(5)..])?;
        out.say(format!("{i:>3}: ...{tail:?}"));
        rows.push(vec![
            i.to_string(),
            o.position.to_string(),
            o.label.to_string(),
            s.len().to_string(),
            s[0].to_string(),
            s[s.len() - 1].to_string(),
            tail,
        ]);
    }
    out.table(
        "part4_contexts",
        &[
            "row",
            "position",
            "label",
            "n_tokens",
            "first_token",
            "last_token",
            "last5_decoded",
        ],
        &rows,
    )?;
    Ok((seqs, labels))
}

/// The three similarity groups of Parts 5-6: same word, years vs garage/lawn, garage vs
/// lawn.
fn word_groups(s: &[Vec<f64>], mask: &[Vec<u32>]) -> [Vec<f64>; 3] {
    [
        group_values(s, mask, &WITHIN),
        group_values(s, mask, &[2, 3]),
        group_values(s, mask, &[6]),
    ]
}

const GROUP_NAMES: [&str; 3] = ["Within-category", "<years,garage/lawn>", "<garage,lawn>"];

/// Part 5: forward the context batch (hidden states only), and at one layer the cosine
/// matrix of the target words' vectors and the histograms of the three groups. Returns
/// the last-token vectors `[N, d]` of every hidden state.
fn part5_within_across_words(
    model: &HookedModel,
    seqs: &[Vec<u32>],
    labels: &[u32],
    layer: usize,
    max_batch_tokens: usize,
    out: &mut Output,
) -> Result<Vec<Tensor>> {
    out.say("\n## Part 5: within- and across-word similarities");
    let names = model.hidden_state_names();
    let per_batch = (max_batch_tokens / seqs[0].len()).max(1);
    let passes = seqs.len().div_ceil(per_batch);
    let t0 = std::time::Instant::now();
    let runs = model.run_sequences(seqs, &Names::list(&names), false, max_batch_tokens)?;
    out.say(format!(
        "{} sequences in {passes} forward pass(es) of up to {per_batch} (instead of {}), no \
         logits, only the {} hidden states cached: {:.1} s",
        seqs.len(),
        seqs.len(),
        names.len(),
        t0.elapsed().as_secs_f64()
    ));
    // Keep only the target word's vector (the last position) of every hidden state.
    let last: Vec<Tensor> = names
        .iter()
        .map(|name| {
            let rows = runs
                .iter()
                .map(|r| {
                    let t = r.cache.get(name).with_context(|| format!("no {name}"))?;
                    Ok(t.select(0, -1)
                        .to_device(tch::Device::Cpu)
                        .to_kind(Kind::Float))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Tensor::stack(&rows, 0))
        })
        .collect::<Result<_>>()?;

    let mask = category_mask(labels);
    let n = labels.len();
    let mut rows = vec![];
    for (i, r) in mask.iter().enumerate() {
        for (j, &v) in r.iter().enumerate() {
            rows.push(vec![i.to_string(), j.to_string(), v.to_string()]);
        }
    }
    out.table("part5a_mask", &["row", "col", "mask"], &rows)?;
    let maskf: Vec<Vec<f64>> = mask
        .iter()
        .map(|r| r.iter().map(|&v| v as f64).collect())
        .collect();
    let fig = Figure::new(8.0, 7.0).panel(
        Panel::new(&format!("Mask of the {n} occurrences"))
            .heatmap(Heatmap::new(maskf, Colormap::Viridis).label("Mask value"))
            .xlabel("Sequence index")
            .ylabel("Sequence index"),
    );
    out.figure(&fig, "ch5_proj25_part5a")?;

    let s = cosine_matrix(&last[layer])?;
    let groups = word_groups(&s, &mask);
    for (g, name) in groups.iter().zip(GROUP_NAMES) {
        out.say(format!(
            "H[{layer}] {name}: {} pairs, mean cosine {:.4}",
            g.len(),
            mean(g)
        ));
    }
    let a = Panel::new(&format!("A) Cosine similarities, {}", layer_label(layer)))
        .heatmap(
            Heatmap::new(s, Colormap::Viridis)
                .range(0.5, 1.0)
                .label("Cosine similarity"),
        )
        .xlabel("Sequence index")
        .ylabel("Sequence index");
    let colors = [(0, 128, 0), (200, 0, 0), (30, 30, 200)];
    let mut b = Panel::new("B) Distributions of cosine similarities")
        .xlabel("Cosine similarity")
        .ylabel("Density")
        .legend_at(LegendPos::UpperLeft);
    let mut top: f64 = 0.0;
    for ((g, name), c) in groups.iter().zip(GROUP_NAMES).zip(colors) {
        let (e, d) = own_range_histogram(g, 30)?;
        top = top.max(d.iter().copied().fold(0.0, f64::max));
        b = b.add(density_curve(&e, d, c, name));
    }
    let b = b.ylim(0.0, top * 1.05);
    out.figure(
        &Figure::grid(16.0, 7.0, 1, 2).panel(a).panel(b),
        "ch5_proj25_part5b",
    )?;
    Ok(last)
}

/// Part 6: at every layer, the three groups' distributions over common bins from 0.4 to
/// 1 as per-bin probabilities (density x bin width), shown as "tornado" heatmaps.
fn part6_tornado_plots(last: &[Tensor], labels: &[u32], out: &mut Output) -> Result<()> {
    out.say("\n## Part 6: laminar profiles of similarity distributions");
    let mask = category_mask(labels);
    let e = edges(0.4, 1.0, 34);
    let dx = 0.6 / 34.0;
    let n = last.len();
    // probs[g][k][bin]
    let mut probs = vec![vec![vec![]; n]; 3];
    let mut rows = vec![];
    for (k, x) in last.iter().enumerate() {
        let s = cosine_matrix(x)?;
        for (g, vals) in word_groups(&s, &mask).iter().enumerate() {
            let p: Vec<f64> = density_histogram(vals, &Bins::Edges(e.clone()))
                .1
                .iter()
                .map(|d| d * dx)
                .collect();
            let inside = vals.iter().filter(|v| (0.4..=1.0).contains(*v)).count();
            out.say(format!(
                "H[{k:>2}] {:>3} {:<20}: {inside}/{} in [0.4, 1], mean {:.4}, top-bin probability {:.4}",
                layer_label(k),
                GROUP_NAMES[g],
                vals.len(),
                mean(vals),
                p[33]
            ));
            rows.push(
                [layer_label(k), GROUP_NAMES[g].to_string()]
                    .into_iter()
                    .chain(p.iter().map(|v| format!("{v:.10}")))
                    .collect::<Vec<_>>(),
            );
            probs[g][k] = p;
        }
    }
    let mut header = vec!["layer".to_string(), "group".to_string()];
    header.extend((0..34).map(|b| format!("bin{b}")));
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    out.table("part6_probabilities", &header, &rows)?;

    let titles = ["Within", "<years,garage/lawn>", "<lawn,garage>"];
    let mut fig = Figure::grid(18.0, 6.0, 1, 3);
    for (g, title) in titles.iter().enumerate() {
        // origin='lower': the last layer is the top row.
        let values: Vec<Vec<f64>> = probs[g].iter().rev().cloned().collect();
        fig = fig.panel(
            Panel::new(title)
                .heatmap(
                    Heatmap::new(values, Colormap::Magma)
                        .range(0.0, 0.25)
                        .extent((0.4, 1.0), (0.0, n as f64))
                        .label("Probability"),
                )
                .xlabel("Cosine similarity")
                .ylabel("Hidden layer")
                .y_ticks(
                    (0..n)
                        .step_by(n.div_ceil(13).max(1))
                        .map(|k| (k as f64 + 0.5, layer_label(k)))
                        .collect(),
                ),
        );
    }
    out.figure(&fig, "ch5_proj25_part6")?;
    Ok(())
}
