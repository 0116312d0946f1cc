//! # Project 21 — Predict token position with linear and logistic regressions
//!
//! **Question.** Does the per-token next-token loss carry information about *where* in a
//! sequence a token is? We compute GPT-2's loss for each of the first tokens of 500
//! HellaSwag contexts, turn the losses into a regression dataset (loss → position 0–4),
//! and try to recover the position from the loss alone: first with ordinary least
//! squares, then with a multinomial logistic regression, evaluated on the training data
//! and on 500 held-out contexts.
//!
//! **What to look for.**
//! - Part 1: the loss depends strongly on the position, because HellaSwag's contexts are
//!   stereotyped ("A man is ...", "How to ..."): some positions are reliably cheap (" is"
//!   after "A man"), others expensive (content words; the first prediction, made from a
//!   single token). The per-position histograms differ in location and width but overlap.
//! - Part 2: the OLS summary shows a significant but weak relation (small R², yet a large
//!   |t| because n = 2,500); the slope's sign says whether losses fall or rise with
//!   position in this sample. The summary and a plain least-squares solve agree.
//! - Part 3: the linear predictions are squeezed into a narrow band around the mean
//!   position (≈ 2): a line through five overlapping clouds cannot separate them.
//! - Parts 4–5: the five slopes, and the five intercepts, each sum to ~0; high-loss
//!   positions get positive slopes, low-loss ones negative. The classifier puts nearly
//!   everything into two or three classes: those get high accuracy, the rest near 0%,
//!   overall modestly above the 20% chance line.
//! - Part 6: on held-out contexts the accuracies and the confusion matrix look like the
//!   training ones — ten parameters fitted on 2,500 points do not overfit.
//!
//! Run: `cargo run --release -p project21_position_regression` (downloads `gpt2` and the
//! HellaSwag validation parquet once). `--quick` runs offline on the tiny random GPT-2 and
//! on 60 contexts written for the project (30 train, 30 held out): its losses come from
//! random weights and mean nothing; the pipeline and the methods are the same.

mod quick_text;

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::device::{describe, to_rows_f64, to_vec_f64};
use common::ml::logistic::{ConfusionMatrix, LogisticL2};
use common::ml::regression::{ols1, Ols};
use common::output::{fmt_floats, thousands, Output};
use common::plot::BLACK;
use common::plot::{
    cycle_color, density_histogram, rgb_f, Bins, Colormap, Figure, Heatmap, LegendPos, Marker,
    Panel, Rgb, Series, Style,
};
use common::{HookedModel, LogitsAt, PaddingSide, RunOptions};
use ndarray::{Array1, Array2};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use std::path::PathBuf;
use std::time::Instant;
use tch::{Kind, Tensor};

const PROJECT: &str = "project21_position_regression";
/// Tokens per sequence: 6 tokens give 5 next-token predictions, at positions 0..=4.
const SEQLEN: usize = 6;
/// Number of positions with a loss = number of classes of Parts 4–6.
const NPOS: usize = SEQLEN - 1;
/// Standard deviation of the horizontal jitter in the scatter plots (display only).
const JITTER_SD: f64 = 0.03;
/// The row of the training batch Part 1 prints decoded.
const SHOW_ROW: usize = 13;

const LIGHT_BLUE: Rgb = (173, 216, 230); // matplotlib 'lightblue'

/// Predict token position from GPT-2's per-token loss (OLS and multinomial logistic
/// regression) on HellaSwag contexts.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Contexts per batch: training rows 0..N, held-out rows test-start..test-start+N
    /// (--quick: 30 and rows 30..60 of the project's own contexts).
    #[arg(long, default_value_t = 500)]
    num_samples: usize,
    /// First HellaSwag validation row of the held-out batch of Part 6.
    #[arg(long, default_value_t = 1000)]
    test_start: usize,
    /// Sequences per forward pass: the log-softmax is taken on a [chunk, 5, vocab] block
    /// at a time instead of on all 600 MB of logits at once.
    #[arg(long, default_value_t = 50)]
    chunk: usize,
    /// A local copy of HellaSwag's validation split (the hub's parquet or the original
    /// hellaswag_val.jsonl, same order) instead of the hub download.
    #[arg(long)]
    hellaswag_file: Option<PathBuf>,
}

