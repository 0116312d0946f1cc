//! # Project 36 — Characteristics of attention adjustment magnitudes
//!
//! **Question.** How large are the vectors that each attention sublayer adds to the
//! residual stream ("attention adjustments": the output of the attention output projection
//! `attn.c_proj`, common's `blocks.{l}.hook_attn_out`) in GPT-2 large; how does their
//! magnitude depend on the layer and on the token position; and can a token's adjustment
//! magnitude be predicted from its position, or from the magnitudes at the two tokens
//! before it? On the way we handle a padded batch correctly: 64 movie reviews of different
//! lengths are padded on the right to the longest, the attention mask keeps pad keys out of
//! every softmax (so the real tokens get exactly the outputs they would get alone), and
//! every statistic below leaves the pad positions out.
//!
//! **What to look for.**
//! - Part 1: the token mask: white where a review has a token, black where it is padding;
//!   most reviews are much shorter than the longest.
//! - Part 2: log-norms differ markedly between layers (a laminar profile): magnitudes grow
//!   with depth overall, some layers (early ones, and especially the last) stand out, and
//!   within a layer the distribution is unimodal and fairly narrow.
//! - Part 3: position 0 is unlike every other position (the first token can only attend to
//!   itself): that is why it is left out of Parts 2, 4 and 5 and why the colour limits are
//!   percentiles. Beyond the first few tokens the averages change smoothly; late positions
//!   are noisy because few reviews are that long (Part 3b).
//! - Part 4: the slopes over positions 1..30 are small next to the intercepts; a slight
//!   decrease with position is a plausible tendency (attention spreads over more tokens).
//! - Part 5: the lag coefficients are positive (magnitudes are autocorrelated along the
//!   sequence), the t-1 coefficient usually at least as large as the t-2 one.
//!
//! These are the book's qualitative expectations; the project's machines reach no model
//! hub, so they have not been checked on the real weights here.
//!
//! Memory: the book keeps the 36 c_proj outputs `[64, T, 1280]` (about 0.7 GB for T = 60).
//! Every statistic here needs only each vector's length, so a read-only hook on
//! `blocks.*.hook_attn_out` reduces each layer's output to its norms `[64, T]` the moment
//! it is computed and nothing else is cached (no logits either).
//!
//! Run: `cargo run --release -p project36_attention_adjustments` (downloads `gpt2-large`,
//! 3.1 GB, and the rotten_tomatoes test split, ~100 KB, once; a minute or two of a 2-core
//! CPU, seconds on a GPU). `--quick` runs offline in seconds on the tiny random GPT-2 in
//! `assets/` (GPT-2's real tokenizer, 3 blocks, d = 16, 4 heads) and on eight short reviews
//! written for this project (3 to 35 tokens, so padding is exercised). Its weights are
//! random: the numbers check the code and mean nothing.

mod adjust;
mod quick_text;

use adjust::{lag_fit, masked_position_means, position_fit, select_valid, triples};
use anyhow::{ensure, Context, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::device::to_rows_f64;
use common::ml::descriptive::percentiles;
use common::model::ModelConfig;
use common::output::{thousands, Output};
use common::plot::tab::{BLUE, GREEN};
use common::plot::{
    histogram_counts, markersize_px, Bins, Colormap, Figure, Heatmap, LegendPos, Marker, Panel,
    Rgb, Series, Style, BLACK, GREY,
};
use common::tokenizer::Tokenizer;
use common::{Batch, Hook, HookedModel, LogitsAt, PaddingSide, RunOptions};
use std::cell::RefCell;
use std::rc::Rc;
use tch::{Device, Kind};

const PROJECT: &str = "project36_attention_adjustments";
/// Figures are drawn at 100 pixels per inch.
const DPI: f64 = 100.0;
const LIGHT_RED: Rgb = (240, 128, 128);
/// The review the Data section shows.
const EXAMPLE_ROW: usize = 30;

/// The magnitudes of GPT-2 large's attention adjustments (c_proj outputs) by layer and
/// token position in a padded batch of movie reviews, and how well position or the two
/// previous magnitudes predict them.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// How many reviews of the rotten_tomatoes test split to use, from the first (the book:
    /// 64). Ignored under --quick, which uses its own eight.
    #[arg(long, default_value_t = 64)]
    n_texts: usize,
    /// Positions 1..=N enter the position regression of Part 4 (the book's tokens2use = 30);
    /// the longest review must have more than N tokens.
    #[arg(long, default_value_t = 30)]
    tokens_to_use: usize,
}

