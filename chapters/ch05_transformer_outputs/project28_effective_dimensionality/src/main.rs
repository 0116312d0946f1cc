//! # Project 28 — Effective dimensionality of hidden layers
//!
//! **Question.** How many dimensions do a model's hidden states really use? For a
//! 1,024-token passage of *Alice's Adventures in Wonderland* and for the same tokens
//! randomly shuffled we measure, in every hidden state of GPT-2-XL, (a) the algebraic
//! rank of the column-centred token × dimension matrix and (b) its effective
//! dimensionality, the number of principal components that explain 95 % of the
//! variance; we also compare how confident the next-token predictions are for real and
//! shuffled text. Then the same with Pythia-2.8B (GPT-NeoX, 2,048 tokens) and with the
//! HTML of the gutenberg.org home page.
//!
//! **What to look for.**
//! - Part 1: real text gives many confident predictions (max log-softmax near 0);
//!   shuffled text shifts the distribution to more negative values.
//! - Part 2: a modest number of components explains 95 % of layer 10's variance.
//! - Part 3: the rank is at or near N − 1 = 1023 (centring removes one dimension) in
//!   most layers; the effective dimensionality is a small fraction of it, changes with
//!   depth, and differs between real and shuffled text.
//! - Part 4: Pythia's layer 0 (token embeddings only; positions enter via rotary inside
//!   attention) has rank = unique tokens − 1, identical for real and shuffled text.
//! - Part 5: HTML changes the laminar profile.
//!
//! Convention (kept for parity with the reference): the "effective dimensionality" is the
//! 0-based index of the first component whose cumulative % exceeds 95, i.e. the number
//! of components needed MINUS ONE.
//!
//! Run: `cargo run --release -p project28_effective_dimensionality` (downloads gpt2-xl,
//! 6.2 GB, pythia-2.8b, 11 GB, Gutenberg book 11 and the gutenberg.org home page once;
//! GPU recommended). `--quick` runs offline in seconds on the tiny random GPT-2 and
//! GPT-NeoX in `assets/` (16 dimensions, 64-token contexts, so ranks are capped at 16
//! and Part 2 uses the last hidden state when layer 10 does not exist) and on texts
//! written for this project; its numbers come from random weights and mean nothing.

mod dims;
mod quick_text;

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::model::hidden::layer_label;
use common::output::{fmt_floats, thousands, Output};
use common::plot::{Figure, LegendPos, Marker, Panel, Series, Style};
use common::{HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use dims::{fd_density, layer_dims, max_log_softmax, shuffled, to_array, unique_count, LayerDims};
use rand_distr::{Distribution, Normal};
use std::path::PathBuf;
use tch::Tensor;

const PROJECT: &str = "project28_effective_dimensionality";
/// *Alice's Adventures in Wonderland* on Project Gutenberg.
const ALICE: u32 = 11;
/// Part 5's page.
const HTML_URL: &str = "https://www.gutenberg.org/";
/// The hidden state of Part 2.
const PART2_LAYER: usize = 10;

const BLUE: (u8, u8, u8) = (31, 119, 180);
const RED: (u8, u8, u8) = (214, 39, 40);
const LIGHT_RED: (u8, u8, u8) = (240, 128, 128);
const LIGHT_GREEN: (u8, u8, u8) = (110, 200, 110);
const GREY: (u8, u8, u8) = (128, 128, 128);

/// Rank and effective dimensionality of the hidden states of GPT-2-XL and Pythia-2.8B
/// for real, shuffled and HTML text.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Part 4's model (the book: EleutherAI/pythia-2.8b; tiny-gpt-neox under --quick).
    /// `--model` never changes it.
    #[arg(long)]
    pythia: Option<String>,
    /// Skip Part 4 (Pythia-2.8B: 11 GB of weights, tens of minutes on 2 CPU cores).
    #[arg(long)]
    skip_pythia: bool,
    /// Cap on the tokens per sequence (the book: each model's context, 1,024 for
    /// gpt2-xl and 2,048 for Pythia; time grows with it).
    #[arg(long)]
    max_seq_len: Option<usize>,
    /// A local copy of pg11.txt instead of downloading it.
    #[arg(long)]
    book_file: Option<PathBuf>,
    /// A local copy of the gutenberg.org home page HTML instead of downloading it.
    #[arg(long)]
    html_file: Option<PathBuf>,
}