/// One batch of contexts cut to their first 6 tokens.
struct TokenBatch {
    /// Which batch ("train" / "test").
    name: &'static str,
    /// The dataset row of each sequence.
    rows: Vec<usize>,
    /// `[n, 6]` token ids.
    ids: Vec<[u32; SEQLEN]>,
}

/// The regression dataset made from one batch.
struct LossData {
    /// `L[s, t]`: loss of predicting token t+1 of sequence s from tokens 0..=t.
    loss: Vec<[f64; NPOS]>,
    /// `L` flattened row-major: sequence 0's five losses, then sequence 1's, ...
    flat_loss: Vec<f64>,
    /// `P` flattened the same way: 0, 1, 2, 3, 4, 0, 1, ...
    flat_pos: Vec<usize>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    ensure!(args.chunk >= 1, "--chunk must be at least 1");
    ensure!(args.num_samples >= 2, "--num-samples must be at least 2");
    let quick = args.common.quick;

    // Fail fast: the model, the data and both token batches are resolved before the
    // output folder is created or Part 1 writes anything.
    let model = args.common.load_model(&args.common.model_or("gpt2"))?;
    if model.cfg.arch.is_encoder() || !model.has_lm_head() {
        bail!(
            "{} is not a causal language model with an LM head: this project needs \
             next-token predictions (e.g. --model gpt2, gpt2-medium, EleutherAI/gpt-neo-125M)",
            model.id
        );
    }
    let (contexts, source, n, test_start) = if quick {
        // --quick: the project's own contexts; same method, smaller batches.
        let c = quick_text::contexts();
        let n = quick_text::QUICK_ROWS;
        (
            c,
            "the project's quick contexts (src/quick_contexts.txt)".to_string(),
            n,
            n,
        )
    } else {
        let items = match &args.hellaswag_file {
            Some(p) => common::data::hf_datasets::hellaswag_from_file(p)?,
            None => common::data::hellaswag_validation()?,
        };
        let c = items.into_iter().map(|it| it.ctx_a).collect();
        (
            c,
            "HellaSwag validation, field ctx_a".to_string(),
            args.num_samples,
            args.test_start,
        )
    };
    ensure!(
        test_start >= n,
        "--test-start {test_start} overlaps the training rows 0..{n}: the held-out rows must be new"
    );
    let train = first_tokens(&model, &contexts, 0, n, "train")?;
    let test = first_tokens(&model, &contexts, test_start, n, "test")?;

    let mut out = args.common.output(PROJECT)?;
    if quick {
        out.say(
            "--quick: tiny random GPT-2 from assets/ and the project's own 60 contexts (30 train, \
             30 held out); the losses come from random weights, so every number below only \
             exercises the code.",
        );
    }
    out.say(format!(
        "model {} ({} parameters) on {}; data: {source} ({} rows)",
        model.id,
        thousands(model.n_params()),
        describe(model.device()),
        thousands(contexts.len() as i64)
    ));
    let mut rng = StdRng::seed_from_u64(args.common.seed);
    let started = Instant::now();

    let data = part1_dataset(&model, &train, args.chunk, &mut rng, &mut out)?;
    let ols = part2_linear_regression(&data, &mut out)?;
    part3_reconstruct_position(&data, &ols, &mut rng, &mut out)?;
    let clf = part4_logistic_regression(&data, &mut out)?;
    let train_acc = part5_train_predictions(&data, &clf, &mut out)?;
    part6_held_out(&model, &test, args.chunk, &clf, train_acc, &mut out)?;