/// The padded batch and what the parts read of it.
struct Data {
    texts: Vec<String>,
    source: String,
    batch: Batch,
    /// `[seq][pos]`: true at real tokens (attention_mask == 1).
    mask: Vec<Vec<bool>>,
    lengths: Vec<usize>,
}

/// What the forward pass leaves: per layer the hook's name, the shape it saw and the
/// L2 norm of every vector `[seq][pos]` (pad positions included; the parts mask them).
struct Norms {
    names: Vec<String>,
    shapes: Vec<Vec<i64>>,
    norms: Vec<Vec<Vec<f64>>>,
    /// Shape of boolean-mask indexing of the first layer's `[b, T, d]` output.
    bool_indexed: Vec<i64>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;

    // Fail fast: the model, its config, the flags, the data and the batch are all checked
    // before the output folder is touched.
    let model_id = args.common.model_or("gpt2-large");
    let (files, cfg) = args.common.resolve_decoder(
        &model_id,
        "this project is about a causal decoder's attention (position 0 sees only itself); pass a GPT-2 checkpoint with --model",
    )?;
    ensure!(
        args.tokens_to_use >= 2,
        "--tokens-to-use must be at least 2 (a line needs two points)"
    );
    let tokenizer = Tokenizer::for_model(&files)?;
    let data = load_data(&args, &cfg, &tokenizer)?;
    let t_len = data.batch.seq_len() as usize;
    ensure!(
        t_len > args.tokens_to_use,
        "the longest text of the batch has {t_len} tokens: Part 4 regresses positions 1..={} \
         and needs at least {} (pass a smaller --tokens-to-use or longer texts)",
        args.tokens_to_use,
        args.tokens_to_use + 1
    );

    let mut out = args.common.output(PROJECT)?;
    if args.common.quick {
        let which = if args.common.model.is_none() {
            "the tiny random GPT-2 from assets/ (GPT-2's tokenizer, 3 blocks, d = 16, 4 heads; \
             its weights are random, so every number below only exercises the code)"
        } else {
            "the --model given"
        };
        out.say(format!(
            "--quick: {which}, and reviews written for this project instead of rotten_tomatoes"
        ));
    }
    let model = args.common.load_model(&model_id)?;
    out.say(format!(
        "{}: {} parameters, {} blocks, d_model = {}, {} heads of {}; eval, float32, no gradients",
        model.id,
        thousands(model.n_params()),
        model.cfg.n_layers,
        model.cfg.d_model,
        model.cfg.n_heads,
        model.cfg.d_head
    ));
    report_data(&tokenizer, &data, &mut out)?;

    let acts = part1_activations(&model, &data, &mut out)?;
    part2_laminar(&acts, &data, &mut out)?;
    let x = part3_positions(&acts, &data, &mut out)?;
    part4_position_regression(&x, args.tokens_to_use, &mut out)?;
    part5_autoregression(&acts, &data, &mut out)?;
    out.finish()
}

