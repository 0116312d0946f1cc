//! # Project 32 — Patching hidden states in indirect object identification
//!
//! **Question.** In an indirect-object-identification (IOI) sentence ("When Mike and Emma
//! went to the cafe, Mike gave a coffee to …"), where along the depth of GPT-2-XL does
//! the final position come to "know" which name to output? We score each run by the
//! logit difference `logit[" Mike"] − logit[" Emma"]` at the last position, patch the
//! last position of one block's output in the name-swapped sentence (EM) with the clean
//! hidden state of the other sentence (ME), sweep the patched block over all 48 blocks,
//! and fit a sigmoid to the profile to locate the transition layer.
//!
//! **What to look for.**
//! - Part 1: ME → " Emma", EM → " Mike"; IOI_ME < 0 < IOI_EM; the two sentences' logits
//!   are almost perfectly correlated and the names are among the highest logits.
//! - Part 2: patching block 46's last position flips EM's preference to about IOI_ME;
//!   Δ = clean − patched shows " Mike" suppressed and " Emma" boosted.
//! - Part 3: early patches leave the score near IOI_EM, late ones near IOI_ME, with a
//!   band of middle-to-late layers in between; the last block (red ×) is anomalous: the
//!   reported last hidden state already holds `ln_f`, which the run applies a second
//!   time. The check matrix's column 1 (patched position) is exactly 0 for every block
//!   but the last; column 0 (position 12, unpatched) is non-zero — it still sees " Emma"
//!   at position 9.
//! - Parts 4–5: Levenberg–Marquardt recovers a simulated sigmoid's parameters; on the
//!   IOI profile (last block dropped) the midpoint x0 marks the transition layer.
//!
//! Work saved: blocks `0..=L` of a patched run see the clean run's inputs, so each patched
//! run starts at block `L+1` from the clean hidden state (`RunOptions::start_at`) and
//! computes logits at the last position only; the summary prints the blocks saved.
//!
//! Run: `cargo run --release -p project32_ioi_patching` (downloads `gpt2-xl`, 6.2 GB,
//! once). `--quick` runs offline in seconds on the tiny random GPT-2 in `assets/` (GPT-2's
//! real tokenizer, so the same 14-token sentences; 3 blocks): the same steps over 3
//! blocks instead of 48. Part 5's 4-parameter fit needs more points than the 2 blocks a
//! 3-block model leaves, so under `--quick` it is skipped (said in the output); its
//! numbers come from random weights and mean nothing.

mod patch;

use anyhow::{ensure, Context, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::ml::curve_fit::{fit_sigmoid, sigmoid, sigmoid_initial_guess};
use common::output::Output;
use common::patching::{prompt_pair, prompt_pair_rows};
use common::plot::tab::{BLUE, RED};
use common::plot::{
    vocabulary_panel, Figure, LegendPos, MarkedToken, Marker, Panel, Rgb, Series, Style, BLACK,
    GREY,
};
use common::{HookedModel, PaddingSide};
use ndarray::Array1;
use patch::{ioi_score, patch_last_position, position_distance};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use tch::Tensor;

const PROJECT: &str = "project32_ioi_patching";
const TEXT_ME: &str = "When Mike and Emma went to the cafe, Mike gave a coffee to";
const TEXT_EM: &str = "When Mike and Emma went to the cafe, Emma gave a coffee to";
const GREEN: Rgb = (0, 128, 0);
const MAGENTA: Rgb = (255, 0, 255);

/// Activation patching of the last position along GPT-2-XL's depth in an IOI sentence.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The block Part 2 patches [default: n_layer − 2 = 46 for gpt2-xl].
    #[arg(long)]
    patch_layer: Option<usize>,
}

/// The clean runs of Part 1 that the later parts reuse.
struct Clean {
    em: common::Batch,
    hs_me: Vec<Tensor>,
    hs_em: Vec<Tensor>,
    logits_me: Vec<f64>,
    logits_em: Vec<f64>,
    ioi_me: f64,
    ioi_em: f64,
    mike: u32,
    emma: u32,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;