/// One text and what to call it.
struct Text {
    label: String,
    text: String,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;

    // Fail fast: both models and both texts are found before anything is written.
    let main_id = args.common.model_or("gpt2-xl");
    let pythia_id = match (&args.pythia, args.common.quick) {
        (Some(m), _) => m.clone(),
        (None, true) => common::assets_dir()
            .join("models/tiny-gpt-neox")
            .display()
            .to_string(),
        (None, false) => "EleutherAI/pythia-2.8b".to_string(),
    };
    let mut ids = vec![main_id.clone()];
    if !args.skip_pythia {
        ids.push(pythia_id.clone());
    }
    let files = args.common.resolve_models(&ids)?;
    for (id, f) in ids.iter().zip(&files) {
        let cfg = common::model::ModelConfig::from_file(&f.config)?;
        if cfg.arch.is_encoder() {
            bail!(
                "{id} is a masked-language encoder ({}): this project needs a causal LM \
                 (next-token logits and hidden states); pass GPT-2, GPT-Neo or GPT-NeoX",
                cfg.model_type
            );
        }
    }
    let book = load_text(&args, false)?;
    let html = load_text(&args, true)?;

    let mut out = args.common.output(PROJECT)?;
    if args.common.quick {
        out.say(
            "--quick: tiny random GPT-2 and GPT-NeoX from assets/ (16 dimensions, 64-token \
             contexts: ranks cannot exceed 16, and Part 2 uses the last hidden state since \
             the tiny models have no layer 10) and texts written for this project; same \
             method, smaller sizes: its numbers mean nothing.",
        );
    }

    part0_concept(args.common.seed, &mut out)?;

    let model = args.common.load_model(&main_id)?;
    describe(&model, &mut out);
    let t = std::time::Instant::now();
    analyse(
        &model,
        &book,
        "",
        args.max_seq_len,
        args.common.seed,
        &mut out,
    )?;
    out.say(format!(
        "{}: Parts 1-3 took {:.1} s",
        model.id,
        t.elapsed().as_secs_f64()
    ));

    let model = if args.skip_pythia {
        out.say("\n# Part 4 skipped (--skip-pythia)");
        model
    } else {
        // One big model in memory at a time: gpt2-xl (6.4 GB peak) is dropped while
        // Pythia-2.8B (11.2 GB peak) runs, and loaded again for Part 5.
        drop(model);
        out.say("\n# Part 4: repeat with Pythia (GPT-NeoX)");
        let pythia = args.common.load_model(&pythia_id)?;
        describe(&pythia, &mut out);
        analyse(
            &pythia,
            &book,
            "part4_",
            args.max_seq_len,
            args.common.seed,
            &mut out,
        )?;
        drop(pythia);
        args.common.load_model(&main_id)?
    };

    out.say(format!("\n# Part 5: repeat with HTML ({})", html.label));
    analyse(
        &model,
        &html,
        "part5_",
        args.max_seq_len,
        args.common.seed,
        &mut out,
    )?;
    out.finish()
}

fn describe(model: &HookedModel, out: &mut Output) {
    out.say(format!(
        "{}: {} parameters, {} blocks, d_model = {}, context = {}",
        model.id,
        thousands(model.n_params()),
        model.cfg.n_layers,
        model.cfg.d_model,
        model.cfg.n_ctx
    ));
}

