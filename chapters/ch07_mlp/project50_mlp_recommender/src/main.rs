//! # Project 50 — Recommender systems with MLP projections
//!
//! **Question.** Can GPT-2's MLP output vectors work like item embeddings in a recommender
//! system? A "target" vector extrapolates from text A toward text B (2·B − A), and the
//! "recommendation" is the token of text C whose MLP output is most cosine-similar to it:
//! with text-average vectors and with every token pair, in one layer and in all layers.
//!
//! **What to look for.**
//! - Part 1: MLP output norms are uneven over layers and tokens; the first and last
//!   layers and a few tokens (punctuation, word pieces) stand out.
//! - Part 2: the mean vectors of A and B are similar (cs_AB clearly positive), dominated
//!   by a few outlier dimensions; the scatter has a bulk near 0.
//! - Parts 3–5: the recommended C token changes with the layer; maximum cosines are
//!   moderate; the best (A, B) pairs often share surface features (punctuation with
//!   punctuation, repeated words) — the limits of MLP outputs as semantic embeddings.
//!
//! These are the book's qualitative expectations; the machines this project is built on
//! reach no model hub, so they have not been checked on the real weights here.
//!
//! **How.** The book's forward hooks on `transformer.h[L].mlp.c_proj` are common's hook
//! point `blocks.{L}.hook_mlp_out` (the `c_proj` output before dropout and the residual
//! add), cached for all blocks in one pass per text. The first token of every text is
//! left out of every analysis.
//!
//! Run: `cargo run --release -p project50_mlp_recommender` (downloads `gpt2`, 0.5 GB,
//! once; three forward passes, seconds). `--quick` runs offline in seconds on the tiny
//! random GPT-2 in `assets/` (GPT-2's real tokenizer, 3 blocks, d = 16) on the same
//! texts; its last block (2) stands in for layer 6. Its weights are random: the numbers
//! check the code and mean nothing.

use anyhow::{ensure, Result};
use clap::Parser;
use common::cli::block_or;
use common::cli::CommonArgs;
use common::device::to_rows_f64;
use common::ml::descriptive::percentiles;
use common::output::{thousands, Output};
use common::plot::tab::{BLUE, ORANGE, PURPLE};
use common::plot::BLACK;
use common::plot::{
    markersize_px, Colormap, Figure, Heatmap, LegendPos, Marker, Panel, Rgb, Series, Style,
};
use common::tokenizer::Tokenizer;
use common::{HookedModel, LogitsAt, Names, RunOptions};

const PROJECT: &str = "project50_mlp_recommender";
const DPI: f64 = 100.0;
const GRAY: Rgb = (110, 110, 110);
/// The three texts, from Lewis Carroll's White Knight song ("Haddocks' Eyes").
const TEXTS: [(&str, &str); 3] = [
    (
        "A",
        "I'll tell thee everything I can; There's little to relate. I saw an aged aged man, \
         a-sitting on a gate.",
    ),
    (
        "B",
        "\"Who are you, aged man?\" I said. \"And how is it you live?\"",
    ),
    (
        "C",
        "And his answer trickled through my head, like water through a sieve.",
    ),
];
const SPEC_COUNTS: [usize; 3] = [29, 19, 16];
const SPEC_B: [u32; 19] = [
    1, 8241, 389, 345, 11, 9722, 582, 1701, 314, 531, 13, 366, 1870, 703, 318, 340, 345, 2107, 1701,
];
const SPEC_C: [u32; 16] = [
    1870, 465, 3280, 6908, 992, 832, 616, 1182, 11, 588, 1660, 832, 257, 264, 12311, 13,
];
const BOOK_LAYER: usize = 6;

/// Recommend a token of text C from GPT-2 MLP outputs by the analogy 2·B − A.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The layer of Parts 2 and 4 (the book's 6; default: 6, or the last block of a
    /// model with fewer).
    #[arg(long)]
    layer: Option<usize>,
}