    out.say(format!(
        "\nwork saved: logits only at the 5 positions whose loss is used (LogitsAt::Positions): \
         {} of {} unembedding rows skipped in the two batches ({:.1}%); log-softmax on chunks of \
         {} sequences: at most {:.0} MB of logits at a time instead of {:.0} MB for a whole batch",
        thousands(2 * n as i64),
        thousands((2 * n * SEQLEN) as i64),
        100.0 / SEQLEN as f64,
        args.chunk.min(n),
        logits_mb(args.chunk.min(n), NPOS, model.cfg.vocab_size),
        logits_mb(n, SEQLEN, model.cfg.vocab_size),
    ));
    out.say(format!(
        "total analysis time {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    out.finish()
}

/// Size in MB of float32 logits for `seqs` sequences at `pos` positions.
fn logits_mb(seqs: usize, pos: usize, vocab: usize) -> f64 {
    (seqs * pos * vocab * 4) as f64 / 1e6
}

/// The first 6 tokens of rows `start..start+n` of `texts` (no special tokens). A context
/// shorter than 6 tokens stops the run with its row number: the book assumes there is
/// none, and skipping one would change which rows form the batch.
fn first_tokens(
    model: &HookedModel,
    texts: &[String],
    start: usize,
    n: usize,
    name: &'static str,
) -> Result<TokenBatch> {
    ensure!(
        start + n <= texts.len(),
        "the {name} batch needs rows {start}..{} but the data has {} rows",
        start + n,
        texts.len()
    );
    let mut ids = Vec::with_capacity(n);
    for (row, text) in texts.iter().enumerate().skip(start).take(n) {
        let toks = model.tokenizer.encode(text)?;
        let Some(first) = toks.get(..SEQLEN) else {
            bail!(
                "row {row} of the {name} batch has only {} tokens (fewer than {SEQLEN}): {text:?}",
                toks.len()
            );
        };
        ids.push(<[u32; SEQLEN]>::try_from(first)?);
    }
    Ok(TokenBatch {
        name,
        rows: (start..start + n).collect(),
        ids,
    })
}

/// `L[s, t] = -log_softmax(logits[s, t])[ids[s, t+1]]` for t = 0..=4, in chunks of
/// `chunk` sequences. Logits are computed only at positions 0..=4 (position 5's
/// prediction has no target in the sequence).
fn token_losses(model: &HookedModel, batch: &TokenBatch, chunk: usize) -> Result<Vec<[f64; NPOS]>> {
    let positions: Vec<i64> = (0..NPOS as i64).collect();
    let chunks: Vec<&[[u32; SEQLEN]]> = batch.ids.chunks(chunk).collect();
    let pb = common::progress::bar(
        chunks.len() as u64,
        &format!("{} forward passes", batch.name),
    );
    let mut losses = Vec::with_capacity(batch.ids.len());
    for c in chunks {
        let seqs: Vec<Vec<u32>> = c.iter().map(|s| s.to_vec()).collect();
        let b = model.batch_from_ids(&seqs, PaddingSide::Right)?;
        let run = model.run(
            &b,
            &RunOptions::default().logits(LogitsAt::Positions(positions.clone())),
        )?;
        let logits = run.logits.context("the run returned no logits")?; // [b, 5, vocab]
        let logp = logits.to_kind(Kind::Float).log_softmax(-1, Kind::Float);
        // the target of position t is the NEXT token, t+1
        let targets = b.ids.narrow(1, 1, NPOS as i64).to_device(logp.device());
        let nll = -logp
            .gather(-1, &targets.unsqueeze(-1), false)
            .squeeze_dim(-1); // [b, 5]
        for r in to_rows_f64(&nll)? {
            losses.push(<[f64; NPOS]>::try_from(r.as_slice())?);
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(losses)
}

/// Flatten `L` and `P` row-major into two aligned columns of length n·5.
fn flatten(loss: Vec<[f64; NPOS]>) -> LossData {
    let flat_loss = loss.iter().flatten().copied().collect();
    let flat_pos = (0..loss.len()).flat_map(|_| 0..NPOS).collect();
    LossData {
        loss,
        flat_loss,
        flat_pos,
    }
}

/// The batch's losses as a regression dataset, with its token table and shapes printed.
fn build_dataset(
    model: &HookedModel,
    batch: &TokenBatch,
    chunk: usize,
    table: &str,
    out: &mut Output,
) -> Result<LossData> {
    let n = batch.ids.len();
    out.say(format!("{} batch: token ids [{n}, {SEQLEN}]", batch.name));
    let mut rows = Vec::with_capacity(n);
    for (row, ids) in batch.rows.iter().zip(&batch.ids) {
        let mut r = vec![row.to_string()];
        r.extend(ids.iter().map(|t| t.to_string()));
        r.push(model.tokenizer.decode(ids)?);
        rows.push(r);
    }
    out.table(
        &format!("{table}_batch"),
        &[
            "row", "tok0", "tok1", "tok2", "tok3", "tok4", "tok5", "text",
        ],
        &rows,
    )?;

    let t = Instant::now();
    let loss = token_losses(model, batch, chunk)?;
    out.say(format!(
        "forward passes: logits [{n}, {NPOS}, {}], positions 0-4 of {SEQLEN} (the last \
         position's prediction has no target), in chunks of {} sequences: {:.1} s",
        model.cfg.vocab_size,
        chunk.min(n),
        t.elapsed().as_secs_f64()
    ));
    let data = flatten(loss);
    out.say(format!(
        "loss matrix L [{n}, {NPOS}], position matrix P [{n}, {NPOS}]; flattened: loss ({},), \
         position ({},)",
        data.flat_loss.len(),
        data.flat_pos.len()
    ));
    let mut flat_rows = Vec::with_capacity(data.flat_loss.len());
    for (i, (&l, &p)) in data.flat_loss.iter().zip(&data.flat_pos).enumerate() {
        let s = i / NPOS;
        flat_rows.push(vec![
            i.to_string(),
            batch.rows[s].to_string(),
            p.to_string(),
            batch.ids[s][p + 1].to_string(),
            format!("{l}"),
        ]);
    }
    out.table(
        &format!("{table}_flat"),
        &["i", "row", "position", "target_token", "loss"],
        &flat_rows,
    )?;
    Ok(data)
}

/// Part 1: losses of the training batch, and their distribution by position.
fn part1_dataset(
    model: &HookedModel,
    train: &TokenBatch,
    chunk: usize,
    rng: &mut StdRng,
    out: &mut Output,
) -> Result<LossData> {
    out.say("\n## Part 1: the dataset (per-token loss by position)");
    if let Some(ids) = train.ids.get(SHOW_ROW) {
        out.say(format!(
            "row {SHOW_ROW} decoded: {:?}",
            model.tokenizer.decode(ids)?
        ));
    }
    let data = build_dataset(model, train, chunk, "part1", out)?;
    let n = data.loss.len();

    let positions: Vec<f64> = (0..NPOS).map(|t| t as f64).collect();
    let columns: Vec<Vec<f64>> = (0..NPOS)
        .map(|t| data.loss.iter().map(|r| r[t]).collect())
        .collect();
    let means: Vec<f64> = columns.iter().map(|c| mean(c)).collect();
    for (t, m) in means.iter().enumerate() {
        out.say(format!("position {t}: mean loss {m:.3}"));
    }

    let mut a = Panel::new("A) Next-token prediction loss")
        .xlabel("Token position")
        .ylabel("Loss")
        .x_ticks(ticks(NPOS))
        .add(
            Series::bars(positions.clone(), means, vec![LIGHT_BLUE])
                .with_edge(BLACK)
                .with_label("mean loss"),
        );
    a = a.add(Series::scatter(
        jitter(&data.flat_pos, rng),
        data.flat_loss.clone(),
        Style::markers(rgb_f(1.0, 0.6, 0.6), Marker::Circle)
            .size(4)
            .edge(BLACK)
            .alpha(0.5)
            .label("individual losses"),
    ));

    let mut b = Panel::new("B) Distribution by token position")
        .xlabel("Per-token loss")
        .ylabel("Probability density");
    for (t, col) in columns.iter().enumerate() {
        let (edges, density) = density_histogram(col, &Bins::Count(10));
        b = b.add(Series::line(
            edges[..edges.len() - 1].to_vec(), // left bin edges, as the book plots them
            density,
            Style::line(cycle_color(t))
                .width(2)
                .label(&format!("Token {t}")),
        ));
    }
    let fig = Figure::grid(12.0, 4.0, 1, 3)
        .panel_at(a, 0, 0, 1, 2)
        .panel_at(b.legend_at(LegendPos::Best), 0, 2, 1, 1);
    out.figure(&fig, "ch4_proj21_part1")?;
    out.say(format!(
        "{n} sequences x {NPOS} positions = {} losses",
        data.flat_loss.len()
    ));
    Ok(data)
}

/// Part 2: OLS of position on loss, as statsmodels prints it, then a plain least squares.
fn part2_linear_regression(data: &LossData, out: &mut Output) -> Result<Ols> {
    out.say("\n## Part 2: linear regression (position ~ const + loss)");
    let x = Array1::from(data.flat_loss.clone());
    let y = Array1::from(data.flat_pos.iter().map(|&p| p as f64).collect::<Vec<_>>());
    let fit = ols1(x.view(), y.view())?;
    out.say(fit.summary_with(Some("y"), Some(&["const", "x1"]), None)?);

    // The same fit with a plain least-squares solve of [1, loss]·β ≈ position.
    let (c, s) = lstsq_line(&data.flat_loss, &y.to_vec())?;
    out.say(format!("plain least squares: const = {c:.4}, x1 = {s:.4}"));
    let diff = (c - fit.params[0]).abs().max((s - fit.params[1]).abs());
    out.say(format!(
        "max |least squares - OLS summary| over both coefficients = {diff:.2e}"
    ));
    ensure!(
        diff < 1e-8 * (1.0 + fit.params[0].abs()),
        "the two linear fits disagree by {diff}"
    );

    let mut rows = Vec::new();
    for (j, name) in ["const", "x1"].iter().enumerate() {
        rows.push(vec![
            name.to_string(),
            format!("{}", fit.params[j]),
            format!("{}", fit.bse[j]),
            format!("{}", fit.tvalues[j]),
            format!("{}", fit.pvalues[j]),
            format!("{}", fit.conf_int[[j, 0]]),
            format!("{}", fit.conf_int[[j, 1]]),
            format!("{}", [c, s][j]),
        ]);
    }
    out.table(
        "part2_ols",
        &[
            "param", "coef", "std_err", "t", "p", "ci_low", "ci_high", "lstsq",
        ],
        &rows,
    )?;
    let stats = [
        ("nobs", fit.nobs as f64),
        ("df_model", fit.df_model as f64),
        ("df_resid", fit.df_resid as f64),
        ("rsquared", fit.rsquared),
        ("rsquared_adj", fit.rsquared_adj),
        ("fvalue", fit.fvalue),
        ("f_pvalue", fit.f_pvalue),
        ("llf", fit.llf),
        ("aic", fit.aic),
        ("bic", fit.bic),
    ];
    let rows: Vec<Vec<String>> = stats
        .iter()
        .map(|(k, v)| vec![k.to_string(), format!("{v}")])
        .collect();
    out.table("part2_ols_stats", &["statistic", "value"], &rows)?;
    Ok(fit)
}

/// Intercept and slope of `y ≈ c + s·x` from libtorch's least-squares solver (LAPACK
/// gelsd, the driver numpy's `lstsq` uses), in float64 — a route independent of the OLS
/// module's QR.
fn lstsq_line(x: &[f64], y: &[f64]) -> Result<(f64, f64)> {
    ensure!(
        x.len() == y.len() && x.len() >= 2,
        "lstsq needs matching x, y"
    );
    let n = x.len() as i64;
    let design = Tensor::stack(
        &[
            Tensor::ones([n], (Kind::Double, tch::Device::Cpu)),
            Tensor::from_slice(x),
        ],
        1,
    );
    let (beta, _, _, _) =
        design.f_linalg_lstsq(&Tensor::from_slice(y).view([n, 1]), None, "gelsd")?;
    let b = to_vec_f64(&beta)?;
    Ok((b[0], b[1]))
}

/// Part 3: the linear model's predicted positions against the true ones.
fn part3_reconstruct_position(
    data: &LossData,
    ols: &Ols,
    rng: &mut StdRng,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 3: does the linear fit reconstruct position?");
    let (c, s) = (ols.params[0], ols.params[1]);
    let pred: Vec<f64> = data.flat_loss.iter().map(|l| c + s * l).collect();
    let (lo, hi) = pred
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    out.say(format!(
        "predicted positions span {lo:.3} .. {hi:.3} (mean {:.3}); true positions span 0 .. 4",
        mean(&pred)
    ));
    for t in 0..NPOS {
        let p: Vec<f64> = pred.iter().skip(t).step_by(NPOS).copied().collect();
        out.say(format!(
            "true position {t}: mean prediction {:.3}",
            mean(&p)
        ));
    }
    let panel = Panel::new("Linear regression: predicted vs true position")
        .xlabel("True positions")
        .ylabel("Predicted positions")
        .x_ticks(ticks(NPOS))
        .y_ticks(ticks(NPOS))
        .xlim(-0.5, NPOS as f64 - 0.5)
        .ylim(-0.5, NPOS as f64 - 0.5)
        .add(Series::scatter(
            jitter(&data.flat_pos, rng),
            pred,
            Style::markers(LIGHT_BLUE, Marker::Circle)
                .size(4)
                .edge(BLACK)
                .label("predictions"),
        ));
    out.figure(&Figure::new(8.0, 4.0).panel(panel), "ch4_proj21_part3")?;
    Ok(())
}

/// Part 4: multinomial logistic regression of position on loss (scikit-learn's
/// `LogisticRegression(solver='lbfgs')` defaults: softmax loss, L2 with C = 1 on the
/// slopes only, intercepts fitted).
fn part4_logistic_regression(data: &LossData, out: &mut Output) -> Result<LogisticL2> {
    out.say("\n## Part 4: multinomial logistic regression (position ~ loss)");
    let x = column(&data.flat_loss);
    // common::ml returns the optimum of scikit-learn's objective ½‖W‖² + C·Σ CE; sklearn's
    // own lbfgs (tol 1e-4, max_iter 100) stops within ~1e-3 of it on unscaled features.
    let clf = LogisticL2::fit(x.view(), &data.flat_pos, 1.0)?;
    let w: Vec<f64> = clf.coef.column(0).to_vec();
    let b: Vec<f64> = clf.intercept.to_vec();
    out.say(format!("intercepts: {}", fmt_floats(&b, 4)));
    out.say(format!("coefficients: {}", fmt_floats(&w, 4)));
    out.say(format!(
        "sum of coefficients = {:.2e}, sum of intercepts = {:.2e} (both ~0: the softmax is \
         unchanged by a shift common to all classes, and the penalty picks the centred one)",
        w.iter().sum::<f64>(),
        b.iter().sum::<f64>()
    ));
    let rows: Vec<Vec<String>> = (0..w.len())
        .map(|k| {
            vec![
                clf.classes[k].to_string(),
                format!("{}", b[k]),
                format!("{}", w[k]),
            ]
        })
        .collect();
    out.table("part4_logistic", &["position", "intercept", "coef"], &rows)?;

    let pos: Vec<f64> = (0..w.len()).map(|k| k as f64).collect();
    let zero = || Series::hline(0.0, Style::line(BLACK).width(1).dashed());
    let fig = Figure::grid(12.0, 4.0, 1, 2)
        .panel(
            Panel::new("A) Relative slopes")
                .xlabel("Token position")
                .ylabel("Coefficient value")
                .x_ticks(ticks(NPOS))
                .add(Series::bars(pos.clone(), w, vec![rgb_f(1.0, 0.6, 0.6)]).with_label("slope"))
                .add(zero()),
        )
        .panel(
            Panel::new("B) Relative intercepts")
                .xlabel("Token position")
                .ylabel("Coefficient value")
                .x_ticks(ticks(NPOS))
                .add(Series::bars(pos, b, vec![LIGHT_BLUE]).with_label("intercept"))
                .add(zero()),
        );
    out.figure(&fig, "ch4_proj21_part4")?;
    Ok(clf)
}

/// Part 5: class probabilities and the confusion matrix on the training data. Returns the
/// overall accuracy.
fn part5_train_predictions(data: &LossData, clf: &LogisticL2, out: &mut Output) -> Result<f64> {
    out.say("\n## Part 5: categorical predictions (training data)");
    classify_and_plot(
        data,
        clf,
        "train",
        "TRAIN test performance",
        "ch4_proj21_part5",
        "part5",
        out,
    )
}

/// Part 6: the held-out batch through the same pipeline, classified by Part 4's model.
fn part6_held_out(
    model: &HookedModel,
    test: &TokenBatch,
    chunk: usize,
    clf: &LogisticL2,
    train_acc: f64,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 6: held-out data (no refit)");
    let data = build_dataset(model, test, chunk, "part6", out)?;
    let acc = classify_and_plot(
        &data,
        clf,
        "test",
        "TEST test performance",
        "ch4_proj21_part6",
        "part6",
        out,
    )?;
    out.say(format!(
        "overall accuracy: train {:.1}%, test {:.1}% (chance 20%)",
        100.0 * train_acc,
        100.0 * acc
    ));
    Ok(())
}

/// Probabilities, predictions, confusion matrix and the two-panel accuracy figure.
fn classify_and_plot(
    data: &LossData,
    clf: &LogisticL2,
    set: &str,
    suptitle: &str,
    fig_name: &str,
    table: &str,
    out: &mut Output,
) -> Result<f64> {
    let x = column(&data.flat_loss);
    let proba = clf.predict_proba(x.view())?;
    let worst = proba
        .rows()
        .into_iter()
        .map(|r| (r.sum() - 1.0).abs())
        .fold(0.0, f64::max);
    out.say(format!(
        "class probabilities: shape [{}, {}]; every row sums to 1 (max |sum - 1| = {worst:.1e})",
        proba.nrows(),
        proba.ncols()
    ));
    let pred = clf.predict(x.view())?; // argmax of each row
    let labels: Vec<usize> = (0..NPOS).collect();
    let cm = ConfusionMatrix::new(&data.flat_pos, &pred, Some(&labels))?;
    let pct = cm.row_normalised().mapv(|v| 100.0 * v);
    let per_class: Vec<f64> = cm.per_class_accuracy().iter().map(|a| 100.0 * a).collect();
    let acc = cm.accuracy();
    out.say(format!(
        "{set}: overall accuracy {:.1}% ({} of {}), per position {}",
        100.0 * acc,
        (0..NPOS).map(|i| cm.counts[[i, i]]).sum::<usize>(),
        cm.total(),
        per_class
            .iter()
            .map(|a| format!("{a:.1}%"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out.say(format!(
        "{set} confusion matrix (rows true, columns predicted):"
    ));
    let mut rows = Vec::new();
    for i in 0..NPOS {
        let counts: Vec<String> = (0..NPOS).map(|j| cm.counts[[i, j]].to_string()).collect();
        out.say(format!("  true {i}: {}", counts.join(" ")));
        let mut r = vec![i.to_string()];
        r.extend(counts);
        rows.push(r);
    }
    out.table(
        &format!("{table}_confusion"),
        &["true", "pred0", "pred1", "pred2", "pred3", "pred4"],
        &rows,
    )?;
    let mut rows: Vec<Vec<String>> = (0..NPOS)
        .map(|i| {
            let n_i: usize = cm.counts.row(i).sum();
            let hits = cm.counts[[i, i]];
            vec![
                i.to_string(),
                n_i.to_string(),
                hits.to_string(),
                format!("{}", per_class[i]),
            ]
        })
        .collect();
    rows.push(vec![
        "all".into(),
        cm.total().to_string(),
        (0..NPOS)
            .map(|i| cm.counts[[i, i]])
            .sum::<usize>()
            .to_string(),
        format!("{}", 100.0 * acc),
    ]);
    out.table(
        &format!("{table}_accuracy"),
        &["position", "n", "correct", "accuracy_pct"],
        &rows,
    )?;
    let rows: Vec<Vec<String>> = (0..proba.nrows())
        .map(|i| {
            let mut r = vec![i.to_string(), data.flat_pos[i].to_string()];
            r.extend(proba.row(i).iter().map(|p| format!("{p}")));
            r.push(pred[i].to_string());
            r
        })
        .collect();
    out.table(
        &format!("{table}_proba"),
        &["i", "true", "p0", "p1", "p2", "p3", "p4", "pred"],
        &rows,
    )?;

    // A) per-position accuracy, each bar its own colour, value on top
    let pos: Vec<f64> = (0..NPOS).map(|t| t as f64).collect();
    let colors: Vec<Rgb> = (0..NPOS).map(cycle_color).collect();
    let mut a = Panel::new("A) Category-specific prediction accuracy")
        .xlabel("Token position")
        .ylabel("Prediction accuracy (%)")
        .x_ticks(ticks(NPOS))
        .ylim(0.0, 110.0)
        .add(Series::bars(pos, per_class.clone(), colors).with_label("accuracy"))
        .add(Series::hline(
            100.0 / NPOS as f64,
            Style::line(BLACK).width(1).dashed().label("chance"),
        ));
    for (t, v) in per_class.iter().enumerate() {
        a = a.add(Series::text(t as f64, v + 5.0, &format!("{v:.1}%"), 10, BLACK).bold());
    }
    // B) row-normalised confusion matrix, annotated
    let values: Vec<Vec<f64>> = pct.rows().into_iter().map(|r| r.to_vec()).collect();
    let vmax = values.iter().flatten().fold(0.0f64, |m, &v| m.max(v));
    let mut b = Panel::new("B) Confusion matrix (% row-wise)")
        .xlabel("Predicted position")
        .ylabel("True position")
        .x_ticks(ticks(NPOS))
        .y_ticks(ticks(NPOS))
        .heatmap(Heatmap::new(values.clone(), Colormap::Reds).label("% of true position"));
    for (i, row) in values.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            let ink = if v > 0.6 * vmax {
                (255, 255, 255)
            } else {
                BLACK
            };
            b = b.add(Series::text(
                j as f64,
                i as f64,
                &format!("{v:.1}"),
                10,
                ink,
            ));
        }
    }
    let fig = Figure::grid(10.0, 4.0, 1, 2)
        .suptitle(suptitle)
        .panel(a)
        .panel(b);
    out.figure(&fig, fig_name)?;
    Ok(acc)
}

/// `v` as an `[n, 1]` feature matrix.
fn column(v: &[f64]) -> Array2<f64> {
    Array1::from(v.to_vec()).insert_axis(ndarray::Axis(1))
}

/// Positions plus N(0, JITTER_SD) noise, to spread overlapping points (display only).
fn jitter(pos: &[usize], rng: &mut StdRng) -> Vec<f64> {
    let noise = Normal::new(0.0, JITTER_SD).expect("a valid standard deviation");
    pos.iter().map(|&p| p as f64 + noise.sample(rng)).collect()
}

/// Integer ticks 0..n.
fn ticks(n: usize) -> Vec<(f64, String)> {
    (0..n).map(|t| (t as f64, t.to_string())).collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// y = 2 − 0.5x + ε, n = 1,000, seeded.
    fn synthetic(noise_sd: f64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = StdRng::seed_from_u64(21);
        let xs = Normal::new(0.0, 2.0).unwrap();
        let eps = Normal::new(0.0, 1.0).unwrap();
        let x: Vec<f64> = (0..1000).map(|_| xs.sample(&mut rng)).collect();
        let y = x
            .iter()
            .map(|v| 2.0 - 0.5 * v + noise_sd * eps.sample(&mut rng))
            .collect();
        (x, y)
    }

    #[test]
    fn plain_least_squares_recovers_the_line_and_agrees_with_ols() {
        let (x, y) = synthetic(1.0);
        let (c, s) = lstsq_line(&x, &y).unwrap();
        let fit = ols1(
            Array1::from(x.clone()).view(),
            Array1::from(y.clone()).view(),
        )
        .unwrap();
        assert!((c - 2.0).abs() < 4.0 * fit.bse[0], "{c} ± {}", fit.bse[0]);
        assert!((s + 0.5).abs() < 4.0 * fit.bse[1], "{s} ± {}", fit.bse[1]);
        assert!((c - fit.params[0]).abs() < 1e-10 && (s - fit.params[1]).abs() < 1e-10);
        // without noise the line is exact
        let (x, y) = synthetic(0.0);
        let (c, s) = lstsq_line(&x, &y).unwrap();
        assert!(
            (c - 2.0).abs() < 1e-12 && (s + 0.5).abs() < 1e-12,
            "{c} {s}"
        );
    }

    #[test]
    fn flattening_is_row_major_and_aligned() {
        let loss = vec![[0.0, 1.0, 2.0, 3.0, 4.0], [10.0, 11.0, 12.0, 13.0, 14.0]];
        let d = flatten(loss);
        assert_eq!(d.flat_pos, vec![0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
        for (i, (&l, &p)) in d.flat_loss.iter().zip(&d.flat_pos).enumerate() {
            assert_eq!(l, d.loss[i / NPOS][p]);
        }
    }

    #[test]
    fn a_short_context_stops_the_run_with_its_row() {
        let model =
            HookedModel::from_pretrained(&common::cli::tiny_gpt2(), tch::Device::Cpu).unwrap();
        let texts = vec![
            "A man is sitting on a chair in a room.".to_string(),
            "Too short.".to_string(),
        ];
        let ok = first_tokens(&model, &texts, 0, 1, "train").unwrap();
        assert_eq!(ok.ids.len(), 1);
        let err = first_tokens(&model, &texts, 0, 2, "train")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("row 1") && err.contains("fewer than 6"),
            "{err}"
        );
        assert!(first_tokens(&model, &texts, 1, 5, "test").is_err());
    }
}
