//! # Project 19 — LLM loss function
//!
//! **Question.** What exactly is the loss that language models are trained and
//! evaluated with? We build the negative log-likelihood (cross-entropy) by hand on three
//! toy logits, reproduce it with library functions, apply it to GPT-2's next-token
//! predictions on a short passage — by library, by hand and through the model's own
//! labelled loss, which must all agree — and ask what loss a model should get on random
//! tokens.
//!
//! **What to look for.**
//! - Parts 1–2: log-softmax followed by "minus the value at the target" *is* the
//!   cross-entropy. For the logits [-1, 2.3, 0.1] the losses are 3.4377, 0.1377 and
//!   2.3377: small when the target is the largest logit, never negative, and unchanged
//!   when the same constant is added to every logit.
//! - Part 3: the one-token shift — the logits at position i are scored against token
//!   i + 1, so a text of T tokens gives T − 1 predictions (the last position predicts
//!   past the end of the text and is dropped).
//! - Parts 3–5: three routes (library log-softmax + NLL, a loop by hand, the model's
//!   built-in loss with labels = inputs) give the same mean loss to ~1e-5: a few nats
//!   for fluent English. The per-token bars of Part 4 are very uneven: content words after
//!   an unusual context are expensive, function words and punctuation inside familiar
//!   phrases are cheap.
//! - Part 6: a uniform guesser scores ln(V) = ln(50257) = 10.8249 on any text. GPT-2 on
//!   uniformly random tokens does *worse* — consistently a few nats above ln(V) — because
//!   it is confidently wrong: it spends its probability on plausible tokens and leaves
//!   little for the truly random target.
//!
//! Run: `cargo run --release -p project19_llm_loss_function` (downloads `gpt2`, ~550 MB,
//! once). `--quick` runs offline in seconds on the tiny random GPT-2 in assets/ (GPT-2's
//! real tokenizer, 64-token context): Parts 1–2 are exact, Parts 3–6 exercise the same
//! code, but their losses are those of random weights and mean nothing.

mod text;

use anyhow::{bail, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::device::{to_vec_f32, to_vec_f64};
use common::output::{fmt_floats, thousands, Output};
use common::plot::{rgb_f, Colormap, Figure, LegendPos, Marker, Panel, Series, Style};
use common::{HookedModel, LogitsAt, PaddingSide, RunOptions};
use rand::{Rng, SeedableRng};
use tch::{Kind, Tensor};

const PROJECT: &str = "project19_llm_loss_function";
/// The toy logits of Parts 1–2 (three classes).
const TOY: [f64; 3] = [-1.0, 2.3, 0.1];

/// The negative log-likelihood by hand and by library, applied to GPT-2's next-token
/// predictions, and the loss of random tokens.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The passage scored in Parts 3–5 (one line) [default: the two sentences in
    /// src/text.rs, written for this project; the book scores a song lyric].
    #[arg(long)]
    text: Option<String>,
    /// Part 6: number of random sequences.
    #[arg(long, default_value_t = 10)]
    iterations: usize,
    /// Part 6: tokens per random sequence [default: 1024, GPT-2's context; the model's
    /// context when that is shorter (64 for the tiny --quick model)].
    #[arg(long)]
    seq_len: Option<usize>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    let mut out = args.common.output(PROJECT)?;
    let model_id = args.common.model_or("gpt2");
    // Fail fast: the model is found, loaded and checked (a decoder with a tokenizer, a
    // context long enough for the passage and the random sequences) before Part 1.
    args.common.resolve_models(&[&model_id])?;
    let model = args.common.load_model(&model_id)?;
    let text = args.text.clone().unwrap_or_else(|| text::TEXT.to_string());
    let seq_len = check_inputs(&model, &text, &args)?;
    if args.common.quick {
        out.say("--quick: tiny random GPT-2 from assets/ (GPT-2's real tokenizer); Parts 3-6 exercise the code, their losses are those of random weights and mean nothing.");
    }
    out.say(format!(
        "model (--model): {} ({} parameters, vocabulary {})",
        model.id,
        thousands(model.n_params()),
        thousands(model.cfg.vocab_size as i64)
    ));

    let manual = part1_manual_nll(&mut out)?;
    part2_library_nll(&manual, &mut out)?;
    let (ids, logits, loss3) = part3_next_token_cross_entropy(&model, &text, &mut out)?;
    let loss4 = part4_manual_token_losses(&model, &ids, &logits, &mut out)?;
    part5_builtin_loss(&model, &ids, [loss3, loss4], &mut out)?;
    part6_random_tokens(&model, args.iterations, seq_len, args.common.seed, &mut out)?;
    out.finish()
}

