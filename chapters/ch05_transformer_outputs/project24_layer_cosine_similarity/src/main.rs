//! # Project 24 — Cosine similarities within and across layers
//!
//! **Question.** How do the hidden-state vectors of a causal LM change as a token travels
//! up through the layers, and how similar are the vectors of different tokens inside one
//! layer? We take all 25 hidden states of GPT-2-medium (the embeddings and the output of
//! each of its 24 blocks, the last one after the final layer norm) for a short sentence,
//! describe them, compare them layer with layer and token with token by cosine
//! similarity, and check the descriptive statistics on two 1,024-token stretches of
//! *The Great Gatsby*.
//!
//! **What to look for.**
//! - Part 2: the spread and variance of the ` cute` activations grow with depth; the last
//!   hidden state (after `ln_f`) shrinks back to a small scale; means stay near 0. In the
//!   std heatmap the first token (`A`) is far larger than every other token from the
//!   first blocks on (it saturates the 0–15 scale: GPT-2's "attention sink").
//! - Part 3: neighbouring layers are very similar (mostly ≥ 0.8 after the first blocks),
//!   similarity falls with the distance between layers, and the embeddings and the
//!   final normalised layer are the least similar to the rest; for the first token the
//!   middle-to-late layers are almost identical (cos ≈ 1).
//! - Part 4: token vectors are fairly dissimilar at the embeddings and become highly
//!   similar in deeper layers (anisotropy), except the first token; the laminar profile
//!   (first token excluded) rises with depth.
//! - Part 5: on real text the L1 mean and the std grow with depth (dropping at the final
//!   normalised layer), the arithmetic means scatter around 0, and mean and std fan out
//!   together layer by layer.
//!
//! Run: `cargo run --release -p project24_layer_cosine_similarity` (downloads
//! `gpt2-medium`, 1.5 GB, and Gutenberg book 64317 once). `--quick` runs offline in
//! seconds on the tiny random GPT-2 in `assets/` (GPT-2's real tokenizer, 3 blocks, 16
//! dimensions, a 64-token context) and on a passage written for this project instead
//! of the novel: the same steps with 4 hidden states instead of 25 and two 64-token
//! sequences instead of two of 1,024; its numbers come from random weights and mean
//! nothing.

mod figures;
mod hidden;
mod quick_text;

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::data::RawBook;
use common::model::hidden::layer_label;
use common::output::{thousands, Output};
use common::plot::{
    cycle_color, rainbow, scatter_size_px, Colormap, Figure, Heatmap, Marker, Panel, Series, Style,
};
use common::stats::upper_triangle_indices;
use common::{HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use figures::{fmt_list, layer_colorbar, layer_ticks, lower_heatmap, plasma, token_ticks};
use hidden::{cosine_rows, int_linspace, jittered, row_stats, shape, values};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::HashSet;
use std::path::PathBuf;
use tch::Tensor;

const PROJECT: &str = "project24_layer_cosine_similarity";
/// The sentence of Parts 1-4 (10 GPT-2 tokens).
const SENTENCE: &str = "A wise man once said: Penguins are cute.";
/// *The Great Gatsby* on Project Gutenberg.
const GATSBY: u32 = 64317;
/// Standard deviation of the scatter plots' horizontal jitter.
const JITTER_SD: f64 = 0.05;
/// Figures are drawn at 100 pixels per inch.
const DPI: f64 = 100.0;

/// Hidden states of GPT-2-medium: descriptive statistics and cosine similarities across
/// layers and across tokens.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Token of the sentence whose activations Part 2 plots (8 = " cute").
    #[arg(long, default_value_t = 8)]
    focus_token: usize,
    /// Tokens per sequence in Part 5 (the book: 1,024 = GPT-2's context; capped at the
    /// model's context). Time and memory grow with it: 1,024 takes roughly 0.5-1 minute
    /// of a 2-core CPU and ~200 MB of hidden states for gpt2-medium.
    #[arg(long, default_value_t = 1024)]
    seq_len: usize,
    /// Token offsets in the book where Part 5's sequences start [default: 10000,20000;
    /// 100,200 under --quick].
    #[arg(long, value_delimiter = ',')]
    starts: Option<Vec<usize>>,
    /// A local copy of the book (pg64317.txt as Project Gutenberg serves it) instead of
    /// downloading it; any UTF-8 text file works.
    #[arg(long)]
    book_file: Option<PathBuf>,
}