/// The first `n_texts` reviews of the rotten_tomatoes test split (or the quick ones),
/// tokenised together: GPT-2's BPE, no BOS, no truncation, padded on the right to the
/// longest with the EOS token (id 50256), as the book's `tokenizer(texts, padding=True)`.
fn load_data(args: &Args, cfg: &ModelConfig, tok: &Tokenizer) -> Result<Data> {
    let (texts, source) = if args.common.quick {
        (
            quick_text::sentences(),
            "reviews written for --quick (src/quick_sentences.txt)".to_string(),
        )
    } else {
        ensure!(args.n_texts >= 1, "--n-texts must be at least 1");
        let rows = common::data::rotten_tomatoes("test").context(
            "this project needs the rotten_tomatoes test split: run it once with network \
             access, or use --quick",
        )?;
        ensure!(
            rows.len() >= args.n_texts,
            "the rotten_tomatoes test split has {} rows, fewer than --n-texts {}",
            rows.len(),
            args.n_texts
        );
        (
            rows.into_iter()
                .take(args.n_texts)
                .map(|r| r.text)
                .collect(),
            format!(
                "cornell-movie-review-data/rotten_tomatoes, split test, rows 0..{}",
                args.n_texts - 1
            ),
        )
    };
    let seqs = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let ids = tok.encode(t)?;
            ensure!(!ids.is_empty(), "text {i} ({t:?}) has no tokens");
            ensure!(
                ids.len() <= cfg.n_ctx,
                "text {i} has {} tokens, more than the model's context of {}",
                ids.len(),
                cfg.n_ctx
            );
            Ok(ids)
        })
        .collect::<Result<Vec<_>>>()?;
    // GPT-2 has no pad token: the book sets it to EOS; any id would do (pads are masked).
    let pad = cfg.eos_token_id.unwrap_or(cfg.pad_token_id);
    let batch = Batch::from_ids(&seqs, pad, PaddingSide::Right)?;
    batch.check(cfg.vocab_size, cfg.n_ctx, None)?;
    let width = batch.seq_len() as usize;
    let lengths: Vec<usize> = seqs.iter().map(Vec::len).collect();
    let mask = lengths
        .iter()
        .map(|&l| (0..width).map(|t| t < l).collect())
        .collect();
    Ok(Data {
        texts,
        source,
        batch,
        mask,
        lengths,
    })
}

/// The Data section's printouts: the source, the batch's shape and one example review.
fn report_data(tok: &Tokenizer, d: &Data, out: &mut Output) -> Result<()> {
    out.say("\n## Data");
    out.say(format!("{}: {} texts", d.source, d.texts.len()));
    let (b, t) = (d.batch.size(), d.batch.seq_len());
    out.say(format!(
        "input_ids and attention_mask: [{b}, {t}] (padded on the right to the longest, \
         n_tokens = {t}); {} real tokens, {} pad slots",
        d.lengths.iter().sum::<usize>(),
        b as usize * t as usize - d.lengths.iter().sum::<usize>()
    ));
    let row = EXAMPLE_ROW.min(d.texts.len() - 1);
    let ids = common::device::to_vec_i64(&d.batch.ids.get(row as i64))?;
    let real: Vec<u32> = ids[..d.lengths[row]].iter().map(|&i| i as u32).collect();
    out.say(format!("text {row}: {:?}", d.texts[row]));
    out.say(format!(
        "text {row} as tokens ({} real, {} pad): {:?}",
        d.lengths[row],
        t as usize - d.lengths[row],
        ids
    ));
    out.say(format!(
        "text {row} decoded from its real tokens: {:?}",
        tok.decode(&real)?
    ));
    let rows: Vec<Vec<String>> = d
        .texts
        .iter()
        .zip(&d.lengths)
        .enumerate()
        .map(|(i, (txt, l))| vec![i.to_string(), l.to_string(), txt.clone()])
        .collect();
    out.table("texts", &["row", "n_tokens", "text"], &rows)?;
    Ok(())
}