/// Everything that can stop the run, checked before Part 1: a causal LM with a
/// tokenizer, a passage of at least two tokens inside the context, random sequences no
/// longer than the context. Returns Part 6's sequence length.
fn check_inputs(model: &HookedModel, text: &str, args: &Args) -> Result<usize> {
    if model.cfg.arch.is_encoder() {
        bail!(
            "{} is a masked-LM encoder ({:?}): this project needs a decoder (a causal LM \
             such as gpt2, EleutherAI/gpt-neo-125M or EleutherAI/pythia-160m) whose logits \
             at position i predict token i + 1",
            model.id,
            model.cfg.arch
        );
    }
    let n_ctx = model.cfg.n_ctx;
    let n = model.tokenizer.require()?.encode(text)?.len();
    if n < 2 {
        bail!("--text must have at least two tokens (one prediction); it has {n}");
    }
    if n > n_ctx {
        bail!("--text is {n} tokens, longer than the model's context of {n_ctx}");
    }
    if args.iterations == 0 {
        bail!("--iterations must be at least 1");
    }
    match args.seq_len {
        Some(l) if l < 2 || l > n_ctx => {
            bail!("--seq-len must be in 2..={n_ctx} (the model's context), got {l}")
        }
        Some(l) => Ok(l),
        None => Ok(1024.min(n_ctx)),
    }
}

/// Part 1: log-softmax of three logits by hand (exp, normalise, log); the loss for a
/// target is minus the log-probability of that target. Returns the three losses.
fn part1_manual_nll(out: &mut Output) -> Result<Vec<f64>> {
    out.say("## Part 1: negative log-likelihood by hand");
    out.say(format!("logits: {}", fmt_floats(&TOY, 4)));
    let exps: Vec<f64> = TOY.iter().map(|z| z.exp()).collect();
    let total: f64 = exps.iter().sum();
    let log_softmax: Vec<f64> = exps.iter().map(|e| (e / total).ln()).collect();
    out.say(format!("log-softmax: {}", fmt_floats(&log_softmax, 4)));
    out.say(format!(
        "sum of exp(log-softmax) = {:.6}",
        log_softmax.iter().map(|l| l.exp()).sum::<f64>()
    ));
    let losses: Vec<f64> = log_softmax.iter().map(|l| -l).collect();
    let mut rows = vec![];
    for (k, loss) in losses.iter().enumerate() {
        out.say(format!(
            "Loss is {loss:.4} when correct output is index {k}"
        ));
        rows.push(vec![
            k.to_string(),
            format!("{}", log_softmax[k]),
            format!("{loss}"),
        ]);
    }
    out.table(
        "part1_manual_nll",
        &["target", "log_softmax", "loss"],
        &rows,
    )?;
    Ok(losses)
}

/// Library NLL of `logits` ([1, classes]: a batch of one) for one target index, with
/// mean reduction — what the book's `F.nll_loss(F.log_softmax(x, dim=1), target)` does.
fn library_nll(logits: &[f64], target: i64) -> Result<f64> {
    let x = Tensor::from_slice(logits)
        .to_kind(Kind::Float)
        .view([1, -1]);
    let logp = x.log_softmax(1, Kind::Float);
    let loss = logp.nll_loss(&Tensor::from_slice(&[target]));
    Ok(f64::try_from(loss)?)
}

