//! # Project 27 — Impact of layer-specific noise and scaling
//!
//! **Question.** How robust is a language model's next-token prediction to a change of
//! the residual stream at one layer? We take GPT-2-large and the prompt "Pay no
//! attention to that man behind the" (expected completion " curtain"), change the
//! output of a single transformer block — by adding Gaussian noise, or by multiplying it
//! by 0.5 — let the rest of the forward pass run on the changed tensor, and measure
//! (a) how the change propagates to the later hidden states and (b) what it does to the
//! log-probability of " curtain". Sweeping the block over all 36 gives a laminar
//! profile of sensitivity.
//!
//! Notation: `H[k]`, k = 0..36, are the hidden states as `transformers` reports them:
//! `H[0]` the embeddings, `H[k]` (1 ≤ k ≤ 35) the output of block k−1
//! (`blocks.{k-1}.hook_resid_post`), `H[36]` = `ln_f`(output of block 35). Changing the
//! output of block L changes `H[L+1]` and what every later block receives.
//!
//! **What to look for.**
//! - Part 1: the clean model puts " curtain" clearly above every other token.
//! - Part 2: with noise at block 15 the hidden-state differences are exactly 0 up to
//!   H[15] (nothing before the intervention can know about it) and jump at H[16], then
//!   stay large: the later blocks do not undo the noise.
//! - Part 3: GPT-2's block outputs have a few huge values at the first token, which
//!   inflate std(X), so the noise is large next to the last token's own values: it pulls
//!   " curtain" well below its clean log-probability at most layers and often changes
//!   the completion. Each run draws fresh noise, so the profile changes with `--seed`.
//! - Part 4: halving a block's output is much milder: every later block reads the
//!   residual stream through a LayerNorm, which is blind to scale, so " curtain" stays
//!   near its clean log-probability; at the last block (L = 35) only `ln_f`'s ε sees the
//!   change and the logits move by a tiny amount.
//!
//! Run: `cargo run --release -p project27_layer_noise_scaling` (downloads `gpt2-large`,
//! 3.1 GB, once). `--quick` runs offline on the tiny random GPT-2 in `assets/` (3
//! blocks, d_model 16, GPT-2's real tokenizer), with the same prompt and method and
//! demo layer 1 instead of 15: its numbers come from random weights and mean nothing.

mod intervention;