    // Fail fast: the model is found (and checked to be a decoder) before anything runs.
    let model_id = args.common.model_or("gpt2-xl");
    let (_, cfg) = args.common.resolve_decoder(
        &model_id,
        "IOI patching needs a causal decoder with an LM head (GPT-2, GPT-Neo or GPT-NeoX) — pass one with --model",
    )?;
    ensure!(cfg.n_layers >= 2, "the model needs at least 2 blocks");
    let patch_layer = args.patch_layer.unwrap_or(cfg.n_layers - 2);
    ensure!(
        patch_layer < cfg.n_layers,
        "--patch-layer {patch_layer} is past the model's {} blocks",
        cfg.n_layers
    );
    let model = args.common.load_model(&model_id)?;
    let mut out = args.common.output(PROJECT)?;
    if args.common.quick {
        out.say(
            "--quick: tiny random GPT-2 (3 blocks, 16 dims) with GPT-2's tokenizer; the \
             numbers come from random weights and mean nothing",
        );
    }
    out.say(format!(
        "Model: {model_id} ({} blocks, d_model {}) on {}",
        model.cfg.n_layers,
        model.cfg.d_model,
        common::device::describe(model.device())
    ));

    let clean = part1_ioi_task(&mut out, &model)?;
    part2_patch_one_layer(&mut out, &model, &clean, patch_layer)?;
    let ioi = part3_layer_sweep(&mut out, &model, &clean)?;
    part4_simulated_sigmoid(&mut out, args.common.seed)?;
    part5_fit_ioi(&mut out, &clean, &ioi)?;
    out.finish()
}

fn last_logits(model: &HookedModel, batch: &common::Batch) -> Result<(Vec<Tensor>, Vec<f64>)> {
    let names = model.hidden_state_names();
    let mut run = model.run(
        batch,
        &common::RunOptions::default()
            .cache(common::Names::list(&names))
            .logits(common::LogitsAt::Last),
    )?;
    let logits = run.logits.take().context("no logits")?;
    let hs = model.take_hidden_states(&mut run.cache)?;
    Ok((hs, common::device::to_vec_f64(&logits.squeeze_dim(0))?))
}

fn argmax(v: &[f64]) -> usize {
    (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b })
}

/// A logits-vs-vocabulary-index panel with the two names marked.
fn logit_panel(title: &str, logits: &[f64], c: &Clean, ylabel: &str) -> Panel {
    vocabulary_panel(title, logits, ylabel, &names_marked(c))
}

/// The two names as the vocabulary panels mark them.
fn names_marked(c: &Clean) -> [MarkedToken<'static>; 2] {
    [
        MarkedToken {
            id: c.mike as usize,
            label: "\" Mike\"",
            color: GREEN,
            marker: Marker::Circle,
        },
        MarkedToken {
            id: c.emma as usize,
            label: "\" Emma\"",
            color: RED,
            marker: Marker::Square,
        },
    ]
}