/// Part 2: the same losses with libtorch's log-softmax and NLL loss (float32), then two
/// properties: adding a constant to every logit changes nothing, and the loss falls to 0
/// as the target's logit pulls ahead of the others.
fn part2_library_nll(manual: &[f64], out: &mut Output) -> Result<()> {
    out.say("\n## Part 2: negative log-likelihood by library (log_softmax + nll_loss)");
    // (The notebook's digression on Python scalars vs tensors has no Rust counterpart:
    // the loss comes back as a one-element tensor and is read with f64::try_from.)
    let mut rows = vec![];
    let mut max_diff = 0f64;
    for (k, m) in manual.iter().enumerate() {
        let lib = library_nll(&TOY, k as i64)?;
        max_diff = max_diff.max((lib - m).abs());
        out.say(format!(
            "library: Loss is {lib:.4} when correct output is index {k}"
        ));
        rows.push(vec![k.to_string(), format!("{lib}"), format!("{m}")]);
    }
    out.say(format!("max |library - manual| = {max_diff:.2e}"));
    out.table(
        "part2_library_nll",
        &["target", "library_loss", "manual_loss"],
        &rows,
    )?;

    out.say("\nadding a constant c to every logit (the softmax only sees differences):");
    let mut shift_rows = vec![];
    for c in [-50.0, 50.0] {
        let shifted: Vec<f64> = TOY.iter().map(|z| z + c).collect();
        let l: Vec<f64> = (0..3)
            .map(|k| library_nll(&shifted, k))
            .collect::<Result<_>>()?;
        out.say(format!("  c = {c:+}: losses {}", fmt_floats(&l, 4)));
        for (k, v) in l.iter().enumerate() {
            shift_rows.push(vec![format!("{c}"), k.to_string(), format!("{v}")]);
        }
    }
    out.table("part2_shifted", &["c", "target", "loss"], &shift_rows)?;

    out.say("target logit m above two others at 0 ([0, m, 0], target 1): the loss -> 0");
    let mut margin_rows = vec![];
    for m in [0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0] {
        let l = library_nll(&[0.0, m, 0.0], 1)?;
        out.say(format!("  m = {m:>4}: loss {l:.6}"));
        margin_rows.push(vec![format!("{m}"), format!("{l}")]);
    }
    out.table("part2_margin", &["margin", "loss"], &margin_rows)?;
    Ok(())
}

/// Part 3: next-token cross-entropy on the passage. The logits at position i predict
/// token i + 1, so the last position is not needed (it predicts past the text): logits
/// are computed at positions 0..T-2 only. Returns the ids, those logits [T-1, V] and the
/// library's mean loss.
fn part3_next_token_cross_entropy(
    model: &HookedModel,
    text: &str,
    out: &mut Output,
) -> Result<(Vec<u32>, Tensor, f64)> {
    out.say("\n## Part 3: cross-entropy of next-token predictions");
    out.say(format!("text: {text:?}"));
    let ids = model.tokenizer.encode(text)?; // no special tokens added
    let t = ids.len();
    let unique: std::collections::BTreeSet<u32> = ids.iter().copied().collect();
    out.say(format!("number of tokens: {t}"));
    // The notebook prints len(tokens) here for both counts (28 and 28): len of a
    // [1, T] tensor's set. The number of distinct ids is intended.
    out.say(format!("number of unique tokens: {}", unique.len()));
    out.say(format!("token ids: {ids:?}"));

    // Inputs are tokens[:-1], targets tokens[1:].
    out.say("Input | Target");
    let mut rows = vec![];
    for i in 0..t - 1 {
        let (a, b) = (ids[i], ids[i + 1]);
        let (sa, sb) = (
            model.tokenizer.decode_one(a)?,
            model.tokenizer.decode_one(b)?,
        );
        out.say(format!("{i:>3}  {:<16} | {sb:?}", format!("{sa:?}")));
        rows.push(vec![i.to_string(), a.to_string(), sa, b.to_string(), sb]);
    }
    out.table(
        "part3_input_target",
        &["position", "input_id", "input", "target_id", "target"],
        &rows,
    )?;

    let batch = model.batch_from_ids(std::slice::from_ref(&ids), PaddingSide::Right)?;
    let positions: Vec<i64> = (0..t as i64 - 1).collect();
    let run = model.run(
        &batch,
        &RunOptions::default().logits(LogitsAt::Positions(positions)),
    )?;
    let logits = run
        .logits
        .ok_or_else(|| anyhow::anyhow!("no logits"))?
        .squeeze_dim(0)
        .to_device(tch::Device::Cpu)
        .to_kind(Kind::Float); // [T-1, V]
    out.say(format!(
        "logits computed at {} of {t} positions (the last position predicts past the text: \
         its {} logits are never computed)",
        t - 1,
        thousands(model.cfg.vocab_size as i64)
    ));
    let targets = Tensor::from_slice(&ids[1..].iter().map(|&x| x as i64).collect::<Vec<_>>());
    out.say(format!("logits[:-1] shape: {:?}", logits.size()));
    out.say(format!("targets shape: {:?}", targets.size()));
    let loss = f64::try_from(logits.log_softmax(-1, Kind::Float).nll_loss(&targets))?;
    out.say(format!(
        "Part 3 loss (log_softmax + nll_loss, mean over {} predictions): {loss:.6}",
        t - 1
    ));
    Ok((ids, logits, loss))
}