/// Part 1: one forward pass with the attention mask; a read-only hook on every
/// `blocks.{l}.hook_attn_out` (the output of `attn.c_proj`, `[b, T, d]`: heads merged,
/// output projection and its bias applied, before the residual addition) keeps only each
/// vector's L2 norm. Then the token mask and the sequence lengths as figures.
fn part1_activations(model: &HookedModel, d: &Data, out: &mut Output) -> Result<Norms> {
    out.say("\n## Part 1: activations and mask");
    let acc = Rc::new(RefCell::new(Norms {
        names: vec![],
        shapes: vec![],
        norms: vec![],
        bool_indexed: vec![],
    }));
    let bool_mask = d.batch.mask.to_device(model.device()).to_kind(Kind::Bool); // [b, T]
    let sink = acc.clone();
    let hook = Hook::inspect("blocks.*.hook_attn_out", move |x, name| {
        // x: [b, T, d] -> norms [b, T], in float64 from the model's activations.
        let norms = x
            .to_kind(Kind::Double)
            .square()
            .sum_dim_intlist(-1, false, Kind::Double)
            .sqrt()
            .to_device(Device::Cpu);
        let mut s = sink.borrow_mut();
        if s.names.is_empty() {
            // Part 2's demonstration on the first layer's real tensor.
            s.bool_indexed = x.index(&[Some(&bool_mask)]).size();
        }
        s.names.push(name.to_string());
        s.shapes.push(x.size());
        s.norms.push(to_rows_f64(&norms)?);
        Ok(())
    });
    let hooks = [hook];
    let pb = common::progress::spinner(&format!(
        "forward pass of [{}, {}] tokens",
        d.batch.size(),
        d.batch.seq_len()
    ));
    let run = model.run(
        &d.batch,
        &RunOptions::default().hooks(&hooks).logits(LogitsAt::None),
    );
    pb.finish_and_clear();
    run?;
    drop(hooks);
    let acts = Rc::try_unwrap(acc)
        .ok()
        .context("the hook still holds the norms")?
        .into_inner();
    ensure!(
        acts.norms.len() == model.cfg.n_layers,
        "the hook saw {} of {} blocks",
        acts.norms.len(),
        model.cfg.n_layers
    );
    for (name, shape) in acts.names.iter().zip(&acts.shapes) {
        out.say(format!("{name} (attn.c_proj output): {shape:?}"));
    }
    out.say(format!(
        "kept per layer: the L2 norm of every vector, [{}, {}]",
        d.batch.size(),
        d.batch.seq_len()
    ));

    let (b, t) = (d.batch.size() as f64, d.batch.seq_len() as f64);
    // pcolor draws sequence 0 at the bottom: the image's top row is the last sequence.
    let img: Vec<Vec<f64>> = d
        .mask
        .iter()
        .rev()
        .map(|r| r.iter().map(|&m| f64::from(u8::from(m))).collect())
        .collect();
    let a = Panel::new("A) Token mask (white = real token, black = padding)")
        .heatmap(
            Heatmap::new(img, Colormap::Gray)
                .range(0.0, 1.0)
                .extent((0.0, t), (0.0, b))
                .label("attention_mask"),
        )
        .xlabel("Token position")
        .ylabel("Sequence in batch");
    let lengths: Vec<f64> = d.lengths.iter().map(|&l| l as f64).collect();
    let hist = Panel::new("B) Sequence lengths")
        .add(Series::histogram(&lengths, Bins::FreedmanDiaconis, GREY).with_edge(BLACK))
        .xlabel("Sequence length (tokens)")
        .ylabel("Count");
    let fig = Figure::grid(12.0, 3.5, 1, 3)
        .panel_at(a, 0, 0, 1, 2)
        .panel_at(hist, 0, 2, 1, 1);
    out.figure(&fig, "ch6_proj36_part1")?;
    let (lo, hi) = (
        d.lengths.iter().min().copied().unwrap_or(0),
        d.lengths.iter().max().copied().unwrap_or(0),
    );
    out.say(format!(
        "sequence lengths (mask row sums): {lo} to {hi} tokens, mean {:.2}",
        lengths.iter().sum::<f64>() / lengths.len() as f64
    ));
    Ok(acts)
}

/// The colour of layer `l` of `n` (plasma(l / n), as the book).
fn layer_color(l: usize, n: usize) -> Rgb {
    Colormap::Plasma.color(l as f64 / n as f64)
}

/// x ticks every few layers.
fn layer_ticks(n: usize) -> Vec<(f64, String)> {
    let step = if n > 12 { 5 } else { 1 };
    (0..n)
        .step_by(step)
        .map(|l| (l as f64, l.to_string()))
        .collect()
}