/// The text of Part 5 and what to call it.
struct Book {
    label: String,
    text: String,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;

    // Fail fast: the model and the book are found before anything is computed or written.
    let model_id = args.common.model_or("gpt2-medium");
    args.common.resolve_decoder(
        &model_id,
        "this project follows a causal decoder's hidden states (embeddings, each block's output, the last one after the final layer norm); pass GPT-2, GPT-Neo or GPT-NeoX with --model",
    )?;
    let book = load_book(&args)?;
    let model = args.common.load_model(&model_id)?;
    let sentence = model.tokenizer.encode(SENTENCE)?;
    ensure!(
        sentence.len() >= 3,
        "the sentence is only {} tokens for this tokenizer; Part 4 needs at least 3",
        sentence.len()
    );
    ensure!(
        args.focus_token < sentence.len(),
        "--focus-token {} is past the sentence's {} tokens",
        args.focus_token,
        sentence.len()
    );
    let book_tokens = model.tokenizer.encode(&book.text)?;
    let seq_len = args.seq_len.min(model.cfg.n_ctx);
    let capped = seq_len < args.seq_len;
    ensure!(seq_len >= 3, "--seq-len must be at least 3");
    let starts = match (&args.starts, args.common.quick) {
        (Some(s), _) => s.clone(),
        (None, true) => quick_text::STARTS.to_vec(),
        (None, false) => vec![10_000, 20_000],
    };
    ensure!(!starts.is_empty(), "--starts needs at least one offset");
    if let Some(&s) = starts.iter().find(|&&s| s + seq_len > book_tokens.len()) {
        bail!(
            "{} has {} tokens: a sequence of {seq_len} tokens cannot start at {s} \
             (--starts, --seq-len)",
            book.label,
            book_tokens.len()
        );
    }

    let mut out = args.common.output(PROJECT)?;
    if args.common.quick {
        out.say(
            "--quick: tiny random GPT-2 from assets/ (GPT-2's tokenizer, random weights, 3 \
             blocks, a 64-token context) and a passage written for this project instead of \
             the novel; same method, smaller sizes: its numbers mean nothing.",
        );
    }
    out.say(format!(
        "{}: {} parameters, {} blocks, d_model = {}, {} heads, n_ctx = {}",
        model.id,
        thousands(model.n_params()),
        model.cfg.n_layers,
        model.cfg.d_model,
        model.cfg.n_heads,
        model.cfg.n_ctx
    ));

    if capped {
        out.say(format!(
            "--seq-len {} is longer than the model's context: Part 5 uses {seq_len} tokens",
            args.seq_len
        ));
    }

    let h = part1_extract_hidden_states(&model, &sentence, &mut out)?;
    let labels = sentence
        .iter()
        .map(|&id| model.tokenizer.decode_one(id))
        .collect::<Result<Vec<_>>>()?;
    part2_inspect_hidden_states(&h, &labels, args.focus_token, args.common.seed, &mut out)?;
    part3_across_layers(&h, &labels, &mut out)?;
    part4_across_tokens(&h, &labels, args.common.seed, &mut out)?;
    part5_book_descriptives(
        &model,
        &book,
        &book_tokens,
        &starts,
        seq_len,
        args.common.seed,
        &mut out,
    )?;
    out.finish()
}

/// The book as served (byte-order mark, licence and CRLF line endings kept: the token
/// positions depend on them), a local copy, or the project's own text under `--quick`.
fn load_book(args: &Args) -> Result<Book> {
    let (label, text) = common::data::raw_book_or_local(&RawBook {
        id: GATSBY,
        title: "The Great Gatsby",
        local: args.book_file.as_deref(),
        quick: args
            .common
            .quick
            .then_some(("the quick passage", quick_text::TEXT)),
    })?;
    Ok(Book { label, text })
}