/// Part 4: each prediction's loss by hand (log-sum-exp in float64, minus the target's
/// logit), their mean, and the bar chart of the per-token losses.
fn part4_manual_token_losses(
    model: &HookedModel,
    ids: &[u32],
    logits: &Tensor,
    out: &mut Output,
) -> Result<f64> {
    out.say("\n## Part 4: per-token losses by hand");
    let n = ids.len() - 1;
    let mut losses = Vec::with_capacity(n);
    for i in 0..n {
        let row = to_vec_f64(&logits.get(i as i64))?;
        // log_softmax(z)[k] = z[k] - logsumexp(z), with the max taken out for stability
        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + row.iter().map(|z| (z - m).exp()).sum::<f64>().ln();
        losses.push(lse - row[ids[i + 1] as usize]);
    }
    let mean = losses.iter().sum::<f64>() / n as f64;
    out.say(format!(
        "Part 4 mean of {n} per-token losses (by hand): {mean:.6}"
    ));

    let labels: Vec<String> = ids[1..]
        .iter()
        .map(|&t| model.tokenizer.decode_one(t))
        .collect::<Result<_>>()?;
    let mut rows = vec![];
    for (i, (l, s)) in losses.iter().zip(&labels).enumerate() {
        rows.push(vec![
            i.to_string(),
            ids[i + 1].to_string(),
            s.clone(),
            format!("{l}"),
        ]);
    }
    out.table(
        "part4_token_losses",
        &["position", "target_id", "target", "loss"],
        &rows,
    )?;
    let order = sorted_by(&losses);
    let name = |i: usize| format!("{:?} ({:.2})", labels[i], losses[i]);
    out.say(format!(
        "most expensive targets: {}",
        order
            .iter()
            .rev()
            .take(3)
            .map(|&i| name(i))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out.say(format!(
        "cheapest targets: {}",
        order
            .iter()
            .take(3)
            .map(|&i| name(i))
            .collect::<Vec<_>>()
            .join(", ")
    ));

    // Bar colour: magma colormap of the min-max scaled loss, as in the book.
    let (lo, hi) = (
        losses.iter().copied().fold(f64::INFINITY, f64::min),
        losses.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    let colors = losses
        .iter()
        .map(|l| Colormap::Magma.color(if hi > lo { (l - lo) / (hi - lo) } else { 0.5 }))
        .collect();
    let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let ticks = x.iter().copied().zip(labels.iter().cloned()).collect();
    let panel = Panel::new(&format!(
        "Per-token loss of each target (mean {mean:.3} nats)"
    ))
    .xlabel("Token")
    .ylabel("Loss")
    .x_ticks(ticks)
    .x_tick_angle(90.0)
    .xlim(-0.6, n as f64 - 0.4)
    .add(
        Series::bars(x, losses, colors)
            .with_edge((0, 0, 0))
            .with_label("loss"),
    );
    out.figure(&Figure::new(12.0, 4.0).panel(panel), "ch4_proj19_part4")?;
    Ok(mean)
}

/// Part 5: the model's own loss with labels = inputs (shifted internally, averaged over
/// the T − 1 predictions), which must equal Parts 3 and 4.
fn part5_builtin_loss(
    model: &HookedModel,
    ids: &[u32],
    [loss3, loss4]: [f64; 2],
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 5: the model's built-in loss (labels = inputs)");
    let batch = model.batch_from_ids(&[ids.to_vec()], PaddingSide::Right)?;
    let loss = model.loss(&batch)?;
    let (_, counted) = model.token_losses(&batch)?;
    let terms = i64::try_from(counted.sum(Kind::Int64))?;
    out.say(format!(
        "Part 5 built-in loss (HookedModel::loss, mean over {terms} predictions): {loss:.6}"
    ));
    let d = [
        (loss - loss3).abs(),
        (loss - loss4).abs(),
        (loss3 - loss4).abs(),
    ];
    out.say(format!(
        "|Part 5 - Part 3| = {:.2e}, |Part 5 - Part 4| = {:.2e}, |Part 3 - Part 4| = {:.2e}",
        d[0], d[1], d[2]
    ));
    Ok(())
}

/// `n` sequences of `len` token ids drawn uniformly from `0..vocab` (the end-of-text id
/// included), reproducibly from `seed`.
fn random_sequences(n: usize, len: usize, vocab: usize, seed: u64) -> Vec<Vec<u32>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            (0..len)
                .map(|_| rng.random_range(0..vocab as u32))
                .collect()
        })
        .collect()
}

