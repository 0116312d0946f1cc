//! # Project 16 — Softmax probability distributions
//!
//! **Question.** How does softmax turn a vector of real numbers — in particular GPT-2's
//! 50,257 output logits — into a probability distribution? How does a temperature
//! reshape it, and why does the textbook `exp(z) / Σ exp(z)` break on real logits?
//!
//! **What to look for.**
//! - Part 1: softmax is monotonic, sums to one and favours the largest values
//!   (6 and 6.1 take ~82% of the mass); by hand and by library agree.
//! - Part 2: low temperature sharpens (T = 0.3 is nearly one-hot), high flattens.
//! - Part 3: GPT-2's raw logits are all negative and their sum is a large negative
//!   number, yet the softmax sums to 1 and one token (" night") dominates.
//! - Part 4: the top-10 list under three temperatures, on a log axis.
//! - Part 5: in float32, `exp(z)` underflows to 0 below about -103.9 and overflows
//!   above about 88.7, so the naive softmax of real logits gives exact zeros or NaN;
//!   subtracting the maximum first fixes it and matches the library softmax.
//!
//! Run: `cargo run --release -p project16_softmax_distributions` (downloads `gpt2` and
//! `gpt2-large` once, ~3.6 GB). `--quick` uses the tiny random test model instead:
//! then Parts 3–5 only exercise the code, their numbers mean nothing.

use anyhow::Result;
use clap::Parser;
use common::cli::CommonArgs;
use common::device::to_vec_f32;
use common::output::{fmt_floats, thousands, Output};
use common::plot::{cycle_color, rgb_f, Figure, LegendPos, Marker, Panel, Series, Style};
use common::stats::{argmax, linspace, naive_softmax_f32, softmax, softmax_t, top_k};
use common::{HookedModel, LogitsAt, RunOptions};
use tch::{Kind, Tensor};

const PROJECT: &str = "project16_softmax_distributions";
const PROMPT: &str = "It was a dark and stormy";
const PROMPT5: &str = "A plethora of platypuses.";

/// Softmax by hand and by library, temperature, and numerical stability on GPT-2 logits.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The larger model compared with `--model` in Part 5 [default: gpt2-large; the tiny
    /// GPT-2 under --quick].
    #[arg(long)]
    large_model: Option<String>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    let mut out = args.common.output(PROJECT)?;
    // Both models are found (downloaded if needed) before Part 1; loaded when used.
    let small_id = args.common.model_or("gpt2");
    let large_id = args
        .common
        .other_model_or(args.large_model.as_deref(), "gpt2-large");
    args.common.resolve_models(&[&small_id, &large_id])?;
    if args.common.quick {
        out.say("--quick: tiny random GPT-2 from assets/; Parts 3-5 exercise the code, their values mean nothing.");
    }
    out.say(format!("model of Parts 3-5 (--model): {small_id}"));
    out.say(format!(
        "larger model of Part 5 (--large-model): {large_id}"
    ));
    part1_softmax_by_hand(&mut out)?;
    part2_temperature(&mut out)?;

    let small = args.common.load_model(&small_id)?;
    out.say(format!(
        "\n{}: {} parameters",
        small.id,
        thousands(small.n_params())
    ));
    let logits = part3_gpt2_softmax(&small, &mut out)?;
    part4_top10_and_temperature(&small, &logits, &mut out)?;

    let large = args.common.load_model(&large_id)?;
    out.say(format!(
        "{}: {} parameters",
        large.id,
        thousands(large.n_params())
    ));
    part5_numerical_stability(&small, &large, &mut out)?;
    out.finish()
}

/// Last-position logits of `text` (float32, length = vocabulary size).
fn last_logits(model: &HookedModel, text: &str) -> Result<Vec<f32>> {
    let toks = model.to_tokens(text)?;
    let out = model.run(&toks, &RunOptions::default().logits(LogitsAt::Last))?;
    let logits = out.logits.ok_or_else(|| anyhow::anyhow!("no logits"))?; // [1, vocab]
    to_vec_f32(&logits)
}