/// One forward pass that keeps the hidden states: every `[batch, pos, d]` tensor the
/// reference library returns with `output_hidden_states=True`, and nothing else.
fn hidden_states_of(
    model: &HookedModel,
    batch: &common::Batch,
    logits: LogitsAt,
) -> Result<(Option<Tensor>, Vec<Tensor>)> {
    let names = model.hidden_state_names();
    let mut run = model.run(
        batch,
        &RunOptions::default()
            .cache(Names::list(&names))
            .logits(logits)
            .cache_on(tch::Device::Cpu),
    )?;
    let h: Vec<Tensor> = model
        .take_hidden_states(&mut run.cache)?
        .into_iter()
        .map(|t| t.to_device(tch::Device::Cpu).to_kind(tch::Kind::Float))
        .collect();
    Ok((run.logits, h))
}

/// Part 1: tokenise the sentence and run it once, keeping all hidden states. Returns
/// them stacked `[n_hidden, tokens, d_model]`.
fn part1_extract_hidden_states(
    model: &HookedModel,
    ids: &[u32],
    out: &mut Output,
) -> Result<Tensor> {
    out.say("\n## Part 1: extract hidden states");
    let batch = model.batch_from_ids(&[ids.to_vec()], PaddingSide::Right)?;
    out.say(format!("sentence: {SENTENCE:?}"));
    out.say(format!("token ids: {ids:?}"));
    out.say(format!(
        "attention mask: {:?}",
        common::device::to_vec_i64(&batch.mask.view([-1]))?
    ));
    let (logits, h) = hidden_states_of(model, &batch, LogitsAt::All)?;
    let logits = logits.context("no logits")?;
    out.say(format!("logits shape: {}", shape(&logits)));
    out.say(format!("number of hidden states: {}", h.len()));
    let shapes: HashSet<String> = h.iter().map(shape).collect();
    out.say(format!(
        "shape of each hidden state: {}",
        shapes.into_iter().collect::<Vec<_>>().join(" / ")
    ));
    Ok(Tensor::stack(&h, 0).squeeze_dim(1))
}