/// Part 6: the expected loss of a uniform guesser, ln(V), against the model's loss on
/// uniformly random token sequences.
fn part6_random_tokens(
    model: &HookedModel,
    iterations: usize,
    seq_len: usize,
    seed: u64,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 6: loss on random tokens");
    let v = model.cfg.vocab_size;
    let expected = (v as f64).ln();
    out.say(format!(
        "expected loss of a uniform predictor: -ln(1/{v}) = ln({v}) = {expected:.4}"
    ));
    // A uniform guesser's logits are all equal: the same log-softmax + NLL as Part 3
    // then gives ln(V) for every possible target.
    for c in [0.0, 3.7] {
        let losses = to_vec_f32(
            &(Tensor::zeros([v as i64], (Kind::Float, tch::Device::Cpu)) + c)
                .log_softmax(0, Kind::Float)
                .neg(),
        )?;
        let lo = losses.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = losses.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        out.say(format!(
            "uniform logits (all {c}): loss over all {v} targets from {lo:.6} to {hi:.6}"
        ));
    }
    if seq_len < 1024 {
        out.say(format!(
            "random sequences of {seq_len} tokens (the book uses 1024; this model's context \
             is {})",
            model.cfg.n_ctx
        ));
    }
    let seqs = random_sequences(iterations, seq_len, v, seed);
    let pb = common::progress::bar(iterations as u64, "random sequences");
    let mut losses = vec![];
    let mut rows = vec![];
    for (k, s) in seqs.iter().enumerate() {
        let batch = model.batch_from_ids(std::slice::from_ref(s), PaddingSide::Right)?;
        let loss = model.loss(&batch)?; // labels = inputs
        pb.suspend(|| out.say(format!("iteration {k}: loss {loss:.4}")));
        pb.inc(1);
        losses.push(loss);
        rows.push(vec![
            k.to_string(),
            format!("{loss}"),
            s.iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(" "),
        ]);
    }
    pb.finish_and_clear();
    out.table("part6_random_tokens", &["iteration", "loss", "ids"], &rows)?;
    let mean = losses.iter().sum::<f64>() / losses.len() as f64;
    let (lo, hi) = (
        losses.iter().copied().fold(f64::INFINITY, f64::min),
        losses.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    out.say(format!(
        "empirical loss on random tokens: mean {mean:.4} (min {lo:.4}, max {hi:.4}), \
         {:+.4} nats from ln(V)",
        mean - expected
    ));
    if let Some(last) = seqs.last() {
        out.say(format!(
            "the last random sequence as text:\n{}",
            model.tokenizer.decode(last)?
        ));
    }

    let x: Vec<f64> = (0..iterations).map(|i| i as f64).collect();
    let ymin = lo.min(expected);
    let ymax = hi.max(expected);
    let pad = 0.15 * (ymax - ymin).max(0.2);
    let panel = Panel::new(&format!(
        "Loss on sequences of {seq_len} uniformly random tokens (expected ln(V) = {expected:.2})"
    ))
    .xlabel("Iteration")
    .ylabel("Loss")
    .xlim(-0.5, iterations as f64 - 0.5)
    .ylim(ymin - pad, ymax + pad)
    .add(Series::line(
        x,
        losses,
        Style::markers((0, 0, 0), Marker::Hexagon)
            .no_line()
            .size(9)
            .fill(rgb_f(1.0, 0.55, 0.55))
            .edge((0, 0, 0))
            .label("Empirical"),
    ))
    .add(Series::hline(
        expected,
        Style::line(rgb_f(0.45, 0.7, 1.0))
            .dashed()
            .width(2)
            .label("Expected"),
    ))
    .legend_at(LegendPos::Best);
    // One tick per iteration while they fit.
    let panel = if iterations <= 20 {
        panel.x_ticks((0..iterations).map(|i| (i as f64, i.to_string())).collect())
    } else {
        panel
    };
    out.figure(&Figure::new(8.0, 3.0).panel(panel), "ch4_proj19_part6")?;
    Ok(())
}

/// Indices of `v` from its smallest value to its largest.
fn sorted_by(v: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// -log_softmax(z)[k] in f64 (log-sum-exp with the max taken out).
    fn nll(z: &[f64], k: usize) -> f64 {
        let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        m + z.iter().map(|x| (x - m).exp()).sum::<f64>().ln() - z[k]
    }

    #[test]
    fn uniform_logits_give_ln_v_for_every_target() {
        for v in [2usize, 3, 10, 50257] {
            for c in [-20.0, 0.0, 1.5, 300.0] {
                let z = vec![c; v];
                for k in [0, v / 2, v - 1] {
                    assert!((nll(&z, k) - (v as f64).ln()).abs() < 1e-9, "{v} {c} {k}");
                }
                if v == 50257 {
                    // float32 library route, as Part 6 prints it
                    for k in [0, 25128, 50256] {
                        let l = library_nll(&z, k).unwrap();
                        assert!((l - 10.824905).abs() < 1e-4, "{c} {k}: {l}");
                    }
                }
            }
        }
    }

    #[test]
    fn loss_is_non_negative_shift_invariant_and_vanishes_with_margin() {
        for k in 0..3 {
            let base = library_nll(&TOY, k as i64).unwrap();
            assert!(base >= 0.0);
            assert!((base - nll(&TOY, k)).abs() < 1e-6);
            for c in [-30.0, 7.0, 45.0] {
                let z: Vec<f64> = TOY.iter().map(|x| x + c).collect();
                assert!((library_nll(&z, k as i64).unwrap() - base).abs() < 1e-5);
            }
        }
        let mut prev = f64::INFINITY;
        for m in [0.0, 1.0, 3.0, 10.0, 30.0] {
            let l = library_nll(&[0.0, m, 0.0], 1).unwrap();
            assert!(l >= 0.0 && l < prev, "{m}: {l}");
            assert!((l - (1.0 + 2.0 * (-m).exp()).ln()).abs() < 1e-6);
            prev = l;
        }
        assert!(library_nll(&[0.0, 40.0, 0.0], 1).unwrap() < 1e-12);
    }

    #[test]
    fn random_tokens_are_in_range_and_reproducible() {
        let a = random_sequences(10, 1024, 50257, 7);
        assert_eq!(a.len(), 10);
        assert!(a.iter().all(|s| s.len() == 1024));
        assert!(a.iter().flatten().all(|&t| t < 50257));
        assert_eq!(a, random_sequences(10, 1024, 50257, 7));
        assert_ne!(a, random_sequences(10, 1024, 50257, 8));
        // Uniform: 10,240 draws over 50,257 ids reach both ends of the range' halves and
        // have a mean near (V - 1) / 2 (sd of the mean ≈ 14,508 / sqrt(10,240) ≈ 143).
        let all: Vec<f64> = a.iter().flatten().map(|&t| t as f64).collect();
        let mean = all.iter().sum::<f64>() / all.len() as f64;
        assert!((mean - 25128.0).abs() < 5.0 * 143.0, "{mean}");
        assert!(all.iter().any(|&t| t < 1000.0) && all.iter().any(|&t| t > 49257.0));
    }

    #[test]
    fn the_passage_has_the_books_counts() {
        let t = common::tokenizer::Tokenizer::gpt2();
        let ids = t.encode(text::TEXT).unwrap();
        assert_eq!(ids.len(), 28);
        let unique: std::collections::BTreeSet<u32> = ids.iter().copied().collect();
        assert_eq!(unique.len(), 22);
        assert_eq!(t.decode(&ids).unwrap(), text::TEXT);
    }
}