/// The book or the HTML page as served, a local copy, or the project's own text under
/// `--quick`.
fn load_text(args: &Args, html: bool) -> Result<Text> {
    let file = if html {
        &args.html_file
    } else {
        &args.book_file
    };
    if let Some(p) = file {
        let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        return Ok(Text {
            label: p.display().to_string(),
            text: String::from_utf8_lossy(&bytes).into_owned(),
        });
    }
    if args.common.quick {
        return Ok(Text {
            label: if html {
                "the quick HTML page"
            } else {
                "the quick passage"
            }
            .to_string(),
            text: if html {
                quick_text::HTML
            } else {
                quick_text::TEXT
            }
            .to_string(),
        });
    }
    if html {
        let pb = common::progress::spinner("fetching the gutenberg.org home page");
        let text = common::data::web_page(HTML_URL);
        pb.finish_and_clear();
        Ok(Text {
            label: format!("the HTML of {HTML_URL}"),
            text: text.with_context(|| {
                format!("Part 5 needs {HTML_URL}: run once online, or pass --html-file")
            })?,
        })
    } else {
        let pb = common::progress::spinner("fetching Alice in Wonderland (Gutenberg 11)");
        let text = common::data::gutenberg_raw(ALICE);
        pb.finish_and_clear();
        Ok(Text {
            label: format!("Gutenberg book {ALICE} (Alice's Adventures in Wonderland)"),
            text: text.with_context(|| {
                format!("this project needs Gutenberg book {ALICE}: run once online or pass --book-file")
            })?,
        })
    }
}

/// Part 0: 50 points on the identity line and the same with a little noise.
fn part0_concept(seed: u64, out: &mut Output) -> Result<()> {
    out.say("\n## Part 0: the concept of effective dimensionality");
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    let uni = rand_distr::Uniform::new(0.0, 5.0)?;
    let noise = Normal::new(0.0, 0.07)?;
    let x: Vec<f64> = (0..50).map(|_| uni.sample(&mut rng)).collect();
    let y: Vec<f64> = x.iter().map(|v| v + noise.sample(&mut rng)).collect();
    let panel = |title: &str, yv: Vec<f64>| {
        Panel::new(title)
            .xlabel("Dimension 1")
            .ylabel("Dimension 2")
            .xlim(0.0, 5.0)
            .ylim(0.0, 5.0)
            .add(Series::line(
                vec![0.0, 5.0],
                vec![0.0, 5.0],
                Style::line(GREY),
            ))
            .add(Series::scatter(
                x.clone(),
                yv,
                Style::markers(BLUE, Marker::Circle).size(5).edge((0, 0, 0)),
            ))
    };
    let fig = Figure::grid(10.0, 5.0, 1, 2)
        .panel(panel("A) 1-dimensional data", x.clone()))
        .panel(panel("B) 1 effective dimension", y));
    out.figure(&fig, "part0")?;
    Ok(())
}

/// Forward one sequence: every hidden state `[T, d]` (f32, CPU) and the max log-softmax
/// at every position.
fn forward(model: &HookedModel, ids: &[u32]) -> Result<(Vec<Tensor>, Vec<f64>)> {
    let batch = model.batch_from_ids(&[ids.to_vec()], PaddingSide::Right)?;
    let names = model.hidden_state_names();
    let mut run = model.run(
        &batch,
        &RunOptions::default()
            .cache(Names::list(&names))
            .logits(LogitsAt::All)
            .cache_on(tch::Device::Cpu),
    )?;
    let logits = run.logits.take().context("no logits")?;
    let mls = max_log_softmax(&logits)?;
    let h = model
        .take_hidden_states(&mut run.cache)?
        .into_iter()
        .map(|t| {
            t.to_device(tch::Device::Cpu)
                .to_kind(tch::Kind::Float)
                .squeeze_dim(0)
        })
        .collect();
    Ok((h, mls))
}