use anyhow::{anyhow, ensure, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::device::to_vec_f64;
use common::output::{thousands, Output};
use common::plot::BLACK;
use common::plot::{rgb_f, Figure, LegendPos, Marker, Panel, Rgb, Series, Style};
use common::stats::argmax;
use common::{Batch, HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use intervention::{perturbation_hook, std_all, NoiseSource, Perturbation};
use tch::{Kind, Tensor};

const PROJECT: &str = "project27_layer_noise_scaling";
const FIG: &str = "ch5_proj27";
const PROMPT: &str = "Pay no attention to that man behind the";
const TARGET: &str = " curtain";
/// The book's demo layer, for gpt2-large's 36 blocks.
const BOOK_DEMO_LAYER: usize = 15;
const BOOK_N_LAYERS: usize = 36;

const GREEN: Rgb = (0, 128, 0);
const LIGHT_BLUE: Rgb = (173, 216, 230); // matplotlib 'lightblue'

/// Add noise to, or scale, one block's output of GPT-2-large and follow the change
/// through the rest of the forward pass.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The block whose output Parts 2 and 4 change in their demo [default: 15, the
    /// book's for gpt2-large's 36 blocks; for a model with n blocks, round(15 n / 36)
    /// (1 under --quick)].
    #[arg(long)]
    demo_layer: Option<usize>,
    /// Noise standard deviation as a fraction of the block output's own std.
    #[arg(long, default_value_t = 0.5)]
    noise_sd: f64,
    /// Factor the block output is multiplied by in Part 4.
    #[arg(long, default_value_t = 0.5)]
    scale: f64,
    /// The prompt.
    #[arg(long, default_value = PROMPT)]
    prompt: String,
    /// The expected next token (its first token id is the target).
    #[arg(long, default_value = TARGET)]
    target: String,
}

/// The prompt as a batch, and the target token.
struct Setup {
    prompt: String,
    batch: Batch,
    target: usize,
    target_text: String,
    n_layers: usize,
}

/// The clean (unperturbed) run.
struct Clean {
    /// Final-position logits, float64.
    logits: Vec<f64>,
    /// Their log-softmax (`lsm_clean`).
    lsm: Vec<f64>,
    /// H[0..=n_layers] (see the module docs), each `[1, pos, d_model]`.
    hidden: Vec<Tensor>,
    /// The output of each block (what the interventions change), `[1, pos, d_model]`.
    outputs: Vec<Tensor>,
    argmax: usize,
}

/// One perturbed run, summarised.
struct Outcome {
    lsm: Vec<f64>,
    argmax: usize,
    /// max over the vocabulary of |logit − clean logit| at the final position.
    max_dlogit: f64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    ensure!(
        args.noise_sd.is_finite() && args.noise_sd >= 0.0,
        "--noise-sd must be a finite number ≥ 0"
    );
    ensure!(args.scale.is_finite(), "--scale must be a finite number");

    // Fail fast: the model is found (downloaded if needed) and its config checked before
    // anything is computed or written.
    let model_id = args.common.model_or("gpt2-large");
    let (_, cfg) = args.common.resolve_decoder(
        &model_id,
        "this project needs a causal language model (a decoder with an LM head: GPT-2, GPT-Neo, GPT-NeoX) that predicts the next token",
    )?;
    let n_layers = cfg.n_layers;
    let demo_layer = args
        .demo_layer
        .unwrap_or(((BOOK_DEMO_LAYER * n_layers) as f64 / BOOK_N_LAYERS as f64).round() as usize);
    ensure!(
        demo_layer < n_layers,
        "--demo-layer {demo_layer} is out of range: {model_id} has {n_layers} blocks (0..={})",
        n_layers - 1
    );

    let mut out = args.common.output(PROJECT)?;
    let model = args.common.load_model(&model_id)?;
    let setup = Setup::new(&model, &args.prompt, &args.target)?;
    if args.common.quick {
        out.say(format!(
            "--quick: tiny random GPT-2 from assets/ ({n_layers} blocks, d_model {}), demo layer \
             {demo_layer} instead of {BOOK_DEMO_LAYER}; the numbers come from random weights and \
             mean nothing.",
            model.cfg.d_model
        ));
    }
    out.say(format!(
        "model (--model): {} ({n_layers} blocks, d_model {}, {} heads; {} parameters) on {}",
        model.id,
        model.cfg.d_model,
        model.cfg.n_heads,
        thousands(model.n_params()),
        common::device::describe(model.device())
    ));
    out.say(format!(
        "noise: N(0, 1) draws from rand's StdRng seeded with --seed = {}, one fresh draw per \
         forward pass, in the order the passes run (Part 2's demo, then Part 3's layers 0..{})",
        args.common.seed,
        n_layers - 1
    ));

    let clean = part1_clean_run(&model, &setup, &mut out)?;
    let mut noise = NoiseSource::new(args.common.seed);
    let noise_p = Perturbation::Noise {
        sd_factor: args.noise_sd,
    };
    let scale_p = Perturbation::Scale { factor: args.scale };
    part2_noise_demo(
        &model, &setup, &clean, demo_layer, noise_p, &mut noise, &mut out,
    )?;
    let mut blocks = BlockCount::default();
    part3_noise_sweep(
        &model,
        &setup,
        &clean,
        noise_p,
        &mut noise,
        &mut blocks,
        &mut out,
    )?;
    part4_scaling(
        &model,
        &setup,
        &clean,
        demo_layer,
        scale_p,
        &mut blocks,
        &mut out,
    )?;

    out.say("\n## Work saved");
    out.say(format!(
        "sweeps (Parts 3-4): each run at layer L starts at block L from the clean run's cached \
         residual stream (start_at), so blocks 0..L-1 are not recomputed: {} block evaluations \
         instead of {} ({} saved, {:.0}%)",
        blocks.run,
        blocks.full,
        blocks.full - blocks.run,
        100.0 * (blocks.full - blocks.run) as f64 / blocks.full as f64
    ));
    out.say(format!(
        "logits at the final position only (LogitsAt::Last): 1 x {} instead of {} x {} per pass",
        thousands(model.cfg.vocab_size as i64),
        setup.batch.seq_len(),
        thousands(model.cfg.vocab_size as i64)
    ));
    out.finish()
}

impl Setup {
    fn new(model: &HookedModel, prompt: &str, target: &str) -> Result<Self> {
        let ids = model.tokenizer.encode(prompt)?;
        ensure!(!ids.is_empty(), "the prompt {prompt:?} has no tokens");
        let target_ids = model.tokenizer.encode(target)?;
        let first = *target_ids
            .first()
            .ok_or_else(|| anyhow!("the target {target:?} has no tokens"))?;
        Ok(Setup {
            prompt: prompt.to_string(),
            batch: model.batch_from_ids(&[ids], PaddingSide::Right)?,
            target: first as usize,
            target_text: model.tokenizer.decode_one(first)?,
            n_layers: model.cfg.n_layers,
        })
    }

    fn ids(&self) -> Vec<i64> {
        Vec::<i64>::try_from(self.batch.ids.view(-1)).unwrap_or_default()
    }
}

/// The cache names of the hidden states H[0..=n]: the embeddings (block 0's input),
/// every block's output and the final layer norm.
fn hidden_names(model: &HookedModel) -> Names {
    Names::list(&["blocks.0.hook_resid_pre", intervention::RESID_POST]).and(model.final_hook())
}

/// From a run's cache: H[0..=n] (the embeddings, the outputs of blocks 0..n-2, and
/// ln_f of block n-1's output) and the n block outputs (block L's output is H[L+1] for
/// L < n-1; the last one is H[n] before ln_f).
fn hidden_states(
    model: &HookedModel,
    cache: &common::ActivationCache,
) -> Result<(Vec<Tensor>, Vec<Tensor>)> {
    let n = model.cfg.n_layers;
    let outputs = (0..n)
        .map(|l| {
            Ok(cache
                .get(&format!("blocks.{l}.hook_resid_post"))?
                .shallow_clone())
        })
        .collect::<Result<Vec<_>>>()?;
    let mut h = vec![cache.get("blocks.0.hook_resid_pre")?.shallow_clone()];
    h.extend(outputs[..n - 1].iter().map(|t| t.shallow_clone()));
    h.push(cache.get(model.final_hook())?.shallow_clone());
    Ok((h, outputs))
}

/// `[1, vocab]` logits as float64 values and their log-softmax.
fn logits_and_lsm(logits: &Tensor) -> Result<(Vec<f64>, Vec<f64>)> {
    let z = logits.to_kind(Kind::Double).view(-1);
    Ok((
        to_vec_f64(&z)?,
        to_vec_f64(&z.log_softmax(-1, Kind::Double))?,
    ))
}

/// Integer ticks 0..n-1 on a layer axis: every layer for a few, else every 5th.
fn layer_ticks(n: usize) -> Vec<(f64, String)> {
    let step = if n <= 12 { 1 } else { 5 };
    (0..n)
        .step_by(step)
        .map(|k| (k as f64, k.to_string()))
        .collect()
}

fn pct(lsm: f64) -> String {
    format!("{:.2}%", 100.0 * lsm.exp())
}

fn token(model: &HookedModel, id: usize) -> Result<String> {
    model.tokenizer.decode_one(id as u32)
}

/// Part 1: the clean forward pass; log-softmax of the final position's logits.
fn part1_clean_run(model: &HookedModel, s: &Setup, out: &mut Output) -> Result<Clean> {
    out.say("\n## Part 1: clean run");
    let ids = s.ids();
    out.say(format!("{:?} is {} tokens:", s.prompt, ids.len()));
    for (i, &id) in ids.iter().enumerate() {
        out.say(format!("token {i}: {id} {:?}", token(model, id as usize)?));
    }
    out.say(format!(
        "target {:?}: token ids {:?}; target id {} ({:?})",
        s.target_text,
        model.tokenizer.encode(&s.target_text)?,
        s.target,
        s.target_text
    ));
    let run = model.run(
        &s.batch,
        &RunOptions::default()
            .cache(hidden_names(model))
            .logits(LogitsAt::Last),
    )?;
    let logits = run.logits.ok_or_else(|| anyhow!("no logits"))?;
    let (logits, lsm) = logits_and_lsm(&logits)?;
    let (hidden, outputs) = hidden_states(model, &run.cache)?;
    let best = argmax(&lsm);
    let t_clean = lsm[s.target];
    out.say(format!(
        "Next word is {:?} (token index {best}) with {} probability",
        token(model, best)?,
        pct(t_clean)
    ));
    out.say(format!("T_clean = lsm_clean[{}] = {t_clean:.6}", s.target));
    let lse = lsm.iter().map(|v| v.exp()).sum::<f64>().ln();
    out.say(format!(
        "log-sum-exp of lsm_clean = {lse:.3e} (a log-softmax row: 0); P(argmax) = {:.6} >= 1/vocab = {:.3e}",
        lsm[best].exp(),
        1.0 / lsm.len() as f64
    ));

    let v = lsm.len() as f64;
    let x: Vec<f64> = (0..lsm.len()).map(|i| i as f64).collect();
    let panel = Panel::new("log-softmax of final token")
        .xlabel("Token index in the vocabulary")
        .ylabel("Log-softmax")
        .xlim(-150.0, v + 150.0)
        .add(Series::scatter(
            x,
            lsm.clone(),
            Style::markers(BLACK, Marker::Hexagon)
                .size(2)
                .alpha(0.3)
                .label("All tokens"),
        ))
        .add(Series::vline(
            s.target as f64,
            Style::line(GREEN)
                .dashed()
                .label(&format!("{:?} (token {})", s.target_text, s.target)),
        ))
        .add(Series::hline(
            t_clean,
            Style::line(GREEN).dashed().label(&format!(
                "log-softmax of {:?}: {t_clean:.2} (P = {})",
                s.target_text,
                pct(t_clean)
            )),
        ))
        .legend_at(LegendPos::LowerRight);
    out.figure(
        &Figure::new(10.0, 4.5).panel(panel),
        &format!("{FIG}_part1"),
    )?;
    Ok(Clean {
        logits,
        lsm,
        hidden,
        outputs,
        argmax: best,
    })
}

/// Summarise a perturbed run's logits against the clean run.
fn outcome(logits: &Tensor, clean: &Clean) -> Result<Outcome> {
    let (z, lsm) = logits_and_lsm(logits)?;
    let max_dlogit = z
        .iter()
        .zip(&clean.logits)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    Ok(Outcome {
        argmax: argmax(&lsm),
        lsm,
        max_dlogit,
    })
}

/// One whole forward pass with block `layer`'s output perturbed, caching every hidden
/// state (for the demos, where the zeros before the intervention are measured, not
/// assumed).
fn perturbed_full_run(
    model: &HookedModel,
    s: &Setup,
    layer: usize,
    p: Perturbation,
    z: Option<Tensor>,
    clean: &Clean,
) -> Result<(Outcome, Vec<Tensor>)> {
    let hooks = [perturbation_hook(layer, p, z)];
    let run = model.run(
        &s.batch,
        &RunOptions::default()
            .hooks(&hooks)
            .cache(hidden_names(model))
            .logits(LogitsAt::Last),
    )?;
    let logits = run.logits.ok_or_else(|| anyhow!("no logits"))?;
    Ok((
        outcome(&logits, clean)?,
        hidden_states(model, &run.cache)?.0,
    ))
}

/// The Frobenius norms ‖H_clean[k] − H_perturbed[k]‖ for every k.
fn diff_norms(clean: &[Tensor], pert: &[Tensor]) -> Vec<f64> {
    clean
        .iter()
        .zip(pert)
        .map(|(a, b)| (a - b).to_kind(Kind::Double).norm().double_value(&[]))
        .collect()
}

/// Parts 2 and 4a: perturb block `layer` once and follow the change through H[k].
#[allow(clippy::too_many_arguments)]
fn demo(
    model: &HookedModel,
    s: &Setup,
    clean: &Clean,
    layer: usize,
    p: Perturbation,
    z: Option<Tensor>,
    (fig_name, title, what): (&str, &str, &str),
    out: &mut Output,
) -> Result<Outcome> {
    let (res, hidden) = perturbed_full_run(model, s, layer, p, z, clean)?;
    let n = s.n_layers;
    // k = 0..=n here; the figure shows k = 0..n-1 (H[n], after ln_f, is left out as in
    // the book) and the summary has H[n] too.
    let mut norms = diff_norms(&clean.hidden, &hidden);
    let last = norms.pop().unwrap_or(f64::NAN);
    for (k, d) in norms.iter().enumerate() {
        out.say(format!("diffnorm[{k}] = {d:.6}"));
    }
    out.say(format!(
        "(not plotted) diffnorm of H[{n}] = ln_f(output of block {}) = {last:.6}",
        n - 1
    ));
    let same = norms[..=layer].iter().all(|&d| d == 0.0);
    out.say(format!(
        "H[k] bit-identical to clean for k <= {layer}: {}; first changed: H[{}] (diffnorm {:.6})",
        if same { "yes" } else { "NO" },
        layer + 1,
        norms.get(layer + 1).copied().unwrap_or(last)
    ));

    let k: Vec<f64> = (0..n).map(|k| k as f64).collect();
    let panel = Panel::new(title)
        .xlabel("Hidden state k (0 = embeddings, k = output of block k-1)")
        .ylabel(&format!("‖H_clean[k] − H_{what}[k]‖ (Frobenius)"))
        .x_ticks(layer_ticks(n))
        .add(Series::hline(0.0, Style::line(BLACK).dotted().width(1)))
        .add(Series::vline(
            (layer + 1) as f64,
            Style::line(GREEN)
                .dashed()
                .label(&format!("H[{}] = output of block {layer}", layer + 1)),
        ))
        .add(Series::line(
            k,
            norms,
            Style::markers(BLACK, Marker::Hexagon)
                .size(6)
                .fill(rgb_f(0.5, 0.5, 0.9))
                .edge(BLACK)
                .label("Difference norm"),
        ))
        .legend_at(LegendPos::UpperLeft);
    out.figure(&Figure::new(9.0, 4.5).panel(panel), fig_name)?;
    Ok(res)
}

/// Part 2: noise at the output of the demo block only.
fn part2_noise_demo(
    model: &HookedModel,
    s: &Setup,
    clean: &Clean,
    layer: usize,
    p: Perturbation,
    noise: &mut NoiseSource,
    out: &mut Output,
) -> Result<()> {
    out.say(format!(
        "\n## Part 2: {} at the output of block {layer}",
        p.describe()
    ));
    let x = &clean.outputs[layer];
    out.say(format!(
        "block {layer} output X: shape {:?}, std(X) over all elements (unbiased) = {:.6}, \
         std of the last token's values = {:.6}",
        x.size(),
        std_all(x),
        std_all(&x.select(1, -1))
    ));
    let z = noise.draw(&x.size(), model.device());
    let res = demo(
        model,
        s,
        clean,
        layer,
        p,
        Some(z),
        (
            &format!("{FIG}_part2"),
            &format!("Noise added to the output of block {layer}"),
            "noise",
        ),
        out,
    )?;
    out.say(format!(
        "clean: Next word is {:?} (token index {}); P({:?}) = {}",
        token(model, clean.argmax)?,
        clean.argmax,
        s.target_text,
        pct(clean.lsm[s.target])
    ));
    out.say(format!(
        "noised: Next word is {:?} (token index {}) with {} probability; P({:?}) = {}",
        token(model, res.argmax)?,
        res.argmax,
        pct(res.lsm[res.argmax]),
        s.target_text,
        pct(res.lsm[s.target])
    ));
    Ok(())
}

/// Block evaluations of the sweeps: run, and what full passes would have run.
#[derive(Default)]
struct BlockCount {
    run: usize,
    full: usize,
}

/// Perturb each block's output in turn (L = 0..n-1), one forward pass each. Block L's
/// input is the clean run's H[L], so each pass starts there (`start_at`).
fn sweep(
    model: &HookedModel,
    s: &Setup,
    clean: &Clean,
    p: Perturbation,
    mut noise: Option<&mut NoiseSource>,
    blocks: &mut BlockCount,
    out: &mut Output,
) -> Result<Vec<Outcome>> {
    let n = s.n_layers;
    let pb = common::progress::bar(n as u64, &format!("sweep: {}", p.describe()));
    let mut rows = Vec::with_capacity(n);
    for layer in 0..n {
        let z = noise
            .as_deref_mut()
            .map(|src| src.draw(&clean.outputs[layer].size(), model.device()));
        let hooks = [perturbation_hook(layer, p, z)];
        let run = model.run(
            &s.batch,
            &RunOptions::default()
                .start_at(layer, clean.hidden[layer].shallow_clone())
                .hooks(&hooks)
                .logits(LogitsAt::Last),
        )?;
        blocks.run += run.blocks_run.len();
        blocks.full += n;
        let logits = run.logits.ok_or_else(|| anyhow!("no logits"))?;
        let res = outcome(&logits, clean)?;
        pb.suspend(|| -> Result<()> {
            out.say(format!(
                "L{layer}: {}\"{}\"",
                s.prompt,
                token(model, res.argmax)?
            ));
            Ok(())
        })?;
        rows.push(res);
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(rows)
}

/// The two-panel sweep figure of Parts 3 and 4b.
fn sweep_figure(
    s: &Setup,
    clean: &Clean,
    rows: &[Outcome],
    (label, verb): (&str, &str),
    name: &str,
    out: &mut Output,
) -> Result<()> {
    let t_clean = clean.lsm[s.target];
    let layers: Vec<f64> = (0..rows.len()).map(|l| l as f64).collect();
    let target: Vec<f64> = rows.iter().map(|r| r.lsm[s.target]).collect();
    let best: Vec<f64> = rows.iter().map(|r| r.lsm[r.argmax]).collect();
    // One y range for both panels (as the book sets B's limits to A's), wide enough
    // for every point of either.
    let (lo, hi) = target
        .iter()
        .chain(&best)
        .chain([&t_clean])
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let pad = 0.08 * (hi - lo).max(0.1);
    let xl = (-1.0, rows.len() as f64);
    let clean_line = || Series::hline(t_clean, Style::line(GREEN).dashed().label("Clean"));
    let a = Panel::new(&format!(
        "A) Impact of {verb} on log-softmax of \"{}\"",
        s.target_text
    ))
    .xlabel("Layer L whose output is changed")
    .ylabel(&format!("Log-softmax of \"{}\"", s.target_text))
    .xlim(xl.0, xl.1)
    .ylim(lo - pad, hi + pad)
    .x_ticks(layer_ticks(rows.len()))
    .add(clean_line())
    .add(Series::scatter(
        layers.clone(),
        target,
        Style::markers(BLACK, Marker::Hexagon)
            .size(6)
            .fill(rgb_f(1.0, 0.5, 0.5))
            .edge(BLACK)
            .label(label),
    ))
    .legend();
    let b = Panel::new(&format!("B) Impact of {verb} on log-softmax of max logit"))
        .xlabel("Layer L whose output is changed")
        .ylabel("Log-softmax of the most likely token")
        .xlim(xl.0, xl.1)
        .ylim(lo - pad, hi + pad)
        .x_ticks(layer_ticks(rows.len()))
        .add(clean_line())
        .add(Series::scatter(
            layers,
            best,
            Style::markers(BLACK, Marker::Square)
                .size(5)
                .fill(LIGHT_BLUE)
                .edge(BLACK)
                .label(label),
        ))
        .legend();
    out.figure(&Figure::grid(14.0, 4.5, 1, 2).panel(a).panel(b), name)?;
    Ok(())
}

/// The per-layer table of a sweep.
fn sweep_table(
    model: &HookedModel,
    s: &Setup,
    clean: &Clean,
    rows: &[Outcome],
    name: &str,
    out: &mut Output,
) -> Result<()> {
    let mut table = Vec::with_capacity(rows.len());
    for (l, r) in rows.iter().enumerate() {
        let x = &clean.outputs[l];
        table.push(vec![
            l.to_string(),
            format!("{:.8}", std_all(x)),
            format!("{:.8}", std_all(&x.select(1, -1))),
            r.argmax.to_string(),
            token(model, r.argmax)?,
            format!("{:.8}", r.lsm[s.target]),
            format!("{:.8}", r.lsm[r.argmax]),
            format!("{:.8e}", r.max_dlogit),
        ]);
    }
    out.table(
        name,
        &[
            "layer",
            "std_X_all",
            "std_X_last_token",
            "argmax_id",
            "argmax_token",
            "lsm_target",
            "lsm_argmax",
            "max_abs_dlogit",
        ],
        &table,
    )?;
    Ok(())
}

/// Part 3: the noise intervention at every block in turn.
fn part3_noise_sweep(
    model: &HookedModel,
    s: &Setup,
    clean: &Clean,
    p: Perturbation,
    noise: &mut NoiseSource,
    blocks: &mut BlockCount,
    out: &mut Output,
) -> Result<()> {
    out.say(format!(
        "\n## Part 3: laminar sweep of {} (one fresh draw per layer)",
        p.describe()
    ));
    let rows = sweep(model, s, clean, p, Some(noise), blocks, out)?;
    let changed = rows.iter().filter(|r| r.argmax != clean.argmax).count();
    let below = rows
        .iter()
        .filter(|r| r.lsm[s.target] < clean.lsm[s.target])
        .count();
    out.say(format!(
        "noise changed the completion at {changed} of {} layers; lowered log p({:?}) at {below}",
        rows.len(),
        s.target_text
    ));
    sweep_table(model, s, clean, &rows, "part3_noise_sweep", out)?;
    sweep_figure(
        s,
        clean,
        &rows,
        ("Noisified", "noise"),
        &format!("{FIG}_part3"),
        out,
    )?;
    // Nothing to remove: a hook lives only for the run it is passed to.
    Ok(())
}

/// Part 4: multiply one block's output by the scale factor: the demo at the demo block,
/// then the sweep over every block.
fn part4_scaling(
    model: &HookedModel,
    s: &Setup,
    clean: &Clean,
    layer: usize,
    p: Perturbation,
    blocks: &mut BlockCount,
    out: &mut Output,
) -> Result<()> {
    out.say(format!(
        "\n## Part 4: {} at the output of one block",
        p.describe()
    ));
    out.say(format!("### Part 4a: demo at block {layer}"));
    let res = demo(
        model,
        s,
        clean,
        layer,
        p,
        None,
        (
            &format!("{FIG}_part4a"),
            &format!("Output of block {layer} scaled"),
            "scaled",
        ),
        out,
    )?;
    out.say(format!(
        "scaled: Next word is {:?} (token index {}) with {} probability; P({:?}) = {}",
        token(model, res.argmax)?,
        res.argmax,
        pct(res.lsm[res.argmax]),
        s.target_text,
        pct(res.lsm[s.target])
    ));
    out.say("### Part 4b: laminar sweep of scaling");
    let rows = sweep(model, s, clean, p, None, blocks, out)?;
    let n = rows.len();
    let changed = rows.iter().filter(|r| r.argmax != clean.argmax).count();
    out.say(format!(
        "scaling changed the completion at {changed} of {n} layers"
    ));
    let last = &rows[n - 1];
    let max_logit = clean.logits.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    out.say(format!(
        "last block (L = {}) scaled: max |Δlogit| = {:.6e} ({:.3e} of max |logit|), only through \
         ln_f's ε; completion {:?} (clean {:?})",
        n - 1,
        last.max_dlogit,
        last.max_dlogit / max_logit,
        token(model, last.argmax)?,
        token(model, clean.argmax)?
    ));
    sweep_table(model, s, clean, &rows, "part4_scaling_sweep", out)?;
    sweep_figure(
        s,
        clean,
        &rows,
        ("Scaled", "down-scaling"),
        &format!("{FIG}_part4b"),
        out,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_and_target_tokenize_as_in_the_spec() {
        let t = common::tokenizer::Tokenizer::gpt2();
        assert_eq!(
            t.encode(PROMPT).unwrap(),
            vec![19197, 645, 3241, 284, 326, 582, 2157, 262]
        );
        assert_eq!(t.encode(TARGET).unwrap(), vec![29461]);
    }

    #[test]
    fn default_demo_layer_keeps_the_relative_depth() {
        let d = |n: usize| ((BOOK_DEMO_LAYER * n) as f64 / BOOK_N_LAYERS as f64).round() as usize;
        assert_eq!(d(36), 15);
        assert_eq!(d(3), 1);
        assert_eq!(d(12), 5);
    }
}