/// Part 2: the activations of one token across the layers (values, mean, variance), and
/// the standard deviation of every token's vector at every layer.
fn part2_inspect_hidden_states(
    h: &Tensor,
    labels: &[String],
    focus: usize,
    seed: u64,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 2: inspect hidden states");
    let n = h.size()[0] as usize;
    let token = &labels[focus];
    out.say(format!("focus token {focus}: {token:?}"));
    let mut rng = StdRng::seed_from_u64(seed);
    let focus_vecs = h.select(1, focus as i64); // [n_hidden, d]
    let stats = row_stats(&focus_vecs)?;
    let dots = |k: usize| {
        Style::markers(plasma(k, n), Marker::Circle)
            .size(2)
            .alpha(0.4)
            .label(&layer_label(k))
    };
    let mut a = Panel::new(&format!("A) Activations of {token:?}"))
        .xlabel("Hidden layer")
        .ylabel("Activation value")
        .xlim(-0.5, n as f64 - 0.5)
        .x_ticks(layer_ticks(n, 0, 2));
    let mut b = Panel::new("B) Mean of activations")
        .xlabel("Hidden layer")
        .ylabel("Mean")
        .xlim(-0.5, n as f64 - 0.5)
        .x_ticks(layer_ticks(n, 1, 2));
    let mut c = Panel::new("C) Variance of activations")
        .xlabel("Hidden layer")
        .ylabel("Variance (N−1)")
        .xlim(-0.5, n as f64 - 0.5)
        .x_ticks(layer_ticks(n, 1, 2));
    for k in 0..n {
        let v = values(&focus_vecs.get(k as i64))?;
        a = a.add(Series::scatter(
            jittered(k, v.len(), JITTER_SD, &mut rng),
            v,
            dots(k),
        ));
        let one = |m: Marker| {
            Style::markers(plasma(k, n), m)
                .size(6)
                .edge((0, 0, 0))
                .label(&layer_label(k))
        };
        b = b.add(Series::scatter(
            vec![k as f64],
            vec![stats.mean[k]],
            one(Marker::Hexagon),
        ));
        c = c.add(Series::scatter(
            vec![k as f64],
            vec![stats.var[k]],
            one(Marker::Square),
        ));
        out.say(format!(
            "{token:?} at {:>4}: mean {:>9.4}, variance {:>11.4}, std {:>9.4}",
            layer_label(k),
            stats.mean[k],
            stats.var[k],
            stats.std[k]
        ));
    }
    let fig = Figure::grid(16.0, 4.5, 1, 3).panel(a).panel(b).panel(c);
    out.figure(&fig, "ch5_proj24_part2a")?;

    // token_stds[k][t]: std (N-1) over the d_model dimensions of token t at layer k.
    let t = labels.len();
    let stds = row_stats(h)?.std; // [n_hidden * t], row-major
    let token_stds: Vec<Vec<f64>> = stds.chunks(t).map(|r| r.to_vec()).collect();
    let first_max = token_stds.iter().map(|r| r[0]).fold(f64::MIN, f64::max);
    let others_max = token_stds
        .iter()
        .flat_map(|r| r[1..].iter().copied())
        .fold(f64::MIN, f64::max);
    out.say(format!(
        "token_stds ({n} x {t}): first token's largest std {first_max:.3}, the other tokens' largest {others_max:.3}"
    ));
    let panel = lower_heatmap(
        "Standard deviation of each token's hidden state",
        token_stds,
        Heatmap::new(vec![], Colormap::Magma)
            .range(0.0, 15.0)
            .label("Standard deviation"),
    )
    .xlabel("Token")
    .ylabel("Hidden layer")
    .x_ticks(token_ticks(labels))
    .x_tick_angle(90.0)
    .y_ticks(layer_ticks(n, 0, 1));
    out.figure(&Figure::new(7.0, 8.0).panel(panel), "ch5_proj24_part2b")?;
    Ok(())
}

