//! # Project 26 — Current layer = previous layer + adjustments
//!
//! **Question.** What exactly are the "hidden states" a model reports, and how do they
//! relate to the outputs of the attention and MLP sublayers? With capture hooks on
//! GPT-2 we check that each reported hidden state is a transformer block's output, that
//! the last one has the final LayerNorm applied on top, and that the residual stream is
//! a running sum: `H[L+1] = H[L] + attention output + MLP output`. And: what does a
//! capture hook hold after several forward passes?
//!
//! **What to look for.**
//! - Part 1: the block-5 capture equals `H[6]` exactly; the two curves coincide.
//! - Part 2: `‖H[i+1] − block i output‖` is exactly 0 for blocks 0–10 and large for
//!   block 11, because `H[12]` is `ln_f(block 11 output)` — which it equals exactly.
//! - Part 3: in block 10 the attention and MLP "adjustments" of a token are only weakly
//!   correlated, and Pearson and Spearman can disagree (a few big dimensions).
//! - Part 4: `H[10] + attn + mlp` rebuilds `H[11]` to float32 rounding (panel C is the
//!   identity line); layer 10 → 11 changes the stream little (panel A).
//! - Part 5: a capture that overwrites a slot holds only the latest pass; one that
//!   appends to a list holds one tensor per pass.
//!
//! Notation: `H[k]` is reported hidden state k (k = 0..12 for GPT-2 small).
//!
//! Run: `cargo run --release -p project26_residual_adjustments` (downloads `gpt2` once,
//! ~0.5 GB). `--quick` runs the tiny random GPT-2 from assets/ (3 blocks, d_model 16,
//! GPT-2's real tokenizer) on the same sentences, with the block, dimension and layers
//! scaled to fit it (block 1, dimension 11, layer 1, MLP layer 2): every identity holds
//! there too, the correlations are of random weights and mean nothing.

mod capture;

use anyhow::{bail, Result};
use capture::{column, flat_from, frobenius_diff, max_abs_diff, row, shape};
use capture::{CapturingModel, Mode};
use clap::Parser;
use common::cli::CommonArgs;
use common::output::Output;
use common::plot::{rgb_f, Figure, LegendPos, Marker, Panel, Series, Style};
use common::stats::{pearson, spearman};
use std::collections::BTreeMap;

const PROJECT: &str = "project26_residual_adjustments";
/// The main sentence (17 GPT-2 tokens).
const SENTENCE: &str =
    "Plants make fantastic pets because they don't leave a mess after you feed them.";
/// Part 5: the overwrite capture's sentence, then the append capture's four.
const CORN: &str = "I like corn";
const PART5_SENTENCES: [&str; 4] = [
    "I like chocolate.",
    "I still like chocolate.",
    "You know the shape my breath will take before I let it out.",
    "Four score and seven years ago.",
];

/// Hidden states vs. hook captures, and the residual stream as a sum of adjustments.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Part 1: the block whose output is captured and compared with H[block + 1]
    /// [default: 5; 1 under --quick].
    #[arg(long)]
    block: Option<usize>,
    /// Part 1: the hidden dimension plotted [default: 123; 11 under --quick].
    #[arg(long)]
    dim: Option<usize>,
    /// Parts 3-4: the block whose attention and MLP outputs are captured [default: 10;
    /// 1 under --quick].
    #[arg(long)]
    layer: Option<usize>,
    /// Part 5: the block of the appending MLP capture [default: 4; 2 under --quick].
    #[arg(long)]
    mlp_layer: Option<usize>,
}

/// The spec's constants, or the tiny model's under --quick; an explicit flag wins.
struct Constants {
    block: usize,
    dim: usize,
    layer: usize,
    mlp_layer: usize,
}

impl Constants {
    fn from_args(a: &Args) -> Self {
        // Under --quick the tiny GPT-2 has 3 blocks of width 16: the spec's block 5,
        // dimension 123 and layers 10 and 4 do not exist, so the same roles are played
        // by block 1 (a block that is not the last), dimension 123 mod 16 = 11, layer 1
        // (the last block but one, as 10 is for GPT-2's 12) and layer 2.
        let q = a.common.quick;
        let pick = |flag: Option<usize>, book: usize, quick: usize| {
            flag.unwrap_or(if q { quick } else { book })
        };
        Constants {
            block: pick(a.block, 5, 1),
            dim: pick(a.dim, 123, 11),
            layer: pick(a.layer, 10, 1),
            mlp_layer: pick(a.mlp_layer, 4, 2),
        }
    }