/// Parts 1-3 for one model and one text; `prefix` names the figures of Parts 4 and 5.
fn analyse(
    model: &HookedModel,
    text: &Text,
    prefix: &str,
    cap: Option<usize>,
    seed: u64,
    out: &mut Output,
) -> Result<()> {
    let tag = if prefix.is_empty() {
        "main".to_string()
    } else {
        prefix.trim_end_matches('_').to_string()
    };
    let all = model.tokenizer.encode(&text.text)?;
    let max_len = cap.map_or(model.cfg.n_ctx, |c| c.min(model.cfg.n_ctx));
    let start = all.len() / 2;
    let real: Vec<u32> = all[start..(start + max_len).min(all.len())].to_vec();
    ensure!(
        real.len() >= 3,
        "{} has only {} tokens: the middle slice needs at least 3",
        text.label,
        all.len()
    );
    let shuf = shuffled(&real, seed);
    out.say(format!(
        "\n[{tag}] {}: {} tokens; slice {start}..{} ({} tokens, max_seq_len {max_len})",
        text.label,
        all.len(),
        start + real.len(),
        real.len()
    ));
    out.say(format!(
        "[{tag}] real passage: {:?}",
        model.tokenizer.decode(&real)?
    ));
    out.say(format!(
        "[{tag}] shuffled passage: {:?}",
        model.tokenizer.decode(&shuf)?
    ));
    out.say(format!("[{tag}] unique tokens: {}", unique_count(&real)));
    out.table(
        &format!("{prefix}tokens"),
        &["position", "real", "shuffled"],
        &real
            .iter()
            .zip(&shuf)
            .enumerate()
            .map(|(i, (a, b))| vec![i.to_string(), a.to_string(), b.to_string()])
            .collect::<Vec<_>>(),
    )?;

    out.say(format!(
        "[{tag}] work saved: only the {} hidden-state hook points are cached (of {} hook \
         points); logits are kept at every position because Part 1 uses them all",
        model.hidden_state_names().len(),
        model.hook_names().len()
    ));
    let (h_real, mls_real) = forward(model, &real)?;
    let (h_shuf, mls_shuf) = forward(model, &shuf)?;
    out.say(format!(
        "[{tag}] hidden states: {} of shape {:?}",
        h_real.len(),
        h_real[0].size()
    ));
    part1_logits(&mls_real, &mls_shuf, prefix, &tag, model, out)?;
    part2_one_layer(&h_real, prefix, &tag, out)?;
    part3_laminar(&h_real, &h_shuf, prefix, &tag, real.len(), out)
}

/// Part 1: the distribution of the maximum log-softmax per position.
fn part1_logits(
    real: &[f64],
    shuf: &[f64],
    prefix: &str,
    tag: &str,
    model: &HookedModel,
    out: &mut Output,
) -> Result<()> {
    out.say(format!(
        "\n## Part 1 [{tag}]: logits from real and shuffled sequences"
    ));
    out.table(
        &format!("{prefix}max_log_softmax"),
        &["position", "real", "shuffled"],
        &real
            .iter()
            .zip(shuf)
            .enumerate()
            .map(|(i, (a, b))| vec![i.to_string(), format!("{a:.8}"), format!("{b:.8}")])
            .collect::<Vec<_>>(),
    )?;
    let med = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    };
    out.say(format!(
        "[{tag}] median max log-softmax: real {:.3}, shuffled {:.3} (vocabulary {}; lower bound -ln V = {:.3})",
        med(real),
        med(shuf),
        model.cfg.vocab_size,
        -(model.cfg.vocab_size as f64).ln()
    ));
    let (xr, dr, _) = fd_density(real);
    let (xs, ds, _) = fd_density(shuf);
    let p = Panel::new("Maximum token probabilities")
        .xlabel("Max log softmax")
        .ylabel("Density")
        .add(Series::line(
            xr,
            dr,
            Style::line(BLUE)
                .marker(Marker::Square)
                .size(5)
                .label("Real"),
        ))
        .add(Series::line(
            xs,
            ds,
            Style::line(RED)
                .marker(Marker::Circle)
                .size(5)
                .label("Shuffled"),
        ))
        .legend();
    out.figure(&Figure::new(8.0, 4.0).panel(p), &format!("{prefix}part1"))?;
    Ok(())
}