/// Part 3: for four tokens, the cosine similarity of every pair of layers, and how it
/// depends on the distance between the layers.
fn part3_across_layers(h: &Tensor, labels: &[String], out: &mut Output) -> Result<()> {
    out.say("\n## Part 3: cosine similarities across layers");
    let n = h.size()[0] as usize;
    let tokens = int_linspace(0, labels.len() - 1, 4);
    out.say(format!(
        "tokens analysed: {tokens:?} = {:?}",
        tokens.iter().map(|&t| &labels[t]).collect::<Vec<_>>()
    ));
    let mats = tokens
        .iter()
        .map(|&t| cosine_rows(&h.select(1, t as i64))) // [n_hidden, d] -> [n, n]
        .collect::<Result<Vec<_>>>()?;
    let dist: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| i.abs_diff(j) as f64).collect())
        .collect();
    let pairs = upper_triangle_indices(n);
    out.say(format!(
        "{n} x {n} matrices; {} layer pairs i < j",
        pairs.len()
    ));

    let ticks = layer_ticks(n, 0, 3);
    // The book draws one colorbar for the four panels; common's heatmaps each carry their
    // own, and all four have the same limits [0.8, 1].
    let mut fig_a = Figure::grid(20.0, 4.8, 1, 4);
    let mut fig_c = Figure::grid(20.0, 4.5, 1, 4);
    for (&t, m) in tokens.iter().zip(&mats) {
        let tok = &labels[t];
        let near: Vec<f64> = (1..n).map(|i| m[i - 1][i]).collect();
        let far = m[0][n - 1];
        out.say(format!(
            "token {t} {tok:?}: neighbouring layers cos from {:.3} to {:.3} (mean {:.3}); \
             Emb vs last {far:.3}",
            near.iter().copied().fold(f64::MAX, f64::min),
            near.iter().copied().fold(f64::MIN, f64::max),
            common::stats::mean(&near)
        ));
        fig_a = fig_a.panel(
            lower_heatmap(
                &format!("CS matrix for {tok:?}"),
                m.clone(),
                Heatmap::new(vec![], Colormap::Plasma)
                    .range(0.8, 1.0)
                    .label("Cosine similarity"),
            )
            .xlabel("Hidden layer")
            .ylabel("Hidden layer")
            .x_ticks(ticks.clone())
            .y_ticks(ticks.clone()),
        );
        // One series per column j: the pairs (i, j) with i < j, coloured by j.
        let mut panel = Panel::new(&format!("Token {tok:?}"))
            .xlabel("Inter-layer distance")
            .ylabel("Cosine similarity");
        for j in 1..n {
            panel = panel.add(Series::scatter(
                (0..j).map(|i| dist[i][j]).collect(),
                (0..j).map(|i| m[i][j]).collect(),
                Style::markers(cycle_color(j), Marker::Hexagon)
                    .size(4)
                    .label(&format!("column {}", layer_label(j))),
            ));
        }
        fig_c = fig_c.panel(panel);
    }
    out.figure(&fig_a, "ch5_proj24_part3a")?;
    let panel = lower_heatmap(
        "Inter-layer distance |i − j|",
        dist,
        Heatmap::new(vec![], Colormap::Magma).label("Distance (layers)"),
    )
    .xlabel("Hidden layer")
    .ylabel("Hidden layer")
    .x_ticks(ticks.clone())
    .y_ticks(ticks);
    out.figure(&Figure::new(6.5, 5.5).panel(panel), "ch5_proj24_part3b")?;
    out.figure(&fig_c, "ch5_proj24_part3c")?;
    Ok(())
}

/// Part 4: for four layers, the cosine similarity of every pair of tokens; and the
/// "laminar profile" of those similarities over all layers, first token excluded.
fn part4_across_tokens(h: &Tensor, labels: &[String], seed: u64, out: &mut Output) -> Result<()> {
    out.say("\n## Part 4: cosine similarities across tokens");
    let n = h.size()[0] as usize;
    let t = labels.len();
    let layers = int_linspace(0, n - 1, 4);
    out.say(format!("layers analysed: {layers:?}"));
    // One colorbar per panel (see Part 3), all with the limits [0.7, 1].
    let mut fig = Figure::grid(20.0, 5.5, 1, 4);
    for &k in &layers {
        let m = cosine_rows(&h.get(k as i64))?; // [t, d] -> [t, t]
        let off: Vec<f64> = common::stats::upper_triangle(&m);
        let rest: Vec<f64> = common::stats::upper_triangle(
            &m[1..].iter().map(|r| r[1..].to_vec()).collect::<Vec<_>>(),
        );
        out.say(format!(
            "layer {k} ({}): mean cos over all token pairs {:.3}, without the first token {:.3}",
            layer_label(k),
            common::stats::mean(&off),
            common::stats::mean(&rest)
        ));
        fig = fig.panel(
            lower_heatmap(
                &format!("CS matrix for layer {k}"),
                m,
                Heatmap::new(vec![], Colormap::Plasma)
                    .range(0.7, 1.0)
                    .label("Cosine similarity"),
            )
            .x_ticks(token_ticks(labels))
            .y_ticks(token_ticks(labels))
            .x_tick_angle(90.0),
        );
    }
    out.figure(&fig, "ch5_proj24_part4a")?;

    // Laminar profile: tokens 1.. only, the strict upper triangle of their cosine matrix
    // at every layer. (The book takes the sorted unique values of the upper triangle
    // with zeros below and drops the smallest, the zero: the same values as long as none
    // is <= 0 or repeated. Here they are taken as the strict upper triangle directly.)
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(4));
    let mut panel = Panel::new("Inter-token cosine similarity by layer (first token excluded)")
        .xlabel("Hidden layer")
        .ylabel("Cosine similarity")
        .xlim(-0.5, n as f64 - 0.5)
        .x_ticks(layer_ticks(n, 0, 1));
    let mut means = vec![];
    for k in 0..n {
        let m = cosine_rows(&h.get(k as i64).narrow(0, 1, t as i64 - 1))?;
        let v = common::stats::upper_triangle(&m);
        means.push(common::stats::mean(&v));
        panel = panel.add(Series::scatter(
            jittered(k, v.len(), JITTER_SD, &mut rng),
            v,
            Style::markers(plasma(k, n), Marker::Circle)
                .size(4)
                .alpha(0.4)
                .label(&layer_label(k)),
        ));
    }
    out.say(format!(
        "laminar profile: {} values per layer; mean cos by layer: {}",
        (t - 1) * (t - 2) / 2,
        fmt_list(&means)
    ));
    out.figure(&Figure::new(12.0, 4.5).panel(panel), "ch5_proj24_part4b")?;
    Ok(())
}