/// One text: its decoded pieces and MLP outputs of tokens 1.. per layer.
struct Text {
    name: &'static str,
    /// Decoded tokens 1.. (the first token is left out).
    labels: Vec<String>,
    /// `[layer][token 1..][d]`.
    x: Vec<Vec<Vec<f64>>>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;

    let model_id = args.common.model_or("gpt2");
    let (files, cfg) = args.common.resolve_decoder(
        &model_id,
        "this project reads a GPT-2 model's MLP outputs with GPT-2's tokenizer; pass a GPT-2 checkpoint with --model",
    )?;
    let layer = block_or("layer", args.layer, BOOK_LAYER, cfg.n_layers, &model_id)?;
    let tokenizer = Tokenizer::for_model(&files)?;
    let mut encoded = vec![];
    for (name, text) in TEXTS {
        let ids = tokenizer.encode(text)?;
        ensure!(
            ids.len() >= 2,
            "text {name} gives {} token(s): at least 2 are needed (the first is left out)",
            ids.len()
        );
        ensure!(
            ids.len() <= cfg.n_ctx,
            "text {name} has {} tokens, more than {model_id}'s context of {}",
            ids.len(),
            cfg.n_ctx
        );
        encoded.push(ids);
    }

    let mut out = args.common.output(PROJECT)?;
    if args.common.quick {
        out.say(if args.common.model.is_none() {
            "--quick: the tiny random GPT-2 from assets/ (GPT-2's tokenizer, 3 blocks, d = 16) \
             stands in for gpt2; its weights are random, so every number below only exercises \
             the code"
        } else {
            "--quick with the --model given"
        });
    }
    if args.layer.is_none() && layer != BOOK_LAYER {
        out.say(format!(
            "this model has {} blocks: block {layer} (the last) stands in for the book's \
             layer {BOOK_LAYER}",
            cfg.n_layers
        ));
    }
    let model = args.common.load_model(&model_id)?;
    ensure!(
        model
            .hook_names()
            .iter()
            .any(|n| n == "blocks.0.hook_mlp_out"),
        "{model_id} has no hook point blocks.0.hook_mlp_out (the MLP output)"
    );
    out.say(format!(
        "{}: {} parameters, {} blocks, d_model = {}; eval, float32, no gradients, on {}",
        model.id,
        thousands(model.n_params()),
        model.cfg.n_layers,
        model.cfg.d_model,
        common::device::describe(model.device())
    ));

    out.say("\n## Data");
    let mut rows = vec![];
    for ((name, text), ids) in TEXTS.iter().zip(&encoded) {
        out.say(format!("text {name}: {text:?}"));
        let pieces: Vec<String> = ids
            .iter()
            .map(|&i| tokenizer.decode_one(i).map(|s| format!("{s:?}")))
            .collect::<Result<_>>()?;
        out.say(format!("  {} tokens: {}", ids.len(), pieces.join(", ")));
        out.say(format!("  ids: {ids:?}"));
        rows.push(vec![
            name.to_string(),
            ids.len().to_string(),
            (ids.len() - 1).to_string(),
        ]);
    }
    out.say("| text | tokens | n_toks (without the first) |");
    for r in &rows {
        out.say(format!("| {} | {} | {} |", r[0], r[1], r[2]));
    }
    out.table("token_counts", &["text", "tokens", "n_toks"], &rows)?;
    let counts: Vec<usize> = encoded.iter().map(Vec::len).collect();
    out.say(format!(
        "check 2: token counts {counts:?} (spec {SPEC_COUNTS:?}): {}; B ids as listed: {}; C \
         ids as listed: {}",
        counts == SPEC_COUNTS,
        encoded[1] == SPEC_B,
        encoded[2] == SPEC_C
    ));
    let sel = selected_tokens(counts[2] - 1);
    out.say(format!(
        "check 2: linspace(0, {}, 4) cast to int = {sel:?}",
        counts[2] - 2
    ));

    let texts = collect(&model, &tokenizer, &encoded, &mut out)?;
    part1_norms(&texts, &mut out)?;
    part2_average(&texts, layer, &mut out)?;
    part3_layers(&texts, &mut out)?;
    part4_pairs(&texts, layer, &sel, &mut out)?;
    part5_layer_pairs(&texts, &mut out)?;
    checks(&mut out)?;
    out.finish()
}