    /// Every constant must exist in the model; blocks 1 and 3 must not be the last,
    /// whose reported hidden state has the final norm applied.
    fn check(&self, n_layers: usize, d_model: usize) -> Result<()> {
        for (flag, l) in [("--block", self.block), ("--layer", self.layer)] {
            if l + 1 >= n_layers {
                bail!(
                    "{flag} {l}: needs a block that is not the last (0..={}), since H[{n_layers}] \
                     has the final layer norm applied",
                    n_layers.saturating_sub(2)
                );
            }
        }
        if self.mlp_layer >= n_layers {
            bail!(
                "--mlp-layer {}: the model has {n_layers} blocks (0..={})",
                self.mlp_layer,
                n_layers - 1
            );
        }
        if self.dim >= d_model {
            bail!(
                "--dim {}: the model's d_model is {d_model} (0..={})",
                self.dim,
                d_model - 1
            );
        }
        Ok(())
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    let c = Constants::from_args(&args);
    let mut out = args.common.output(PROJECT)?;
    // The model is found (downloaded if needed) before Part 1.
    let model_id = args.common.model_or("gpt2");
    args.common.resolve_models(&[&model_id])?;
    if args.common.quick {
        out.say(
            "--quick: tiny random GPT-2 from assets/ (3 blocks, d_model 16) with block 1, \
             dimension 11, layer 1 and MLP layer 2 in place of the spec's 5, 123, 10 and 4; \
             the identities hold, the correlations are of random weights and mean nothing.",
        );
    }
    let mut model = CapturingModel::new(args.common.load_model(&model_id)?)?;
    let (n, d) = (model.model.cfg.n_layers, model.model.cfg.d_model);
    c.check(n, d)?;
    out.say(format!(
        "model: {} ({n} blocks, d_model {d}); block {}, dimension {}, layer {}, MLP layer {}",
        model.model.id, c.block, c.dim, c.layer, c.mlp_layer
    ));
    let enc = model.model.tokenizer.encode_full(SENTENCE)?;
    out.say(format!("{SENTENCE:?} is {} tokens:", enc.ids.len()));
    out.say(format!("ids: {:?}", enc.ids));
    out.say(format!("tokens: {:?}", enc.tokens));

    part1_hooks_and_hidden_states(&mut model, &c, &mut out)?;
    part2_final_layer_norm(&mut model, &mut out)?;
    let (attn, mlp) = part3_attention_and_mlp_adjustments(&mut model, &c, &enc.tokens, &mut out)?;
    part4_reconstruct_hidden_state(&mut model, &c, &attn, &mlp, &mut out)?;
    // Part 5 reloads the model, so the attached captures go with the old one.
    let fresh = || args.common.load_model(&model_id);
    part5_capture_semantics(model, fresh, &attn, &c, &mut out)?;
    out.finish()
}

/// Part 1: a capture on block `block`'s output equals the reported `H[block + 1]`.
fn part1_hooks_and_hidden_states(
    model: &mut CapturingModel,
    c: &Constants,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 1: hooks and hidden states");
    // A reference pass without any capture, to show that capturing changes nothing.
    let plain = model.run(SENTENCE)?;
    let point = format!("blocks.{}.hook_resid_post", c.block);
    let (h, cap) = model.attach(&point, Mode::Overwrite)?;
    let pass = model.run(SENTENCE)?;
    model.detach(h);
    out.say(format!(
        "hidden states: {} tensors (embeddings + {} blocks); the run cached {} of the \
         model's {} hook points",
        pass.hidden_states.len(),
        pass.hidden_states.len() - 1,
        pass.cached.0,
        pass.cached.1
    ));

    let hs = &pass.hidden_states[c.block + 1];
    let captured = cap.latest()?;
    out.say(format!("H[{}] shape: {}", c.block + 1, shape(hs)));
    out.say(format!(
        "captured block {} output ({point}) shape: {}",
        c.block,
        shape(&captured)
    ));
    let diff = hs - &captured;
    let nonzero = diff.ne(0.0).sum(tch::Kind::Int64).int64_value(&[]);
    out.say(format!(
        "H[{}] - captured: {nonzero} nonzero entries of {}",
        c.block + 1,
        diff.numel()
    ));
    out.say(format!(
        "Part 1: max |H[{}] - captured| = {}",
        c.block + 1,
        max_abs_diff(hs, &captured)
    ));
    let dlogits = plain
        .last_logits
        .iter()
        .zip(&pass.last_logits)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    out.say(format!(
        "max |last-position logits with the capture - without| = {dlogits}"
    ));
    out.say(format!(
        "argmax of the last-position logits: {}",
        common::stats::argmax(&pass.last_logits)
    ));
    // Detached: another pass (of another length) leaves the capture as it was.
    model.run(CORN)?;
    out.say(format!(
        "after detaching and running {CORN:?}: the capture holds {} tensor of shape {}",
        cap.len(),
        shape(&cap.latest()?)
    ));

    let hs_col = column(hs, c.dim as i64)?;
    let cap_col = column(&captured, c.dim as i64)?;
    let x: Vec<f64> = (0..hs_col.len()).map(|i| i as f64).collect();
    let light_blue = rgb_f(0.55, 0.75, 0.95);
    let panel = Panel::new(&format!(
        "Hidden state vs. transformer output from dimension {}",
        c.dim
    ))
    .xlabel("Token position")
    .ylabel("Activation")
    .add(Series::line(
        x.clone(),
        hs_col,
        Style::line(light_blue)
            .marker(Marker::Circle)
            .size(6)
            .fill(light_blue)
            .label(&format!("H[{}] (hidden state)", c.block + 1)),
    ))
    .add(Series::scatter(
        x,
        cap_col,
        Style::markers((220, 0, 0), Marker::Plus)
            .size(7)
            .label(&format!("block {} output (hook)", c.block)),
    ))
    .legend_at(LegendPos::Best);
    out.figure(&Figure::new(10.0, 4.0).panel(panel), "ch5_proj26_part1")?;
    Ok(())
}

/// Part 2: every block's output against the next hidden state; the last one differs by
/// the final layer norm.
fn part2_final_layer_norm(model: &mut CapturingModel, out: &mut Output) -> Result<()> {
    out.say("\n## Part 2: final hidden-layer normalisation");
    let n = model.model.cfg.n_layers;
    let mut handles = vec![];
    let mut caps = BTreeMap::new();
    for l in 0..n {
        let (h, cap) = model.attach(&format!("blocks.{l}.hook_resid_post"), Mode::Overwrite)?;
        handles.push(h);
        caps.insert(l, cap);
    }
    let pass = model.run(SENTENCE)?;
    for h in handles {
        model.detach(h);
    }
    out.say(format!(
        "capture keys: {:?} ({} attached after detaching)",
        caps.keys().collect::<Vec<_>>(),
        model.n_attached()
    ));
    let k = 3.min(n - 1);
    out.say(format!(
        "shape of entry {k}: {}",
        shape(&caps[&k].latest()?)
    ));

    let mut norms = vec![];
    for (&l, cap) in &caps {
        let v = frobenius_diff(&pass.hidden_states[l + 1], &cap.latest()?);
        out.say(format!("‖H[{}] - block {l} output‖_F = {v}", l + 1));
        norms.push(v);
    }
    let last = caps[&(n - 1)].latest()?;
    let normed = model.final_norm(SENTENCE, &last)?;
    out.say(format!(
        "max |ln_f(block {} output) - H[{n}]| = {}",
        n - 1,
        max_abs_diff(&normed, &pass.hidden_states[n])
    ));
    out.say(format!(
        "max |block {} output - H[{n}]| = {}",
        n - 1,
        max_abs_diff(&last, &pass.hidden_states[n])
    ));

    let x: Vec<f64> = (0..n).map(|l| l as f64).collect();
    let panel = Panel::new("Norm of the difference: H[i+1] minus block i's output")
        .xlabel("Transformer block index (i)")
        .x_ticks((0..n).map(|l| (l as f64, l.to_string())).collect())
        .ylabel("Frobenius norm of difference")
        .add(Series::line(
            x,
            norms,
            Style::line((90, 90, 90))
                .marker(Marker::Hexagon)
                .size(8)
                .fill(rgb_f(0.6, 0.8, 0.6))
                .edge((0, 0, 0)),
        ));
    out.figure(&Figure::new(8.0, 4.0).panel(panel), "ch5_proj26_part2")?;
    Ok(())
}

/// Part 3: the attention and MLP outputs ("adjustments") of block `layer`, and how
/// alike they are token by token. The two captures stay attached (see Part 5).
fn part3_attention_and_mlp_adjustments(
    model: &mut CapturingModel,
    c: &Constants,
    tokens: &[String],
    out: &mut Output,
) -> Result<(capture::Capture, capture::Capture)> {
    out.say(format!(
        "\n## Part 3: attention and MLP adjustments in block {}",
        c.layer
    ));
    // attn.c_proj's output is hook_attn_out, mlp.c_proj's is hook_mlp_out (dropout is
    // the identity in eval mode): what each sublayer adds to the residual stream.
    let (_, attn) = model.attach(
        &format!("blocks.{}.hook_attn_out", c.layer),
        Mode::Overwrite,
    )?;
    let (_, mlp) = model.attach(&format!("blocks.{}.hook_mlp_out", c.layer), Mode::Overwrite)?;
    model.run(SENTENCE)?;
    let (a, m) = (attn.latest()?, mlp.latest()?);
    out.say(format!("capture 'attn' = {}: {}", attn.point, shape(&a)));
    out.say(format!("capture 'mlp' = {}: {}", mlp.point, shape(&m)));

    let p = a.size()[1];
    let (mut rs, mut rhos, mut rows) = (vec![], vec![], vec![]);
    for t in 0..p {
        let (x, y) = (row(&a, t)?, row(&m, t)?);
        let (r, rho) = (pearson(&x, &y)?, spearman(&x, &y)?);
        rows.push(vec![
            t.to_string(),
            tokens.get(t as usize).cloned().unwrap_or_default(),
            format!("{r:.6}"),
            format!("{rho:.6}"),
        ]);
        rs.push(r);
        rhos.push(rho);
    }
    out.table(
        "part3_correlations",
        &["token_index", "token", "pearson", "spearman"],
        &rows,
    )?;
    for r in &rows {
        out.say(format!(
            "token {:>2} {:<14} r = {:>9}  ρ = {:>9}",
            r[0],
            format!("{:?}", r[1]),
            r[2],
            r[3]
        ));
    }

    let x: Vec<f64> = (0..p).map(|t| t as f64).collect();
    let mut pa = Panel::new("Attention vs. MLP adjustments")
        .xlabel("Token index")
        .ylabel("Correlation coefficient")
        .add(Series::hline(
            0.0,
            Style::line((110, 110, 110)).dotted().width(1),
        ));
    for t in 0..p as usize {
        pa = pa.add(Series::line(
            vec![x[t], x[t]],
            vec![rs[t], rhos[t]],
            Style::line((120, 120, 120)).dashed().width(1),
        ));
    }
    let light_red = rgb_f(1.0, 0.6, 0.6);
    let light_green = rgb_f(0.6, 0.9, 0.6);
    pa = pa
        .add(Series::scatter(
            x.clone(),
            rs,
            Style::markers(light_red, Marker::Square)
                .size(6)
                .edge((0, 0, 0))
                .label("Pearson"),
        ))
        .add(Series::scatter(
            x,
            rhos,
            Style::markers(light_green, Marker::Circle)
                .size(6)
                .edge((0, 0, 0))
                .label("Spearman"),
        ))
        .legend_at(LegendPos::Best);
    let last = p - 1;
    let pb = Panel::new(&format!(
        "Token {last} ({:?}): attention vs. MLP",
        tokens.get(last as usize).cloned().unwrap_or_default()
    ))
    .xlabel("Attention adjustment")
    .ylabel("MLP adjustment")
    .grid()
    .add(Series::scatter(
        row(&a, last)?,
        row(&m, last)?,
        Style::markers(rgb_f(0.4, 0.4, 0.8), Marker::Circle)
            .size(3)
            .alpha(0.6),
    ));
    out.figure(
        &Figure::grid(12.0, 4.0, 1, 2).panel(pa).panel(pb),
        "ch5_proj26_part3",
    )?;
    Ok((attn, mlp))
}

/// Part 4: `H[layer] + attn + mlp` rebuilds `H[layer + 1]`.
fn part4_reconstruct_hidden_state(
    model: &mut CapturingModel,
    c: &Constants,
    attn: &capture::Capture,
    mlp: &capture::Capture,
    out: &mut Output,
) -> Result<()> {
    let l = c.layer;
    out.say(format!(
        "\n## Part 4: reconstructing H[{}] from H[{l}]",
        l + 1
    ));
    // The captures from Part 3 are still attached; running again refreshes them with
    // the same values, so the pass's hidden states and the captures match.
    let pass = model.run(SENTENCE)?;
    let (hs_pre, hs_post) = (&pass.hidden_states[l], &pass.hidden_states[l + 1]);
    let (a, m) = (attn.latest()?, mlp.latest()?);
    let recon = hs_pre + &a + &m;
    for (name, t) in [
        ("hs_pre (H[L])", hs_pre),
        ("attn", &a),
        ("mlp", &m),
        ("hs_post (H[L+1])", hs_post),
    ] {
        out.say(format!("{name}: {}", shape(t)));
    }
    let err = frobenius_diff(&recon, hs_post);
    out.say(format!(
        "max |recon - hs_post| = {}",
        max_abs_diff(&recon, hs_post)
    ));
    out.say(format!("Frobenius norm of recon - hs_post = {err}"));

    // The same identity at every block that is not the last, in one pass with
    // temporary captures on each block's two sublayers.
    let n = model.model.cfg.n_layers;
    let mut tmp = vec![];
    let mut caps = vec![];
    for k in 0..n - 1 {
        let (ha, ca) = model.attach(&format!("blocks.{k}.hook_attn_out"), Mode::Overwrite)?;
        let (hm, cm) = model.attach(&format!("blocks.{k}.hook_mlp_out"), Mode::Overwrite)?;
        tmp.extend([ha, hm]);
        caps.push((ca, cm));
    }
    let all = model.run(SENTENCE)?;
    for h in tmp {
        model.detach(h);
    }
    let mut rows = vec![];
    for (k, (ca, cm)) in caps.iter().enumerate() {
        let rec = &all.hidden_states[k] + ca.latest()? + cm.latest()?;
        let e = max_abs_diff(&rec, &all.hidden_states[k + 1]);
        rows.push(vec![k.to_string(), format!("{e:e}")]);
    }
    out.table(
        "part4_residual_identity",
        &["layer", "max_abs_error"],
        &rows,
    )?;
    out.say(format!(
        "max |H[L] + attn_L + mlp_L - H[L+1]| for L = 0..{}: {}",
        n - 2,
        rows.iter()
            .map(|r| r[1].clone())
            .collect::<Vec<_>>()
            .join(", ")
    ));

    // Token 0 is left out of the plots: its activations are far larger than the rest.
    let (pre, post) = (flat_from(hs_pre, 1)?, flat_from(hs_post, 1)?);
    let (fa, fm, fr) = (flat_from(&a, 1)?, flat_from(&m, 1)?, flat_from(&recon, 1)?);
    let lim = 1.1
        * pre
            .iter()
            .chain(&post)
            .fold(0f64, |acc, v| acc.max(v.abs()));
    out.say(format!("axis limit (tokens 1..): ±{lim:.4}"));
    let dots = |rgb| Style::markers(rgb, Marker::Circle).size(2).alpha(0.4);
    let scatter = |title: &str, xl: &str, yl: &str, x: Vec<f64>, y: Vec<f64>, rgb| {
        Panel::new(title)
            .xlabel(xl)
            .ylabel(yl)
            .xlim(-lim, lim)
            .ylim(-lim, lim)
            .grid()
            .add(Series::scatter(x, y, dots(rgb)))
    };
    let fig = Figure::grid(15.0, 5.0, 1, 3)
        .panel(scatter(
            "A) Hidden state activations",
            &format!("H[{l}] (input to block {l})"),
            &format!("H[{}] (output of block {l})", l + 1),
            pre,
            post.clone(),
            (40, 40, 40),
        ))
        .panel(scatter(
            "B) Adjustments",
            "Attention output (attn.c_proj)",
            "MLP output (mlp.c_proj)",
            fa,
            fm,
            (30, 90, 200),
        ))
        .panel(scatter(
            "C) Reconstructed",
            &format!("H[{}] (reported)", l + 1),
            &format!("H[{l}] + attn + mlp"),
            post,
            fr,
            (200, 60, 60),
        ));
    out.figure(&fig, "ch5_proj26_part4")?;
    Ok(())
}

/// Part 5: an overwriting capture follows the latest pass; an appending one on a fresh
/// model keeps one tensor per pass.
fn part5_capture_semantics(
    model: CapturingModel,
    fresh: impl Fn() -> Result<common::HookedModel>,
    attn: &capture::Capture,
    c: &Constants,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 5: capture semantics across passes");
    let mut rows = vec![];
    // The Part-3 captures are still attached: this pass overwrites them.
    model.run(CORN)?;
    out.say(format!(
        "after {CORN:?}: capture 'attn' holds {} tensor, shape {}",
        attn.len(),
        shape(&attn.latest()?)
    ));
    rows.push(vec![
        CORN.to_string(),
        "overwrite".into(),
        attn.point.clone(),
        attn.len().to_string(),
        attn.all().iter().map(shape).collect::<Vec<_>>().join(" "),
    ]);
    drop(model);

    // A fresh copy of the model: no captures attached.
    let mut model = CapturingModel::new(fresh()?)?;
    out.say(format!(
        "reloaded {}: {} captures attached",
        model.model.id,
        model.n_attached()
    ));
    let (h, list) = model.attach(
        &format!("blocks.{}.hook_mlp_out", c.mlp_layer),
        Mode::Append,
    )?;
    let pb = common::progress::bar(PART5_SENTENCES.len() as u64, "appending passes");
    for (i, s) in PART5_SENTENCES.iter().enumerate() {
        model.run(s)?;
        pb.inc(1);
        let shapes: Vec<String> = list.all().iter().map(shape).collect();
        out.say(format!(
            "after {s:?}: a list of {} tensor(s), shapes {}",
            list.len(),
            shapes.join(", ")
        ));
        if i == 0 {
            out.say(format!(
                "type: list of [batch, tokens, d_model] tensors; length {}; element 0 shape {}",
                list.len(),
                shapes[0]
            ));
        }
        rows.push(vec![
            s.to_string(),
            "append".into(),
            list.point.clone(),
            list.len().to_string(),
            shapes.join(" "),
        ]);
    }
    pb.finish_and_clear();
    model.detach(h);
    model.run(CORN)?;
    out.say(format!(
        "after detaching and running {CORN:?}: the list still has {} tensors",
        list.len()
    ));
    rows.push(vec![
        format!("{CORN} (after detach)"),
        "append".into(),
        list.point.clone(),
        list.len().to_string(),
        list.all().iter().map(shape).collect::<Vec<_>>().join(" "),
    ]);
    out.table(
        "part5_captures",
        &["sentence", "mode", "hook_point", "stored", "shapes"],
        &rows,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_tokenize_as_in_the_spec() {
        let t = common::tokenizer::Tokenizer::gpt2();
        assert_eq!(
            t.encode(SENTENCE).unwrap(),
            vec![
                3646, 1187, 787, 9623, 17252, 780, 484, 836, 470, 2666, 257, 2085, 706, 345, 3745,
                606, 13
            ]
        );
        let lens: Vec<usize> = std::iter::once(CORN)
            .chain(PART5_SENTENCES)
            .map(|s| t.encode(s).unwrap().len())
            .collect();
        assert_eq!(lens, vec![3, 4, 5, 14, 7]);
    }

    #[test]
    fn constants_are_checked_against_the_model() {
        let c = Constants {
            block: 5,
            dim: 123,
            layer: 10,
            mlp_layer: 4,
        };
        assert!(c.check(12, 768).is_ok());
        assert!(c.check(3, 16).is_err());
        let last = Constants { layer: 11, ..c };
        assert!(last.check(12, 768).is_err());
    }
}