fn indices(n: usize) -> Vec<f64> {
    (0..n).map(|i| i as f64).collect()
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Part 1: softmax of a short list, by hand (float64) and by libtorch (float32).
fn part1_softmax_by_hand(out: &mut Output) -> Result<()> {
    out.say("## Part 1: softmax by hand and by library");
    let z = [1.0, 1.1, 2.0, 3.0, 5.0, 6.0, 6.1];
    // By hand, exactly as the formula reads: exp of each value over the sum of exps.
    let exps: Vec<f64> = z.iter().map(|x: &f64| x.exp()).collect();
    let total: f64 = exps.iter().sum();
    let manual: Vec<f64> = exps.iter().map(|e| e / total).collect();
    let library: Vec<f64> = f64s(&Vec::<f32>::try_from(
        Tensor::from_slice(&z.map(|x| x as f32)).softmax(0, Kind::Float),
    )?);
    out.say(format!("manual : {}", fmt_floats(&manual, 5)));
    out.say(format!("library: {}", fmt_floats(&library, 5)));
    let sum: f64 = manual.iter().sum();
    out.say(format!("sum of manual softmax = {sum}"));

    let panel = Panel::new(&format!("Σσ(z) = {}", fmt_g(sum)))
        .xlabel("Original number (z)")
        .ylabel("Softmax probability σ(z)")
        .add(Series::line(
            z.to_vec(),
            manual,
            Style::line((0, 0, 0))
                .marker(Marker::Square)
                .size(5)
                .fill(rgb_f(1.0, 0.6, 0.6))
                .edge((0, 0, 0))
                .label("Manual"),
        ))
        .add(Series::line(
            z.to_vec(),
            library,
            Style::line(cycle_color(0))
                .dotted()
                .marker(Marker::Cross)
                .size(6)
                .label("library (libtorch)"),
        ))
        .legend_at(LegendPos::UpperLeft);
    out.figure(&Figure::new(10.0, 5.0).panel(panel), "ch4_proj16_part1")?;
    Ok(())
}

/// Part 2: the same 55 numbers through softmax at four temperatures.
fn part2_temperature(out: &mut Output) -> Result<()> {
    out.say("\n## Part 2: temperature");
    let x = linspace(-5.0, 5.0, 55);
    let markers = [
        Marker::Square,
        Marker::Circle,
        Marker::Hexagon,
        Marker::TriangleUp,
    ];
    let mut panel = Panel::new("Softmax of 55 numbers at four temperatures")
        .xlabel("Original number")
        .ylabel("Softmax probability");
    for (i, (&t, m)) in [0.3, 0.6, 1.0, 1.4].iter().zip(markers).enumerate() {
        let p = softmax_t(&x, t);
        out.say(format!(
            "T = {t}: largest probability {:.4}, sum {:.6}",
            p[54],
            p.iter().sum::<f64>()
        ));
        panel = panel.add(Series::line(
            x.clone(),
            p,
            Style::line(cycle_color(i))
                .width(2)
                .marker(m)
                .size(4)
                .label(&format!("T = {t}")),
        ));
    }
    out.figure(
        &Figure::new(10.0, 5.0).panel(panel.legend_at(LegendPos::UpperLeft)),
        "ch4_proj16_part2",
    )?;
    Ok(())
}

/// Part 3: softmax of GPT-2's final-position logits for the prompt.
fn part3_gpt2_softmax(model: &HookedModel, out: &mut Output) -> Result<Vec<f32>> {
    out.say(format!("\n## Part 3: softmax of {} logits", model.id));
    let enc = model.tokenizer.encode_full(PROMPT)?;
    out.say(format!("{PROMPT:?} is {} tokens:", enc.ids.len()));
    for (id, s) in enc.ids.iter().zip(&enc.tokens) {
        out.say(format!("{id:>6}  {s:?}"));
    }
    let logits = last_logits(model, PROMPT)?;
    let probs = softmax(&f64s(&logits));
    let v = logits.len();
    out.say(format!("last-position logits: {v} values"));
    out.say(format!(
        "sum of raw logits: {:.3}",
        logits.iter().map(|&x| x as f64).sum::<f64>()
    ));
    out.say(format!("sum of softmax: {:.3}", probs.iter().sum::<f64>()));
    let best = argmax(&probs);
    out.say(format!(
        "argmax: index {best}, probability {:.3}, token {:?}",
        probs[best],
        model.tokenizer.decode_one(best as u32)?
    ));

    let idx = indices(v);
    let dots = |c, m| Style::markers(c, m).size(2);
    let xlim = (-10.0, v as f64 + 9.0);
    let fig = Figure::grid(12.0, 3.0, 1, 3)
        .panel(
            Panel::new("A) All final token logits")
                .xlabel("Token index")
                .ylabel("Raw logit")
                .xlim(xlim.0, xlim.1)
                .add(Series::scatter(
                    idx.clone(),
                    f64s(&logits),
                    dots(cycle_color(0), Marker::Square),
                )),
        )
        .panel(
            Panel::new("B) Softmax probabilities")
                .xlabel("Token index")
                .ylabel("Probability")
                .xlim(xlim.0, xlim.1)
                .add(Series::scatter(
                    idx,
                    probs.clone(),
                    dots(cycle_color(1), Marker::Circle),
                )),
        )
        .panel(
            Panel::new("C) Logits by probabilities")
                .xlabel("Raw logit")
                .ylabel("Probability")
                .add(Series::scatter(
                    f64s(&logits),
                    probs,
                    dots(cycle_color(2), Marker::TriangleUp),
                )),
        );
    out.figure(&fig, "ch4_proj16_part3")?;
    Ok(logits)
}

/// Part 4: the ten most likely next tokens, and how temperature reshapes the top 10.
fn part4_top10_and_temperature(
    model: &HookedModel,
    logits: &[f32],
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 4: top-10 tokens and temperature");
    let k = 10;
    let probs = softmax(&f64s(logits));
    out.say(format!("{PROMPT} ___"));
    let mut rows = vec![];
    for (rank, (id, p)) in top_k(&probs, k).into_iter().enumerate() {
        let tok = model.tokenizer.decode_one(id as u32)?;
        out.say(format!("{id:>5}  {:>5.1}%  {tok:?}", 100.0 * p));
        rows.push(vec![
            rank.to_string(),
            id.to_string(),
            format!("{p:.8}"),
            tok,
        ]);
    }
    out.table(
        "part4_top10",
        &["rank", "token_id", "probability", "token"],
        &rows,
    )?;

    let markers = [Marker::Square, Marker::Circle, Marker::TriangleUp];
    let mut panel = Panel::new("Top-10 probabilities at three temperatures")
        .xlabel("Top-10 indices")
        .ylabel("Softmax probabilities (log)")
        .log_y();
    for (i, (&t, m)) in [0.5, 1.0, 1.5].iter().zip(markers).enumerate() {
        let p = softmax_t(&f64s(logits), t);
        let top: Vec<f64> = top_k(&p, k).into_iter().map(|x| x.1).collect();
        out.say(format!(
            "T = {t}: top-1 {:.4}, top-10 {:.4}",
            top[0],
            top[k - 1]
        ));
        // grey, with the i-th colour channel raised, as in the book
        let mut c = [0.7, 0.7, 0.7];
        c[i] = 0.9;
        let style = Style::line(rgb_f(c[0], c[1], c[2]))
            .marker(m)
            .size(5)
            .fill(rgb_f(c[0], c[1], c[2]))
            .edge((0, 0, 0))
            .label(&format!("T = {t}"));
        panel = panel.add(Series::line(indices(k), top, style));
    }
    out.figure(
        &Figure::new(10.0, 5.0).panel(panel.legend()),
        "ch4_proj16_part4",
    )?;
    Ok(())
}

/// Part 5: why `exp(z)/Σexp(z)` fails in float32 on real logits, and the max trick.
fn part5_numerical_stability(
    small: &HookedModel,
    large: &HookedModel,
    out: &mut Output,
) -> Result<()> {
    out.say(format!("\n## Part 5: numerical instability ({PROMPT5:?})"));
    let ls = last_logits(small, PROMPT5)?;
    let ll = last_logits(large, PROMPT5)?;
    let shift = |v: &[f32]| {
        let m = v.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        v.iter().map(|x| x - m).collect::<Vec<f32>>()
    };
    let library = |v: &[f32]| -> Result<Vec<f32>> {
        Ok(Vec::<f32>::try_from(
            Tensor::from_slice(v).softmax(0, Kind::Float),
        )?)
    };
    let (ss, sl) = (shift(&ls), shift(&ll));
    let variants: [(&str, &str, Vec<f32>, Vec<f32>); 5] = [
        ("part5a", "raw logits", ls.clone(), ll.clone()),
        (
            "part5b",
            "naive softmax of raw logits",
            naive_softmax_f32(&ls),
            naive_softmax_f32(&ll),
        ),
        ("part5c", "logits minus their max", ss.clone(), sl.clone()),
        (
            "part5d",
            "naive softmax of max-subtracted logits",
            naive_softmax_f32(&ss),
            naive_softmax_f32(&sl),
        ),
        (
            "part5e",
            "library softmax of raw logits",
            library(&ls)?,
            library(&ll)?,
        ),
    ];
    out.say(format!(
        "small model raw logit [3000] = {}",
        ls.get(3000).copied().unwrap_or(f32::NAN)
    ));
    out.say(format!(
        "small model naive probability [1000] = {:e}",
        variants[1].2.get(1000).copied().unwrap_or(f32::NAN)
    ));
    for (name, m, naive) in [
        ("small", &small.id, &variants[1].2),
        ("large", &large.id, &variants[1].3),
    ] {
        let zeros = naive.iter().filter(|&&x| x == 0.0).count();
        let nans = naive.iter().filter(|x| x.is_nan()).count();
        let infs = naive.iter().filter(|x| x.is_infinite()).count();
        out.say(format!(
            "{name} ({m}) naive softmax of raw logits: {zeros} exact zeros, {nans} NaN, {infs} inf"
        ));
    }
    for (name, d, e) in [
        ("small", &variants[3].2, &variants[4].2),
        ("large", &variants[3].3, &variants[4].3),
    ] {
        let diff = d
            .iter()
            .zip(e.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        out.say(format!(
            "{name}: max |naive(max-subtracted) - library| = {diff:e}"
        ));
    }
    let v = ls.len();
    let xlim = (-10.0, v as f64 + 9.0);
    let black = Style::markers((0, 0, 0), Marker::Dot).size(1).alpha(0.2);
    let magenta = Style::markers((255, 0, 255), Marker::Dot)
        .size(1)
        .alpha(0.2);
    for (file, what, s, l) in &variants {
        let letters = *file != "part5e";
        let t = |letter: &str, title: &str| {
            if letters {
                format!("{letter}) {title}")
            } else {
                title.to_string()
            }
        };
        let fig = Figure::grid(12.0, 3.5, 1, 3)
            .suptitle(what)
            .panel(
                Panel::new(&t("A", "GPT-2 SMALL"))
                    .xlabel("Token index")
                    .ylabel(what)
                    .xlim(xlim.0, xlim.1)
                    .add(Series::scatter(indices(v), f64s(s), black.clone())),
            )
            .panel(
                Panel::new(&t("B", "GPT-2 LARGE"))
                    .xlabel("Token index")
                    .ylabel(what)
                    .xlim(xlim.0, xlim.1)
                    .add(Series::scatter(indices(l.len()), f64s(l), black.clone())),
            )
            .panel(
                Panel::new(&t("C", "Comparison of both models"))
                    .xlabel("GPT-2 small")
                    .ylabel("GPT-2 large")
                    .add(Series::scatter(f64s(s), f64s(l), magenta.clone())),
            );
        out.figure(&fig, &format!("ch4_proj16_{file}"))?;
    }
    Ok(())
}

/// Roughly C's `%g`: up to six significant digits, trailing zeros dropped.
fn fmt_g(x: f64) -> String {
    let s = format!("{:.6}", x);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::stats::entropy;

    #[test]
    fn temperature_properties() {
        let x = linspace(-5.0, 5.0, 55);
        // T = 1 is plain softmax
        assert_eq!(softmax_t(&x, 1.0), softmax(&x));
        // T -> 0 approaches one-hot at the argmax
        let cold = softmax_t(&[1.0, 3.0, 2.0], 0.01);
        assert!(cold[1] > 0.999999);
        // entropy strictly increases with T; ranking never changes
        let ts = [0.3, 0.6, 1.0, 1.4, 3.0];
        let h: Vec<f64> = ts.iter().map(|&t| entropy(&softmax_t(&x, t))).collect();
        assert!(h.windows(2).all(|w| w[0] < w[1]), "{h:?}");
        for &t in &ts {
            let order: Vec<usize> = top_k(&softmax_t(&x, t), 55).iter().map(|p| p.0).collect();
            assert_eq!(order[0], 54);
            assert_eq!(argmax(&softmax_t(&x, t)), 54);
        }
    }

    #[test]
    fn naive_versus_stable() {
        assert!(naive_softmax_f32(&[-200.0, -201.0])
            .iter()
            .all(|x| x.is_nan()));
        assert!(naive_softmax_f32(&[100.0, 0.0])[0].is_nan());
        for c in [1000.0, -1000.0] {
            let z = [1.0, 2.0, 3.0];
            let zc: Vec<f64> = z.iter().map(|x| x + c).collect();
            for (a, b) in softmax(&z).iter().zip(softmax(&zc)) {
                assert!((a - b).abs() < 1e-12);
            }
        }
        assert_eq!(fmt_g(1.0), "1");
        assert_eq!(fmt_g(0.99999999999), "1");
    }

    #[test]
    fn prompts_tokenize_as_in_the_spec() {
        let t = common::tokenizer::Tokenizer::gpt2();
        assert_eq!(
            t.encode(PROMPT).unwrap(),
            vec![1026, 373, 257, 3223, 290, 6388, 88]
        );
        assert_eq!(
            t.encode(PROMPT5).unwrap(),
            vec![32, 35146, 286, 40315, 4464, 2664, 13]
        );
        for p in [PROMPT, PROMPT5] {
            assert_eq!(t.decode(&t.encode(p).unwrap()).unwrap(), p);
        }
    }
}