/// numpy `linspace(0, n - 1, 4).astype(int)`.
fn selected_tokens(n: usize) -> Vec<usize> {
    let stop = (n - 1) as f64;
    let step = stop / 3.0;
    (0..4)
        .map(|i| if i == 3 { stop } else { i as f64 * step })
        .map(|v| v as usize)
        .collect()
}

/// One forward pass per text caching every block's MLP output; offline check 4 (the
/// block output is its input plus the attention and MLP outputs).
fn collect(
    model: &HookedModel,
    tok: &Tokenizer,
    encoded: &[Vec<u32>],
    out: &mut Output,
) -> Result<Vec<Text>> {
    let n = model.cfg.n_layers;
    let mut texts = vec![];
    let mut recon: f64 = 0.0;
    for ((name, _), ids) in TEXTS.iter().zip(encoded) {
        let batch = model.batch_from_ids(std::slice::from_ref(ids), common::PaddingSide::Right)?;
        let names = Names::matching("blocks.*.hook_mlp_out")
            .and("blocks.*.hook_attn_out")
            .and("blocks.*.hook_resid_pre")
            .and("blocks.*.hook_resid_post");
        let run = model.run(
            &batch,
            &RunOptions::default().cache(names).logits(LogitsAt::None),
        )?;
        let mut x = vec![];
        for l in 0..n {
            let get = |s: &str| run.cache.get(&format!("blocks.{l}.{s}"));
            let mlp = get("hook_mlp_out")?.get(0); // [T, d]
            let sum = get("hook_resid_pre")?.get(0) + get("hook_attn_out")?.get(0) + &mlp;
            let d = (sum - get("hook_resid_post")?.get(0))
                .abs()
                .max()
                .double_value(&[]);
            recon = recon.max(d);
            let t = mlp.size()[0];
            x.push(to_rows_f64(&mlp.narrow(0, 1, t - 1))?);
        }
        let labels = ids[1..]
            .iter()
            .map(|&i| tok.decode_one(i))
            .collect::<Result<_>>()?;
        texts.push(Text { name, labels, x });
    }
    out.say(format!(
        "check 4: resid_pre + attention output + MLP output - block output: max |err| = \
         {recon:.3e} (every block, every text)"
    ));
    Ok(texts)
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    dot / (norm(a) * norm(b))
}

fn mean_rows(rows: &[Vec<f64>]) -> Vec<f64> {
    let n = rows.len() as f64;
    (0..rows[0].len())
        .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n)
        .collect()
}

/// `2·b − a`.
fn extrapolate(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| 2.0 * y - x).collect()
}