fn part1_ioi_task(out: &mut Output, model: &HookedModel) -> Result<Clean> {
    out.say("\n== Part 1: the IOI task ==");
    let (ids_me, ids_em) = prompt_pair(&model.tokenizer, TEXT_ME, TEXT_EM)?;
    let name = |w: &str| {
        (model.tokenizer.single_token(w)).context("the IOI score compares two one-token names")
    };
    let (mike, emma) = (name(" Mike")?, name(" Emma")?);
    out.table(
        "part1_tokens",
        &["position", "id_ME", "id_EM", "token_ME", "token_EM"],
        &prompt_pair_rows(&model.tokenizer, &ids_me, &ids_em),
    )?;
    out.say(format!(
        "Target ids: \" Mike\" = {mike}, \" Emma\" = {emma}"
    ));
    let me = model.batch_from_ids(std::slice::from_ref(&ids_me), PaddingSide::Right)?;
    let em = model.batch_from_ids(std::slice::from_ref(&ids_em), PaddingSide::Right)?;
    let (hs_me, logits_me) = last_logits(model, &me)?;
    let (hs_em, logits_em) = last_logits(model, &em)?;
    out.say(format!(
        "Output keys: logits, hidden_states ({} tensors); hidden_states[0] shape {:?}",
        hs_me.len(),
        hs_me[0].size()
    ));
    for (text, logits) in [(TEXT_ME, &logits_me), (TEXT_EM, &logits_em)] {
        let next = model.tokenizer.decode(&[argmax(logits) as u32])?;
        out.say(format!("{text} \"{next}\""));
    }
    let ioi_me = ioi_score(&logits_me, mike, emma);
    let ioi_em = ioi_score(&logits_em, mike, emma);
    out.say(format!("IOI_ME = {ioi_me:.3}"));
    out.say(format!("IOI_EM = {ioi_em:.3}"));
    out.say(format!(
        "Antisymmetry: logit[Emma] − logit[Mike] for EM = {:.3} (= −IOI_EM)",
        ioi_score(&logits_em, emma, mike)
    ));
    let r = common::testing::reference::pearson(&logits_me, &logits_em);
    out.say(format!("Correlation of ME and EM final logits: r = {r:.4}"));

    let c = Clean {
        em,
        hs_me,
        hs_em,
        logits_me,
        logits_em,
        ioi_me,
        ioi_em,
        mike,
        emma,
    };
    let tail = &TEXT_EM[TEXT_EM.len() - 21..];
    let tail_me = &TEXT_ME[TEXT_ME.len() - 21..];
    let scatter = Panel::new("C) ME vs EM logits")
        .add(Series::scatter(
            c.logits_me.clone(),
            c.logits_em.clone(),
            Style::markers(BLACK, Marker::Circle).size(2).alpha(0.3),
        ))
        .xlabel("Logits for ME")
        .ylabel("Logits for EM");
    let fig = Figure::grid(18.0, 4.0, 1, 5)
        .panel_at(
            logit_panel(&format!("A) {tail}..."), &c.logits_em, &c, "Logit value"),
            0,
            0,
            1,
            2,
        )
        .panel_at(
            logit_panel(&format!("B) {tail_me}..."), &c.logits_me, &c, "Logit value"),
            0,
            2,
            1,
            2,
        )
        .panel_at(scatter, 0, 4, 1, 1);
    out.figure(&fig, "ch5_proj32_part1")?;
    Ok(c)
}

fn part2_patch_one_layer(
    out: &mut Output,
    model: &HookedModel,
    c: &Clean,
    layer: usize,
) -> Result<()> {
    out.say(format!(
        "\n== Part 2: patching block {layer}'s last position ==="
    ));
    let t = c.em.seq_len();
    let src = c.hs_me[layer + 1].get(0).get(t - 1);
    let p = patch_last_position(model, &c.em, &c.hs_em, &src, layer)?;
    let patched_ioi = ioi_score(&p.logits, c.mike, c.emma);
    out.say(format!("Clean IOI_EM = {:.3}", c.ioi_em));
    out.say(format!("Patched IOI (block {layer}) = {patched_ioi:.3}"));
    let delta: Vec<f64> = c
        .logits_em
        .iter()
        .zip(&p.logits)
        .map(|(a, b)| a - b)
        .collect();
    let abs: Vec<f64> = delta.iter().map(|d| d.abs()).collect();
    let top = common::testing::reference::extreme_indices(&abs, 20, true);
    let mut rows = Vec::new();
    out.say("Tokens with the largest |Δ| (clean − patched):");
    for &i in &top {
        let tok = model.tokenizer.decode(&[i as u32])?;
        out.say(format!("Δ (C-P) = {:.3} for \"{tok}\"", delta[i]));
        rows.push(vec![i.to_string(), tok, format!("{:.6}", delta[i])]);
    }
    out.table("part2_top20", &["token_id", "token", "delta"], &rows)?;
    let fig = Figure::grid(16.0, 4.0, 1, 3)
        .panel(logit_panel(
            "A) Clean model",
            &c.logits_em,
            c,
            "Logit value",
        ))
        .panel(logit_panel("B) Patched model", &p.logits, c, "Logit value"))
        .panel(
            logit_panel(
                "C) Manipulation effect",
                &delta,
                c,
                "<-- boost ---- suppress -->",
            )
            .ylim(-6.0, 6.0),
        );
    out.figure(&fig, "ch5_proj32_part2")?;
    Ok(())
}