/// Part 5: mean, L1 mean and std of every hidden-state vector of two long stretches of
/// the book (position 0 of each sequence left out), layer by layer.
fn part5_book_descriptives(
    model: &HookedModel,
    book: &Book,
    tokens: &[u32],
    starts: &[usize],
    seq_len: usize,
    seed: u64,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 5: descriptives on a larger dataset");
    let unique: HashSet<u32> = tokens.iter().copied().collect();
    out.say(format!(
        "{}: {} tokens, {} unique token ids",
        book.label,
        thousands(tokens.len() as i64),
        thousands(unique.len() as i64)
    ));
    out.say(format!(
        "sequences: {} of {seq_len} tokens starting at {starts:?}",
        starts.len()
    ));
    let seqs: Vec<Vec<u32>> = starts
        .iter()
        .map(|&s| tokens[s..s + seq_len].to_vec())
        .collect();
    let batch = model.batch_from_ids(&seqs, PaddingSide::Right)?;
    // Work saved: only the hidden states are cached, and no logits are computed (the
    // final layer norm runs, the unembedding does not).
    let n_hidden = model.cfg.n_layers + 1;
    out.say(format!(
        "work saved: {n_hidden} of {} hook points cached; no logits computed ({} x {seq_len} x \
         {} floats = {:.0} MB not allocated)",
        model.hook_names().len(),
        seqs.len(),
        thousands(model.cfg.vocab_size as i64),
        (seqs.len() * seq_len * model.cfg.vocab_size * 4) as f64 / 1e6
    ));
    let pb = common::progress::spinner(&format!(
        "forward pass of {} x {seq_len} tokens",
        seqs.len()
    ));
    let t0 = std::time::Instant::now();
    let result = hidden_states_of(model, &batch, LogitsAt::None);
    pb.finish_and_clear();
    let (_, h) = result?;
    out.say(format!("forward pass: {:.1} s", t0.elapsed().as_secs_f64()));
    // The book prints H[4]; the tiny --quick model has only 4 hidden states (H[0..3]),
    // so there the last one is printed instead, and the output says so.
    let k4 = 4.min(n_hidden - 1);
    if k4 == 4 {
        out.say(format!("shape of H[4]: {}", shape(&h[4])));
    } else {
        out.say(format!(
            "shape of H[{k4}]: {} (this model has no H[4]; the last hidden state is shown)",
            shape(&h[k4])
        ));
    }

    let n = h.len();
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(5));
    let dot = |k: usize, m: Marker| {
        Style::markers(rainbow(k as f64 / n as f64), m)
            .size(scatter_size_px(3.0, DPI).max(1))
            .alpha(0.3)
            .label(&layer_label(k))
    };
    let xlim = (-0.5, n as f64 - 0.5);
    let ticks = layer_ticks(n, 0, 2);
    let mut a = Panel::new("A) Hidden-state arithmetic means")
        .xlabel("Hidden layer")
        .ylabel("Mean")
        .xlim(xlim.0, xlim.1)
        .x_ticks(ticks.clone())
        .add(Series::hline(0.0, Style::line((0, 0, 0)).dashed().width(1)));
    let mut b = Panel::new("B) Hidden-state L1 means")
        .xlabel("Hidden layer")
        .ylabel("Mean of |values|")
        .xlim(xlim.0, xlim.1)
        .x_ticks(ticks.clone());
    let mut c = Panel::new("C) Vector stdevs")
        .xlabel("Hidden layer")
        .ylabel("Standard deviation (N−1)")
        .xlim(xlim.0, xlim.1)
        .x_ticks(ticks);
    let mut d = Panel::new("D) Mean vs. standard deviation")
        .xlabel("Mean")
        .ylabel("Standard deviation (N−1)");
    let mut rows = vec![];
    let pb = common::progress::bar(n as u64, "descriptives by layer");
    for (k, hk) in h.iter().enumerate() {
        // every position but 0 of every sequence: [b, p-1, d]
        let s = row_stats(&hk.narrow(1, 1, seq_len as i64 - 1))?;
        let count = s.mean.len();
        a = a.add(Series::scatter(
            jittered(k, count, JITTER_SD, &mut rng),
            s.mean.clone(),
            dot(k, Marker::Circle),
        ));
        b = b.add(Series::scatter(
            jittered(k, count, JITTER_SD, &mut rng),
            s.l1_mean.clone(),
            dot(k, Marker::Circle),
        ));
        c = c.add(Series::scatter(
            jittered(k, count, JITTER_SD, &mut rng),
            s.std.clone(),
            dot(k, Marker::Square),
        ));
        d = d.add(Series::scatter(
            s.mean.clone(),
            s.std.clone(),
            dot(k, Marker::Circle),
        ));
        let (mm, ma, ms) = (
            common::stats::mean(&s.mean),
            common::stats::mean(&s.l1_mean),
            common::stats::mean(&s.std),
        );
        out.say(format!(
            "{:>4}: {count} vectors, mean of m {mm:>9.4}, of mAbs {ma:>9.4}, of s {ms:>9.4}",
            layer_label(k)
        ));
        rows.push(vec![
            k.to_string(),
            layer_label(k),
            count.to_string(),
            format!("{mm}"),
            format!("{ma}"),
            format!("{ms}"),
        ]);
        pb.inc(1);
    }
    pb.finish_and_clear();
    out.table(
        "part5_descriptives",
        &[
            "hidden_state",
            "label",
            "vectors",
            "mean_m",
            "mean_mAbs",
            "mean_s",
        ],
        &rows,
    )?;
    // matplotlib draws panel D's colorbar beside it; here it is a narrow panel of its own.
    let fig = Figure::grid(13.0, 9.0, 2, 14)
        .panel_at(a, 0, 0, 1, 7)
        .panel_at(b, 0, 7, 1, 7)
        .panel_at(c, 1, 0, 1, 7)
        .panel_at(d, 1, 7, 1, 6)
        .panel_at(layer_colorbar(n), 1, 13, 1, 1);
    out.figure(&fig, "ch5_proj24_part5")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offline check 1: the sentence's GPT-2 ids (GPT-2's BPE from tiktoken's r50k_base).
    #[test]
    fn sentence_tokenizes_as_in_the_spec() {
        let t = common::tokenizer::Tokenizer::gpt2();
        let ids = t.encode(SENTENCE).unwrap();
        assert_eq!(
            ids,
            vec![32, 10787, 582, 1752, 531, 25, 29755, 389, 13779, 13]
        );
        assert_eq!(t.decode(&ids).unwrap(), SENTENCE);
        assert_eq!(t.decode_one(13779).unwrap(), " cute");
    }

    #[test]
    fn quick_passage_is_long_enough() {
        let t = common::tokenizer::Tokenizer::gpt2();
        let n = t.encode(quick_text::TEXT).unwrap().len();
        assert!(n >= quick_text::STARTS[1] + 64, "{n} tokens");
    }
}