fn argmax(v: &[f64]) -> usize {
    // first maximum, as numpy's argmax
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

/// Rows reversed (origin lower) with y extent so that row r sits at y = r.
fn lower_heatmap(m: &[Vec<f64>], cmap: Colormap, lo: f64, hi: f64, x0: f64) -> Heatmap {
    let nr = m.len() as f64;
    let nc = m[0].len() as f64;
    Heatmap::new(m.iter().rev().cloned().collect(), cmap)
        .range(lo, hi)
        .extent((x0 - 0.5, x0 + nc - 0.5), (-0.5, nr - 0.5))
}

fn layer_ticks(n: usize) -> Vec<(f64, String)> {
    (0..n)
        .step_by(if n > 12 { 2 } else { 1 })
        .map(|l| (l as f64, l.to_string()))
        .collect()
}

/// Part 1: the norm of each MLP output (layers × tokens 1..), one heat map per text.
fn part1_norms(texts: &[Text], out: &mut Output) -> Result<()> {
    out.say("\n## Part 1: MLP projection norms");
    let mut fig = Figure::grid(16.0, 4.5, 1, 3);
    for t in texts {
        let norms: Vec<Vec<f64>> =
            t.x.iter()
                .map(|layer| layer.iter().map(|v| norm(v)).collect())
                .collect();
        let flat: Vec<f64> = norms.iter().flatten().copied().collect();
        let p = percentiles(&flat, &[5.0, 95.0])?;
        out.say(format!(
            "text {}: norm matrix [{}, {}]; 5th/95th percentile {:.4} / {:.4}; largest at \
             layer {}",
            t.name,
            norms.len(),
            norms[0].len(),
            p[0],
            p[1],
            {
                let per_layer: Vec<f64> = norms.iter().map(|r| mean_of(r)).collect();
                argmax(&per_layer)
            }
        ));
        let rows: Vec<Vec<String>> = norms
            .iter()
            .enumerate()
            .map(|(l, r)| {
                let mut row = vec![l.to_string()];
                row.extend(r.iter().map(|v| v.to_string()));
                row
            })
            .collect();
        let mut header = vec!["layer".to_string()];
        header.extend((1..=norms[0].len()).map(|i| format!("t{i}")));
        let h: Vec<&str> = header.iter().map(String::as_str).collect();
        out.table(&format!("part1_norms_{}", t.name), &h, &rows)?;
        let n = norms.len();
        let ncol = norms[0].len();
        fig = fig.panel(
            Panel::new(&format!("Norms of sentence {}", t.name))
                .heatmap(lower_heatmap(&norms, Colormap::Magma, p[0], p[1], 1.0).label("Norm"))
                .xlabel("Token position")
                .ylabel("Transformer layer")
                .y_ticks(layer_ticks(n))
                .x_ticks(
                    (1..=ncol)
                        .step_by(if ncol > 15 { 4 } else { 2 })
                        .map(|i| (i as f64, i.to_string()))
                        .collect(),
                ),
        );
    }
    out.figure(&fig, "ch7_proj50_part1")?;
    Ok(())
}

fn mean_of(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn rotated_labels(labels: &[String]) -> Vec<(f64, String)> {
    labels
        .iter()
        .enumerate()
        .map(|(i, s)| (i as f64, s.clone()))
        .collect()
}

/// Part 2: the token-average recommender in one layer.
fn part2_average(texts: &[Text], layer: usize, out: &mut Output) -> Result<()> {
    out.say(format!(
        "\n## Part 2: token-average recommender (layer {layer})"
    ));
    let (a, b, c) = (&texts[0], &texts[1], &texts[2]);
    let ma = mean_rows(&a.x[layer]);
    let mb = mean_rows(&b.x[layer]);
    let cs = cosine(&ma, &mb);
    let target = extrapolate(&ma, &mb);
    let cos_c: Vec<f64> = c.x[layer].iter().map(|v| cosine(v, &target)).collect();
    let best = argmax(&cos_c);
    out.say(format!("cs_AB = cos(mean_A, mean_B) = {cs:.6}"));
    out.say(format!(
        "cos(target, C token): [{}]",
        cos_c
            .iter()
            .map(|v| format!("{v:.4}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out.say(format!(
        "recommended token (layer {layer}): {:?} (C token {}, cosine {:.6})",
        c.labels[best], best, cos_c[best]
    ));
    // offline check 1 on these vectors
    let self_cos = cosine(&mb, &mb);
    let scaled: Vec<f64> = mb.iter().map(|v| 3.5 * v).collect();
    let dscale = c.x[layer]
        .iter()
        .map(|v| (cosine(v, &scaled) - cosine(v, &mb)).abs())
        .fold(0.0, f64::max);
    let same_target = extrapolate(&mb, &mb);
    let dsame = same_target
        .iter()
        .zip(&mb)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    let rec_same = argmax(
        &c.x[layer]
            .iter()
            .map(|v| cosine(v, &same_target))
            .collect::<Vec<_>>(),
    );
    let closest_b = argmax(
        &c.x[layer]
            .iter()
            .map(|v| cosine(v, &mb))
            .collect::<Vec<_>>(),
    );
    out.say(format!(
        "check 1: cos(mean_B, mean_B) - 1 = {:.3e}; max |cos(x, 3.5 mean_B) - cos(x, mean_B)| \
         over C = {dscale:.3e}",
        self_cos - 1.0
    ));
    out.say(format!(
        "check 1: A = B: max |2B - A - B| = {dsame}; recommendation {:?} (C token {}) = C token \
         closest to mean_B {:?} (C token {}): {}",
        c.labels[rec_same],
        rec_same,
        c.labels[closest_b],
        closest_b,
        rec_same == closest_b
    ));

    let dims: Vec<f64> = (0..ma.len()).map(|i| i as f64).collect();
    let pa = Panel::new(&format!("Mean MLP outputs (layer {layer})"))
        .add(Series::scatter(
            dims.clone(),
            ma.clone(),
            Style::markers(BLUE, Marker::Square)
                .size(markersize_px(4.0, DPI))
                .alpha(0.7)
                .label("Text A"),
        ))
        .add(Series::scatter(
            dims,
            mb.clone(),
            Style::markers(ORANGE, Marker::Circle)
                .size(markersize_px(4.0, DPI))
                .alpha(0.7)
                .label("Text B"),
        ))
        .xlabel("Embedding dimension")
        .ylabel("Activation")
        .legend_at(LegendPos::Best);
    let pb = Panel::new(&format!("Sc = {cs:.2}"))
        .add(Series::scatter(
            ma.clone(),
            mb.clone(),
            Style::markers(PURPLE, Marker::Circle)
                .size(markersize_px(4.0, DPI))
                .alpha(0.6),
        ))
        .xlabel("Text A mean")
        .ylabel("Text B mean");
    out.figure(
        &Figure::grid(12.0, 4.0, 1, 2).panel(pa).panel(pb),
        "ch7_proj50_part2a",
    )?;

    let xs: Vec<f64> = (0..cos_c.len()).map(|i| i as f64).collect();
    let p = Panel::new(&format!(
        "Recommendation from 2B − A (layer {layer}): \"{}\"",
        c.labels[best]
    ))
    .add(Series::hline(
        cos_c[best],
        Style::line(GRAY).dashed().width(1),
    ))
    .add(Series::vline(
        best as f64,
        Style::line(GRAY).dashed().width(1),
    ))
    .add(Series::scatter(
        xs,
        cos_c.clone(),
        Style::markers(BLUE, Marker::Hexagon)
            .size(markersize_px(10.0, DPI))
            .edge(BLACK)
            .label("cosine"),
    ))
    .x_ticks(rotated_labels(&c.labels))
    .x_tick_angle(45.0)
    .xlabel("Token of text C")
    .ylabel("Cosine similarity with target");
    out.figure(&Figure::new(9.0, 4.0).panel(p), "ch7_proj50_part2b")?;
    let rows: Vec<Vec<String>> = cos_c
        .iter()
        .enumerate()
        .map(|(k, v)| vec![k.to_string(), c.labels[k].clone(), v.to_string()])
        .collect();
    out.table("part2_cosines", &["token_index", "token", "cosine"], &rows)?;
    Ok(())
}

/// Part 3: the token-average recommendation in every layer.
fn part3_layers(texts: &[Text], out: &mut Output) -> Result<()> {
    out.say("\n## Part 3: recommendations through the layers");
    let (a, b, c) = (&texts[0], &texts[1], &texts[2]);
    let n = a.x.len();
    let mut p = Panel::new("Recommended token").bold_title();
    let mut rows = vec![];
    let mut maxes = vec![];
    for l in 0..n {
        let target = extrapolate(&mean_rows(&a.x[l]), &mean_rows(&b.x[l]));
        let cs: Vec<f64> = c.x[l].iter().map(|v| cosine(v, &target)).collect();
        let k = argmax(&cs);
        out.say(format!(
            "layer {l:2}: {:?} (C token {}), max cosine {:.6}",
            c.labels[k], k, cs[k]
        ));
        rows.push(vec![
            l.to_string(),
            k.to_string(),
            c.labels[k].clone(),
            cs[k].to_string(),
        ]);
        p = p.add(Series::text(l as f64, cs[k] + 0.05, &c.labels[k], 10, BLACK).bold());
        maxes.push(cs[k]);
    }
    let lo = maxes.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = maxes.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    p = p
        .add(Series::scatter(
            (0..n).map(|l| l as f64).collect(),
            maxes,
            Style::markers(BLUE, Marker::Hexagon)
                .size(markersize_px(10.0, DPI))
                .edge(BLACK)
                .label("max cosine"),
        ))
        .xlim(-0.7, n as f64 - 0.3)
        .ylim(lo - 0.1, hi + 0.15)
        .x_ticks(layer_ticks(n))
        .xlabel("Transformer layer")
        .ylabel("Max cosine similarity");
    out.figure(&Figure::new(10.0, 4.0).panel(p), "ch7_proj50_part3")?;
    out.table(
        "part3_recommendations",
        &["layer", "token_index", "token", "max_cosine"],
        &rows,
    )?;
    Ok(())
}

/// `cMat[i][j][k] = cos(2·x_B[j] − x_A[i], x_C[k])` in layer `l`.
fn cmat(texts: &[Text], l: usize) -> Vec<Vec<Vec<f64>>> {
    let (a, b, c) = (&texts[0].x[l], &texts[1].x[l], &texts[2].x[l]);
    a.iter()
        .map(|xa| {
            b.iter()
                .map(|xb| {
                    let t = extrapolate(xa, xb);
                    c.iter().map(|xc| cosine(&t, xc)).collect()
                })
                .collect()
        })
        .collect()
}

/// The (i, j) of the largest `m[i][j][k]`: the flat argmax over the row-major `[n_a,
/// n_b]` slice, unravelled as `(idx / n_b, idx % n_b)`.
fn best_pair(m: &[Vec<Vec<f64>>], k: usize) -> (usize, usize, f64) {
    let nb = m[0].len();
    let flat: Vec<f64> = m.iter().flat_map(|r| r.iter().map(|v| v[k])).collect();
    let idx = argmax(&flat);
    (idx / nb, idx % nb, flat[idx])
}

/// Part 4: every (A token, B token) pair in one layer.
fn part4_pairs(texts: &[Text], layer: usize, sel: &[usize], out: &mut Output) -> Result<()> {
    out.say(format!(
        "\n## Part 4: pairwise recommendations (layer {layer})"
    ));
    let (a, b, c) = (&texts[0], &texts[1], &texts[2]);
    let m = cmat(texts, layer);
    let (na, nb, nc) = (m.len(), m[0].len(), m[0][0].len());
    out.say(format!(
        "cMat: [{na}, {nb}, {nc}] = {} values",
        thousands((na * nb * nc) as i64)
    ));
    let mut fig = Figure::grid(5.0 * sel.len() as f64, 7.0, 1, sel.len());
    let mut rows = vec![];
    for (n, &k) in sel.iter().enumerate() {
        let (i, j, v) = best_pair(&m, k);
        let slice: Vec<Vec<f64>> = m.iter().map(|r| r.iter().map(|x| x[k]).collect()).collect();
        let mx = slice.iter().flatten().copied().fold(f64::MIN, f64::max);
        out.say(format!(
            "C token {k} {:?}: best pair ({:?} {:?}) = (A {i}, B {j}), cosine {v:.6}; check 3: \
             cMat at the unravelled argmax - max of the slice = {}",
            c.labels[k],
            a.labels[i],
            b.labels[j],
            v - mx
        ));
        rows.push(vec![
            k.to_string(),
            c.labels[k].clone(),
            i.to_string(),
            a.labels[i].clone(),
            j.to_string(),
            b.labels[j].clone(),
            v.to_string(),
        ]);
        let mut p = Panel::new(&format!(
            "Similarity with \"{}\"\n({} {})",
            c.labels[k], a.labels[i], b.labels[j]
        ))
        .heatmap(
            Heatmap::new(slice, Colormap::Magma)
                .range(0.05, 0.3)
                .label("Cosine"),
        )
        .x_ticks(rotated_labels(&b.labels))
        .x_tick_angle(90.0)
        .y_ticks(rotated_labels(&a.labels));
        if n == 0 {
            p = p.xlabel("Tokens from Text B").ylabel("Tokens from Text A");
        }
        fig = fig.panel(p);
    }
    out.figure(&fig, "ch7_proj50_part4")?;
    out.table(
        "part4_best_pairs",
        &[
            "c_index", "c_token", "a_index", "a_token", "b_index", "b_token", "cosine",
        ],
        &rows,
    )?;
    Ok(())
}

/// Part 5: the best pair for every C token in every layer.
fn part5_layer_pairs(texts: &[Text], out: &mut Output) -> Result<()> {
    out.say("\n## Part 5: layer-specific pair recommendations");
    let (a, b, c) = (&texts[0], &texts[1], &texts[2]);
    let n = a.x.len();
    let mut max_sim = vec![];
    let mut rows = vec![];
    for l in 0..n {
        let m = cmat(texts, l);
        out.say(format!("layer {l}:"));
        let mut row = vec![];
        for k in 0..c.labels.len() {
            let (i, j, v) = best_pair(&m, k);
            out.say(format!(
                "  \"{}\" is paired with ({},{})",
                c.labels[k], a.labels[i], b.labels[j]
            ));
            rows.push(vec![
                l.to_string(),
                k.to_string(),
                c.labels[k].clone(),
                i.to_string(),
                a.labels[i].clone(),
                j.to_string(),
                b.labels[j].clone(),
                v.to_string(),
            ]);
            row.push(v);
        }
        max_sim.push(row);
    }
    out.table(
        "part5_best_pairs",
        &[
            "layer", "c_index", "c_token", "a_index", "a_token", "b_index", "b_token", "max_sim",
        ],
        &rows,
    )?;
    let flat: Vec<f64> = max_sim.iter().flatten().copied().collect();
    let p = percentiles(&flat, &[5.0, 95.0])?;
    out.say(format!(
        "max_sim: [{n}, {}], 5th/95th percentile {:.4} / {:.4}",
        c.labels.len(),
        p[0],
        p[1]
    ));
    let panel = Panel::new("Best pair similarity per layer and C token")
        .heatmap(lower_heatmap(&max_sim, Colormap::Magma, p[0], p[1], 0.0).label("Max cosine"))
        .x_ticks(rotated_labels(&c.labels))
        .x_tick_angle(45.0)
        .y_ticks(layer_ticks(n))
        .xlabel("Token of text C")
        .ylabel("Transformer layer");
    out.figure(&Figure::new(9.0, 5.0).panel(panel), "ch7_proj50_part5")?;
    Ok(())
}

/// Offline check 5 (and check 1 on fixed vectors).
fn checks(out: &mut Output) -> Result<()> {
    out.say("\n## Offline checks on fixed numbers");
    let v: Vec<f64> = (1..=100).map(f64::from).collect();
    let p = percentiles(&v, &[5.0, 95.0])?;
    out.say(format!(
        "check 5: 5th and 95th percentiles of 1..100 = {} and {}",
        p[0], p[1]
    ));
    let u = [3.0, -1.0, 2.0];
    let w = [0.5, 4.0, -2.0];
    let s: Vec<f64> = w.iter().map(|x| 7.0 * x).collect();
    out.say(format!(
        "check 1: cos(u, u) = {}; cos(u, w) = {:.12}, cos(u, 7w) = {:.12}",
        cosine(&u, &u),
        cosine(&u, &w),
        cosine(&u, &s)
    ));
    let (i, j, _) = best_pair(
        &(0..28)
            .map(|i| {
                (0..18)
                    .map(|j| vec![-(((i * 18 + j) as f64) - 300.0).abs()])
                    .collect()
            })
            .collect::<Vec<_>>(),
        0,
    );
    out.say(format!(
        "check 3: argmax at flat index 300 of a (28, 18) slice unravels to ({i}, {j}) (300 / 18 \
         = {}, 300 % 18 = {})",
        300 / 18,
        300 % 18
    ));
    Ok(())
}