/// The zero line, the two "Prefer" labels, the clean reference lines, y limits that
/// show both sides of zero, and integer layer ticks (Parts 3 and 5).
fn reference_lines(panel: Panel, c: &Clean, values: &[f64], n_layers: usize) -> Panel {
    let all: Vec<f64> = values
        .iter()
        .chain([&c.ioi_em, &c.ioi_me])
        .copied()
        .collect();
    let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
    let span = (hi - lo).max(hi.abs()).max(lo.abs()).max(1e-6);
    let (ylo, yhi) = (
        lo.min(-0.2 * span) - 0.05 * span,
        hi.max(0.2 * span) + 0.05 * span,
    );
    let step = (n_layers / 12).max(1);
    let ticks = (0..n_layers)
        .step_by(step)
        .map(|l| (l as f64, l.to_string()))
        .collect();
    panel
        .add(Series::hline(
            c.ioi_em,
            Style::line(BLUE).label("Clean \"EM\""),
        ))
        .add(Series::hline(
            c.ioi_me,
            Style::line(RED).label("Clean \"ME\""),
        ))
        .add(Series::hline(0.0, Style::line(GREY).dashed()))
        .add(Series::text(0.0, 0.03 * span, "Prefer \"Mike\"", 11, GREY))
        .add(Series::text(0.0, -0.09 * span, "Prefer \"Emma\"", 11, GREY))
        .ylim(ylo, yhi)
        .x_ticks(ticks)
        .xlim(-1.0, n_layers as f64)
}