/// Part 2: per layer, the natural log of the norms of the valid tokens at positions >= 1,
/// as Freedman–Diaconis densities and as mean ± population standard deviation.
fn part2_laminar(a: &Norms, d: &Data, out: &mut Output) -> Result<()> {
    out.say("\n## Part 2: laminar magnitudes");
    let (b, t, dm) = (a.shapes[0][0], a.shapes[0][1], a.shapes[0][2]);
    out.say(format!(
        "boolean-mask indexing acts[token_mask] of [{b}, {t}, {dm}]: {:?} (one row per real \
         token)",
        a.bool_indexed
    ));
    out.say(format!(
        "integer indexing acts[attention_mask] (0/1 as row numbers) would gather rows 0 and 1: \
         [{b}, {t}, {t}, {dm}] (not computed: the wrong tensor, and {} floats)",
        thousands(b * t * t * dm)
    ));
    let n_layers = a.norms.len();
    let mut dens_panel = Panel::new("A) Distribution of attention adjustment magnitudes")
        .xlabel("Log vector norm")
        .ylabel("Density");
    let mut bar_panel = Panel::new("B) Average adjustment magnitude per layer")
        .xlabel("Transformer layer")
        .ylabel("Log vector norm (mean ± std)")
        .x_ticks(layer_ticks(n_layers))
        .xlim(-1.0, n_layers as f64);
    let mut rows = vec![];
    for (l, norms) in a.norms.iter().enumerate() {
        let logs: Vec<f64> = select_valid(norms, &d.mask, 1)
            .iter()
            .map(|v| v.ln())
            .collect();
        ensure!(
            logs.len() > 1,
            "layer {l}: only {} valid tokens after position 0",
            logs.len()
        );
        let n = logs.len() as f64;
        let mean = logs.iter().sum::<f64>() / n;
        let sd = (logs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let (edges, counts) = histogram_counts(&logs, &Bins::FreedmanDiaconis);
        let centres: Vec<f64> = edges.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect();
        let dens: Vec<f64> = counts
            .iter()
            .zip(edges.windows(2))
            .map(|(c, w)| c / (n * (w[1] - w[0])))
            .collect();
        let color = layer_color(l, n_layers);
        let label = format!("layer {l}");
        dens_panel = dens_panel.add(Series::line(
            centres,
            dens,
            Style::line(color).width(2).label(&label),
        ));
        bar_panel = bar_panel.add(Series::error_bars(
            vec![l as f64],
            vec![mean],
            vec![sd],
            Style::markers(color, Marker::Hexagon)
                .size(markersize_px(12.0, DPI))
                .label(&label),
        ));
        rows.push(vec![
            l.to_string(),
            logs.len().to_string(),
            mean.to_string(),
            sd.to_string(),
            (edges.len() - 1).to_string(),
        ]);
        out.say(format!(
            "layer {l}: {} vectors [{}, {dm}], log-norm mean {mean:.4}, std {sd:.4}",
            logs.len(),
            logs.len()
        ));
    }
    out.table(
        "part2_log_norms",
        &["layer", "n", "mean", "std", "fd_bins"],
        &rows,
    )?;
    // The layers' colours run from dark blue (layer 0) to yellow (last), as in panel B;
    // a legend of 36 lines would hide the curves, so only small models get one.
    if n_layers <= 8 {
        dens_panel = dens_panel.legend_at(LegendPos::UpperLeft);
    }
    let fig = Figure::grid(12.0, 3.5, 1, 2)
        .panel(dens_panel)
        .panel(bar_panel);
    out.figure(&fig, "ch6_proj36_part2")?;
    Ok(())
}

/// Part 3: `X[layer, t]` = log of the mean norm over the sequences valid at position t
/// (position 0 included): an image with percentile colour limits, and the sample sizes.
fn part3_positions(a: &Norms, d: &Data, out: &mut Output) -> Result<Vec<Vec<f64>>> {
    out.say("\n## Part 3: magnitudes by token position");
    let mut x = Vec::with_capacity(a.norms.len()); // [layers][T]
    let mut counts = vec![];
    for norms in &a.norms {
        let (means, c) = masked_position_means(norms, &d.mask);
        x.push(means.iter().map(|m| m.ln()).collect::<Vec<f64>>());
        counts = c;
    }
    let n_layers = x.len();
    let t = counts.len();
    let all: Vec<f64> = x.iter().flatten().copied().collect();
    let lim = percentiles(&all, &[5.0, 95.0])?;
    out.say(format!(
        "X: [{n_layers}, {t}] log of the mean norm per position; colour limits (5th, 95th \
         percentiles) {:.4}, {:.4}",
        lim[0], lim[1]
    ));
    let pos0: Vec<f64> = x.iter().map(|r| r[0]).collect();
    let rest: Vec<f64> = x
        .iter()
        .map(|r| r[1..].iter().sum::<f64>() / (t - 1) as f64)
        .collect();
    let gaps: Vec<String> = pos0
        .iter()
        .zip(&rest)
        .map(|(p, r)| format!("{:+.3}", p - r))
        .collect();
    out.say(format!(
        "position 0 minus the mean over positions 1..{} per layer: {}",
        t - 1,
        gaps.join(", ")
    ));

    // origin lower: the image's top row is the last layer
    let img: Vec<Vec<f64>> = x.iter().rev().cloned().collect();
    let panel = Panel::new("Attention adjustment magnitude")
        .heatmap(
            Heatmap::new(img, Colormap::Magma)
                .range(lim[0], lim[1])
                .extent((-0.5, t as f64 - 0.5), (-0.5, n_layers as f64 - 0.5))
                .label("Average log-norm"),
        )
        .xlabel("Token position")
        .ylabel("Layer");
    out.figure(&Figure::new(10.0, 4.0).panel(panel), "ch6_proj36_part3a")?;

    let pos: Vec<f64> = (0..t).map(|p| p as f64).collect();
    let cnt: Vec<f64> = counts.iter().map(|&c| c as f64).collect();
    let panel = Panel::new("Sample sizes")
        .add(Series::scatter(
            pos,
            cnt,
            Style::markers(LIGHT_RED, Marker::Hexagon)
                .size(markersize_px(8.0, DPI))
                .label("valid sequences"),
        ))
        .xlim(-1.0, t as f64 + 1.0)
        .xlabel("Token position")
        .ylabel("Number of sequences");
    out.figure(&Figure::new(10.0, 3.0).panel(panel), "ch6_proj36_part3b")?;
    out.say(format!(
        "valid sequences per position: {} at position 0, {} at the last ({})",
        counts[0],
        counts[t - 1],
        t - 1
    ));
    Ok(x)
}

/// Part 4: per layer, OLS of X[layer, 1..=n] on `[1, p]` with p = 0..n-1 (the intercept is
/// the fitted value at position 1).
fn part4_position_regression(x: &[Vec<f64>], n: usize, out: &mut Output) -> Result<()> {
    out.say(format!(
        "\n## Part 4: position regression (positions 1..={n})"
    ));
    let n_layers = x.len();
    let pos: Vec<f64> = (1..=n).map(|p| p as f64).collect();
    let mut lines = Panel::new("A) Magnitude by position")
        .xlabel("Token position")
        .ylabel("Log vector norm");
    let (mut b0, mut b1) = (vec![], vec![]);
    let mut rows = vec![];
    for (l, row) in x.iter().enumerate() {
        let y = &row[1..=n];
        let (i, s) = position_fit(y).with_context(|| format!("layer {l}: position regression"))?;
        b0.push(i);
        b1.push(s);
        rows.push(vec![l.to_string(), i.to_string(), s.to_string()]);
        lines = lines.add(Series::line(
            pos.clone(),
            y.to_vec(),
            Style::line(layer_color(l, n_layers))
                .width(1)
                .marker(Marker::Dot)
                .label(&format!("layer {l}")),
        ));
    }
    out.table(
        "part4_position_regression",
        &["layer", "beta0", "beta1"],
        &rows,
    )?;
    let layers: Vec<f64> = (0..n_layers).map(|l| l as f64).collect();
    let lvals = layers.clone();
    let b_panel = Panel::new("B) Intercepts")
        .add(Series::scatter_colored(
            layers.clone(),
            b0.clone(),
            Style::markers(BLACK, Marker::Square).size(markersize_px(7.0, DPI)),
            lvals.clone(),
            Colormap::Plasma,
        ))
        .xlabel("Transformer layer")
        .ylabel("β0 (log-norm at position 1)")
        .x_ticks(layer_ticks(n_layers));
    let c_panel = Panel::new("C) Slopes")
        .add(Series::hline(0.0, Style::line(BLACK).dashed().width(1)))
        .add(Series::scatter_colored(
            layers,
            b1.clone(),
            Style::markers(BLACK, Marker::Circle).size(markersize_px(7.0, DPI)),
            lvals,
            Colormap::Plasma,
        ))
        .xlabel("Transformer layer")
        .ylabel("β1 (per position)")
        .x_ticks(layer_ticks(n_layers));
    let fig = Figure::grid(12.0, 3.0, 1, 3)
        .panel(lines)
        .panel(b_panel)
        .panel(c_panel);
    out.figure(&fig, "ch6_proj36_part4")?;
    let neg = b1.iter().filter(|v| **v < 0.0).count();
    let ratio = b1
        .iter()
        .zip(&b0)
        .map(|(s, i)| (s / i).abs())
        .fold(0.0, f64::max);
    out.say(format!(
        "slopes: {neg} of {n_layers} layers negative; largest |β1 / β0| {ratio:.4}"
    ));
    Ok(())
}

/// Part 5: per layer, every consecutive triple of norms at each sequence's valid positions
/// 1..L-1, logs, and OLS of log n_t on log n_{t-2} and log n_{t-1}.
fn part5_autoregression(a: &Norms, d: &Data, out: &mut Output) -> Result<()> {
    out.say("\n## Part 5: autoregression on the previous norms");
    let mut coefs = vec![];
    let mut rows = vec![];
    let mut last_rows = 0;
    for (l, norms) in a.norms.iter().enumerate() {
        let data: Vec<[f64; 3]> = norms
            .iter()
            .zip(&d.lengths)
            .flat_map(|(row, &len)| triples(&row[1.min(len)..len]))
            .collect();
        let b = lag_fit(&data).with_context(|| {
            format!(
                "layer {l}: lag regression on {} triples (the texts need more than 3 tokens)",
                data.len()
            )
        })?;
        rows.push(vec![
            l.to_string(),
            data.len().to_string(),
            b[0].to_string(),
            b[1].to_string(),
            b[2].to_string(),
        ]);
        coefs.push(b);
        last_rows = data.len();
    }
    out.say(format!(
        "data of the last layer: [{last_rows}, 3] (log n_(t-2), log n_(t-1), log n_t)"
    ));
    out.table(
        "part5_lag_regression",
        &["layer", "n_rows", "b0", "b1_t_minus_2", "b2_t_minus_1"],
        &rows,
    )?;
    let n_layers = coefs.len();
    let x: Vec<f64> = (0..n_layers).map(|l| l as f64).collect();
    let panel = Panel::new("Impact of previous attention adjustment")
        .add(Series::hline(0.0, Style::line(BLACK).dashed().width(1)))
        .add(Series::line(
            x.clone(),
            coefs.iter().map(|b| b[1]).collect(),
            Style::line(GREEN)
                .width(1)
                .marker(Marker::Square)
                .size(markersize_px(7.0, DPI))
                .label("t-2"),
        ))
        .add(Series::line(
            x,
            coefs.iter().map(|b| b[2]).collect(),
            Style::line(BLUE)
                .width(1)
                .marker(Marker::Circle)
                .size(markersize_px(7.0, DPI))
                .label("t-1"),
        ))
        .xlabel("Transformer layer")
        .ylabel("β coefficient")
        .x_ticks(layer_ticks(n_layers))
        .legend_at(LegendPos::Best);
    out.figure(&Figure::new(10.0, 4.0).panel(panel), "ch6_proj36_part5")?;
    let pos = coefs.iter().filter(|b| b[1] > 0.0 && b[2] > 0.0).count();
    let ge = coefs.iter().filter(|b| b[2] >= b[1]).count();
    out.say(format!(
        "layers with both lags positive: {pos} of {n_layers}; with b(t-1) >= b(t-2): {ge} of \
         {n_layers}"
    ));
    Ok(())
}