/// Part 2: singular-value spectrum of one column-centred hidden state (layer 10; the
/// last one on a model with fewer layers).
fn part2_one_layer(h: &[Tensor], prefix: &str, tag: &str, out: &mut Output) -> Result<()> {
    let k = PART2_LAYER.min(h.len() - 1);
    out.say(format!(
        "\n## Part 2 [{tag}]: effective dimensionality in hidden state {k}"
    ));
    if k != PART2_LAYER {
        out.say(format!(
            "[{tag}] the model has only {} hidden states: Part 2 uses hidden state {k} instead of {PART2_LAYER}",
            h.len()
        ));
    }
    let d = layer_dims(&to_array(&h[k])?)?;
    let pct: Vec<f64> = d.spectrum.percent.to_vec();
    let cum: Vec<f64> = d.spectrum.cumulative_percent.to_vec();
    let idx: Vec<f64> = (0..pct.len()).map(|i| i as f64).collect();
    let mark = 50.min(cum.len() - 1);
    out.say(format!(
        "[{tag}] {} (out of {}) components explains {:.2}% variability \
         (0-based index, the reference's convention: {} components are needed)",
        d.eff,
        pct.len(),
        cum[d.eff],
        d.eff + 1
    ));
    out.say(format!(
        "[{tag}] percent variance of the first 5 components: {}",
        fmt_floats(&pct[..pct.len().min(5)], 3)
    ));
    let a = Panel::new("A) Singular values spectrum")
        .xlabel("Component index")
        .ylabel("Percent variance explained")
        .xlim(-2.0, 60.0)
        .add(Series::scatter(
            idx.clone(),
            pct,
            Style::markers(BLUE, Marker::Square).size(5),
        ));
    let b = Panel::new("B) Cumulative variance explained")
        .xlabel("Component index")
        .ylabel("Cumulative % variance")
        .xlim(-2.0, 60.0)
        .add(Series::scatter(
            idx,
            cum.clone(),
            Style::markers(BLUE, Marker::Square).size(5),
        ))
        .add(Series::vline(mark as f64, Style::line(GREY).dashed()))
        .add(Series::hline(cum[mark], Style::line(GREY).dashed()));
    let fig = Figure::grid(12.0, 4.5, 1, 2)
        .panel(a)
        .panel(b)
        .suptitle(&format!(
            "Hidden state {k} ({} tokens x {} dimensions, column-centred)",
            h[k].size()[0],
            h[k].size()[1]
        ));
    out.figure(&fig, &format!("{prefix}part2"))?;
    Ok(())
}