fn part3_layer_sweep(out: &mut Output, model: &HookedModel, c: &Clean) -> Result<Vec<f64>> {
    out.say("\n== Part 3: patching sweep over blocks ==");
    let n = model.cfg.n_layers;
    let t = c.em.seq_len();
    let mut ioi = Vec::with_capacity(n);
    let mut rows = Vec::with_capacity(n);
    let mut blocks = 0;
    let mut self_patch_max = 0.0f64;
    let bar = common::progress::bar(n as u64, "patched runs");
    for l in 0..n {
        let src = c.hs_me[l + 1].get(0).get(t - 1);
        let p = patch_last_position(model, &c.em, &c.hs_em, &src, l)?;
        blocks += p.blocks_run;
        let check0 = position_distance(&p.h_next, &c.hs_me[l + 1], t - 2)?;
        let check1 = position_distance(&p.h_next, &c.hs_me[l + 1], t - 1)?;
        let score = ioi_score(&p.logits, c.mike, c.emma);
        ioi.push(score);
        rows.push(vec![
            l.to_string(),
            format!("{check0:.6e}"),
            format!("{check1:.6e}"),
            format!("{score:.6}"),
        ]);
        // Offline check 1 in the run itself (3 blocks, not counted in the work below):
        // EM patched with its own state is a no-op.
        if l + 1 < n && (l == 0 || l == (n - 2) / 2 || l == n - 2) {
            let own = c.hs_em[l + 1].get(0).get(t - 1);
            let q = patch_last_position(model, &c.em, &c.hs_em, &own, l)?;
            let d = q
                .logits
                .iter()
                .zip(&c.logits_em)
                .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
            self_patch_max = self_patch_max.max(d);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    out.say("Check matrix (‖H_patched[L+1] − H_ME[L+1]‖ at position T−2 | T−1):");
    for r in &rows {
        out.say(format!("  L{:>2}: {} | {}", r[0], r[1], r[2]));
    }
    out.table(
        "part3_check",
        &["layer", "check_pos_T-2", "check_pos_T-1", "ioi"],
        &rows,
    )?;
    out.say(format!(
        "Self-patch (EM with its own state, blocks 0, {}, {}): max |Δ logit| = {self_patch_max:e}",
        (n - 2) / 2,
        n - 2
    ));
    out.say(format!(
        "Block {}: patched with the reported (ln_f-applied) H[{n}], ln_f is applied twice: \
         IOI = {:.3}, check = {}",
        n - 1,
        ioi[n - 1],
        rows[n - 1][2]
    ));
    let full = n * n;
    out.say(format!(
        "Work saved by start_at: {blocks} block passes for the {n} patched runs instead of \
         {full} ({} saved, {:.0}%); logits at the last position only",
        full - blocks,
        100.0 * (full - blocks) as f64 / full as f64
    ));

    let xs: Vec<f64> = (0..n - 1).map(|l| l as f64).collect();
    let panel = reference_lines(
        Panel::new("Laminar profile of patch manipulation"),
        c,
        &ioi,
        n,
    )
    .add(Series::scatter(
        xs,
        ioi[..n - 1].to_vec(),
        Style::markers(BLACK, Marker::Circle)
            .size(6)
            .label("Patched EM"),
    ))
    .add(Series::scatter(
        vec![(n - 1) as f64],
        vec![ioi[n - 1]],
        Style::markers(RED, Marker::Cross)
            .size(9)
            .label("Last block (ln_f twice)"),
    ))
    .xlabel("Transformer layer (index)")
    .ylabel("IOI score")
    .legend_at(LegendPos::UpperRight);
    out.figure(&Figure::new(9.0, 5.0).panel(panel), "ch5_proj32_part3")?;
    Ok(ioi)
}

fn part4_simulated_sigmoid(out: &mut Output, seed: u64) -> Result<()> {
    out.say("\n== Part 4: curve fitting a simulated sigmoid ==");
    let truth = [10.0, 0.0, 1.0, 2.0];
    let x = Array1::linspace(-10.0, 10.0, 50);
    let mut rng = StdRng::seed_from_u64(seed);
    let noise = Normal::new(0.0, 1.0)?;
    let y = x.mapv(|v| sigmoid(v, &truth) + noise.sample(&mut rng));
    let data = Series::scatter(
        x.to_vec(),
        y.to_vec(),
        Style::markers(BLUE, Marker::Circle).size(6).label("Data"),
    );
    let panel = Panel::new("Simulated sigmoid data")
        .add(data.clone())
        .xlabel("x")
        .ylabel("y");
    out.figure(&Figure::new(7.0, 4.5).panel(panel), "ch5_proj32_part4a")?;

    let p0 = sigmoid_initial_guess(x.view(), y.view())?;
    let fit = fit_sigmoid(x.view(), y.view(), Some(p0))?;
    let names = [
        "A (amplitude)",
        "x0 (midpoint)",
        "k (steepness)",
        "b (floor)",
    ];
    let mut rows = Vec::new();
    out.say("Parameter       | Truth | Estim.");
    for i in 0..4 {
        out.say(format!(
            "{:<15} | {:>5} | {:.4}",
            names[i], truth[i], fit.params[i]
        ));
        rows.push(vec![
            names[i].to_string(),
            truth[i].to_string(),
            format!("{:.8}", fit.params[i]),
        ]);
    }
    out.table("part4_fit", &["parameter", "truth", "estimate"], &rows)?;
    let p = [fit.params[0], fit.params[1], fit.params[2], fit.params[3]];
    let xf = Array1::linspace(-10.0, 10.0, 200);
    let panel = Panel::new("Data and sigmoid fit")
        .add(data)
        .add(Series::line(
            xf.to_vec(),
            xf.iter().map(|&v| sigmoid(v, &p)).collect(),
            Style::line(GREEN).width(2).label("Model"),
        ))
        .add(Series::vline(
            p[1],
            Style::line(MAGENTA)
                .dashed()
                .label(&format!("x0 = {:.2}", p[1])),
        ))
        .xlabel("x")
        .ylabel("y")
        .legend_at(LegendPos::UpperLeft);
    out.figure(&Figure::new(7.0, 4.5).panel(panel), "ch5_proj32_part4b")?;
    Ok(())
}

fn part5_fit_ioi(out: &mut Output, c: &Clean, ioi: &[f64]) -> Result<()> {
    out.say("\n== Part 5: curve fitting the IOI scores ==");
    let n = ioi.len();
    let y = Array1::from(ioi[..n - 1].to_vec());
    let x = Array1::from_iter((0..n - 1).map(|l| l as f64));
    let mut panel =
        reference_lines(Panel::new("Data and sigmoid fit"), c, ioi, n).add(Series::scatter(
            x.to_vec(),
            y.to_vec(),
            Style::markers(BLACK, Marker::Circle)
                .size(6)
                .label("Experiment results"),
        ));
    // A 4-parameter fit needs more than 4 points: the tiny --quick model has 2.
    if y.len() > 4 {
        let p0 = sigmoid_initial_guess(x.view(), y.view())?;
        out.say(format!(
            "Initial guess [A, x0, k, b] = {}",
            common::output::fmt_floats(&p0, 3)
        ));
        // As scipy's curve_fit, the fit can fail (e.g. the evaluation budget runs out on a
        // flat profile); say so and draw the data alone rather than lose the run.
        let fit = match fit_sigmoid(x.view(), y.view(), Some(p0)) {
            Ok(f) => f,
            Err(e) => {
                out.say(format!("Sigmoid fit failed: {e:#}"));
                let panel = panel
                    .xlabel("Transformer layer (index)")
                    .ylabel("IOI score")
                    .legend_at(LegendPos::UpperRight);
                out.figure(&Figure::new(9.0, 5.0).panel(panel), "ch5_proj32_part5")?;
                return Ok(());
            }
        };
        let p = [fit.params[0], fit.params[1], fit.params[2], fit.params[3]];
        let r2 = fit.r_squared(y.view())?;
        out.say(format!(
            "Fitted A = {:.4}, x0 = {:.4}, k = {:.4}, b = {:.4} (R² = {r2:.4})",
            p[0], p[1], p[2], p[3]
        ));
        out.say(format!("Transition layer x0 = {:.2}", p[1]));
        let rows: Vec<Vec<String>> = ["A", "x0", "k", "b"]
            .iter()
            .zip(p)
            .map(|(n, v)| vec![n.to_string(), format!("{v:.8}")])
            .collect();
        out.table("part5_fit", &["parameter", "estimate"], &rows)?;
        let xf = Array1::linspace(0.0, (n - 2) as f64, 200);
        panel = panel
            .add(Series::line(
                xf.to_vec(),
                xf.iter().map(|&v| sigmoid(v, &p)).collect(),
                Style::line(GREEN).width(2).label("Model"),
            ))
            .add(Series::vline(
                p[1],
                Style::line(MAGENTA)
                    .dashed()
                    .label(&format!("x0 (L{:.1})", p[1])),
            ));
    } else {
        out.say(format!(
            "Sigmoid fit skipped: {} block(s) left after dropping the last; a 4-parameter \
             fit needs at least 5 (the --quick model is too shallow)",
            y.len()
        ));
        panel = reference_lines(
            Panel::new("Data (sigmoid fit skipped: too few blocks)"),
            c,
            ioi,
            n,
        )
        .add(Series::scatter(
            x.to_vec(),
            y.to_vec(),
            Style::markers(BLACK, Marker::Circle)
                .size(6)
                .label("Experiment results"),
        ));
    }
    let panel = panel
        .xlabel("Transformer layer (index)")
        .ylabel("IOI score")
        .legend_at(LegendPos::UpperRight);
    out.figure(&Figure::new(9.0, 5.0).panel(panel), "ch5_proj32_part5")?;
    Ok(())
}