/// Part 3: rank and effective dimensionality of every hidden state, real vs shuffled.
fn part3_laminar(
    h_real: &[Tensor],
    h_shuf: &[Tensor],
    prefix: &str,
    tag: &str,
    n_tokens: usize,
    out: &mut Output,
) -> Result<()> {
    out.say(format!(
        "\n## Part 3 [{tag}]: laminar profile of rank and effective dimensionality"
    ));
    let n = h_real.len();
    let pb = common::progress::bar(2 * n as u64, "SVDs of the hidden states");
    let mut real: Vec<LayerDims> = Vec::new();
    let mut shuf: Vec<LayerDims> = Vec::new();
    for k in 0..n {
        real.push(layer_dims(&to_array(&h_real[k])?)?);
        pb.inc(1);
        shuf.push(layer_dims(&to_array(&h_shuf[k])?)?);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let d = h_real[0].size()[1] as usize;
    out.say(format!(
        "[{tag}] rank cannot exceed min(N - 1, d) = {}",
        (n_tokens - 1).min(d)
    ));
    let rows: Vec<Vec<String>> = (0..n)
        .map(|k| {
            vec![
                k.to_string(),
                layer_label(k),
                shuf[k].rank.to_string(),
                real[k].rank.to_string(),
                shuf[k].eff.to_string(),
                real[k].eff.to_string(),
            ]
        })
        .collect();
    out.say(format!(
        "[{tag}] layer: rank shuffled, rank real | effective shuffled, real"
    ));
    for r in &rows {
        out.say(format!(
            "[{tag}]   {:>3} {:>5}: {:>5} {:>5} | {:>5} {:>5}",
            r[0], r[1], r[2], r[3], r[4], r[5]
        ));
    }
    out.table(
        &format!("{prefix}ranks"),
        &[
            "hidden_state",
            "label",
            "rank_shuffled",
            "rank_real",
            "eff_shuffled",
            "eff_real",
        ],
        &rows,
    )?;
    let x: Vec<f64> = (0..n).map(|k| k as f64).collect();
    // integer ticks on hidden-state indices (every 4th of gpt2-xl's 49)
    let step = n.div_ceil(13).max(1);
    let ticks_x: Vec<(f64, String)> = (0..n)
        .step_by(step)
        .map(|k| (k as f64, k.to_string()))
        .collect();
    let get = |v: &[LayerDims], f: fn(&LayerDims) -> f64| v.iter().map(f).collect::<Vec<f64>>();
    let rmax = real.iter().chain(&shuf).map(|d| d.rank).max().unwrap_or(1) as f64;
    let a = Panel::new("Maximum possible dimensionality")
        .xlabel("Hidden layer")
        .ylabel("Matrix rank")
        .xlim(-1.0, n as f64)
        .ylim(0.0, 1.08 * rmax)
        .x_ticks(ticks_x.clone())
        .add(Series::scatter(
            x.clone(),
            get(&shuf, |d| d.rank as f64),
            Style::markers(LIGHT_RED, Marker::Square)
                .size(7)
                .edge((0, 0, 0))
                .label("Shuffled"),
        ))
        .add(Series::scatter(
            x.clone(),
            get(&real, |d| d.rank as f64),
            Style::markers(LIGHT_GREEN, Marker::Circle)
                .size(6)
                .edge((0, 0, 0))
                .label("Real"),
        ))
        .legend();
    out.figure(&Figure::new(9.0, 4.0).panel(a), &format!("{prefix}part3a"))?;

    // The right axis (% of the rank) is drawn on the left axis' scale: percent p sits at
    // p / 100 * ymax, and the right-hand tick labels read in percent.
    let eff_s = get(&shuf, |d| d.eff as f64);
    let eff_r = get(&real, |d| d.eff as f64);
    let pct_s: Vec<f64> = shuf
        .iter()
        .map(|d| 100.0 * d.eff as f64 / d.rank.max(1) as f64)
        .collect();
    let pct_r: Vec<f64> = real
        .iter()
        .map(|d| 100.0 * d.eff as f64 / d.rank.max(1) as f64)
        .collect();
    let pmax = pct_s.iter().chain(&pct_r).copied().fold(1.0, f64::max);
    let emax = eff_s.iter().chain(&eff_r).copied().fold(1.0, f64::max);
    let ymax = 1.1 * emax;
    let ptop = (1.1 * pmax).clamp(1.0, 100.0);
    let scale = ymax / ptop;
    let ticks: Vec<(f64, String)> = (0..=5)
        .map(|i| {
            let p = ptop * i as f64 / 5.0;
            (p * scale, format!("{p:.1}"))
        })
        .collect();
    let b = Panel::new("Effective dimensionality")
        .xlabel("Hidden layer")
        .ylabel("Components for 95% variance (0-based)")
        .xlim(-1.0, n as f64)
        .ylim(0.0, ymax)
        .x_ticks(ticks_x)
        .grid()
        .add(Series::scatter(
            x.clone(),
            eff_s,
            Style::markers(LIGHT_RED, Marker::Square)
                .size(7)
                .edge((0, 0, 0))
                .label("Shuffled"),
        ))
        .add(Series::scatter(
            x.clone(),
            eff_r,
            Style::markers(LIGHT_GREEN, Marker::Circle)
                .size(6)
                .edge((0, 0, 0))
                .label("Real"),
        ))
        .add(Series::line(
            x.clone(),
            pct_s.iter().map(|p| p * scale).collect(),
            Style::line(RED).label("Shuffled, % of rank (right)"),
        ))
        .add(Series::line(
            x,
            pct_r.iter().map(|p| p * scale).collect(),
            Style::line((0, 128, 0)).label("Real, % of rank (right)"),
        ))
        .y2_ticks(ticks)
        .y2_label("% max dimensionality")
        .legend_at(LegendPos::LowerLeft);
    out.figure(&Figure::new(9.0, 4.5).panel(b), &format!("{prefix}part3b"))?;
    out.say(format!(
        "[{tag}] effective dimensionality (0-based) real {} / shuffled {}",
        fmt_floats(&get(&real, |d| d.eff as f64), 0),
        fmt_floats(&get(&shuf, |d| d.eff as f64), 0)
    ));
    Ok(())
}
