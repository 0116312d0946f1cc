//! # Project 13 — Word similarity via distance and cosine
//!
//! **Question.** Euclidean distance and cosine similarity both find "nearby" embeddings:
//! when do they agree? (The book's notebook header calls this project 12; it is 13.)
//!
//! **What to look for.**
//! - Part 1: the three simulated cases have identical cosines per iteration (cosine is
//!   scale-invariant) but very different distances; distance and cosine are tightly
//!   related only for unit vectors (case 3, a deterministic curve).
//! - Part 2: for unit vectors cos = 1 − d²/2 exactly (errors at machine precision), and
//!   in general 2·x·y = x·x + y·y − d² (equation 1.15).
//! - Part 3: over BERT-large's 30522 tokens, distance to "beauty" and cosine similarity
//!   to it are only loosely related.
//! - Part 4: the closest tokens by distance are partly different from the most similar by
//!   cosine: vector norm is a confound for distance.
//! - Part 5: after unit-normalising every row, d = sqrt(2 − 2·cos), panel C is a perfect
//!   decreasing curve and the two top-10 lists coincide.
//!
//! Run: `cargo run --release -p project13_distance_vs_cosine_similarity` (downloads
//! bert-large-uncased once; only its embedding matrix is read).

use anyhow::{bail, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::device::to_vec_f64;
use common::embeddings::{token_embeddings, TokenEmbeddings};
use common::output::Output;
use common::plot::{rgb_f, sci_axis, Colormap, Figure, LegendPos, Marker, Panel, Series, Style};
use common::stats::{cosine, pearson};
use rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use tch::{Kind, Tensor};

const PROJECT: &str = "project13_distance_vs_cosine_similarity";
const SEED_WORD: &str = "beauty";
const TOP_K: usize = 10;

/// Euclidean distance vs cosine similarity: simulations, then BERT-large's embeddings.
///
/// `--quick` runs offline in seconds: the real all-MiniLM-L6-v2 embeddings (bert-base-uncased's
/// vocabulary, so "beauty" is id 5053 as in bert-large-uncased; 384-d) stand in for
/// BERT-large. Its neighbour lists are MiniLM's, not the book's.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Vector length of the simulations.
    #[arg(long, default_value_t = 768)]
    dim: usize,
    /// Iterations of each simulation.
    #[arg(long, default_value_t = 1000)]
    iterations: usize,
    /// Also print the book's Part 4 cosine list as it came out: the seed itself first
    /// (similarity NaN), then the 9 best others.
    #[arg(long)]
    reference_quirk: bool,
}

/// One value per case and iteration: `[3][iterations]`.
type PerCase = Vec<Vec<f64>>;

/// Simulation cases of Part 1.
const CASES: [&str; 3] = ["randn", "Unequal var.", "Normed"];

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    if args.dim < 2 || args.iterations < 2 {
        bail!("--dim and --iterations must be at least 2");
    }
    let mut out = args.common.output(PROJECT)?;
    // The model of Parts 3-5 is found (downloaded if needed) before the simulations.
    let model = args.common.bert_model_or("bert-large-uncased")?;
    args.common.resolve_embeddings(&[&model])?;
    if args.common.quick {
        out.say(
            "--quick: all-MiniLM-L6-v2 (real, 384-d) stands in for bert-large-uncased; \
                 its neighbours are MiniLM's, not the book's.",
        );
    }
    let mut rng = StdRng::seed_from_u64(args.common.seed);
    let (dist, cs) = part1_simulation(args.dim, args.iterations, &mut rng, &mut out)?;
    part2_identities(&dist, &cs, args.dim, args.iterations, &mut rng, &mut out)?;

    let emb = token_embeddings(&model)?;
    out.say(format!(
        "\n{}: embedding matrix {:?}",
        emb.model_id,
        emb.matrix.size()
    ));
    let seed = emb.single_token(SEED_WORD)?;
    out.say(format!("\"{SEED_WORD}\" -> [{seed}]"));
    let (euc, cossim) = part3_neighbours(&emb, seed, &emb.matrix, "ch3_proj13_part3", &mut out)?;
    part4_top_k(
        &emb,
        seed,
        &euc,
        &cossim,
        "part4",
        args.reference_quirk,
        &mut out,
    )?;
    part5_normalised(&emb, seed, &mut out)?;
    out.finish()
}

fn draw(rng: &mut StdRng, m: usize) -> Vec<f64> {
    (0..m).map(|_| StandardNormal.sample(rng)).collect()
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn euclid(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// One iteration of Part 1: (distance, cosine) for the three cases, from one draw.
fn three_cases(mut x: Vec<f64>, mut y: Vec<f64>) -> [(f64, f64); 3] {
    let c1 = (euclid(&x, &y), cosine(&x, &y));
    x.iter_mut().for_each(|v| *v /= 10.0); // case 2: x shrunk in place
    let c2 = (euclid(&x, &y), cosine(&x, &y));
    let (nx, ny) = (norm(&x), norm(&y));
    x.iter_mut().for_each(|v| *v /= nx); // case 3: both unit length,
    y.iter_mut().for_each(|v| *v /= ny); // so cosine = plain dot product
    let c3 = (euclid(&x, &y), dot(&x, &y));
    [c1, c2, c3]
}

/// Part 1: distance and cosine of random vector pairs in three cases. Returns
/// `dist[case][iteration]` and `cs[case][iteration]`.
fn part1_simulation(
    m: usize,
    k: usize,
    rng: &mut StdRng,
    out: &mut Output,
) -> Result<(PerCase, PerCase)> {
    out.say(format!(
        "## Part 1: cosine similarity vs Euclidean distance ({k} pairs of {m}-d vectors)"
    ));
    let (mut dist, mut cs) = (vec![vec![]; 3], vec![vec![]; 3]);
    for _ in 0..k {
        let (x, y) = (draw(rng, m), draw(rng, m));
        for (c, (d, s)) in three_cases(x, y).into_iter().enumerate() {
            dist[c].push(d);
            cs[c].push(s);
        }
    }
    // Cosine ignores scale: the three cases' cosines agree per iteration.
    let max_cos_diff = (0..k)
        .map(|i| (cs[0][i] - cs[1][i]).abs().max((cs[0][i] - cs[2][i]).abs()))
        .fold(0.0, f64::max);
    out.say(format!(
        "max cosine difference between cases = {max_cos_diff:.3e}"
    ));
    for c in 0..3 {
        out.say(format!(
            "case {} ({}): mean distance {:.3}, r(distance, cosine) = {:.3}",
            c + 1,
            CASES[c],
            dist[c].iter().sum::<f64>() / k as f64,
            pearson(&dist[c], &cs[c])?
        ));
    }
    let styles = [
        Style::markers(rgb_f(1.0, 0.7, 0.7), Marker::Hexagon).edge((200, 0, 0)),
        Style::markers(rgb_f(0.7, 1.0, 0.7), Marker::Circle).edge((0, 140, 0)),
        Style::markers(rgb_f(0.7, 0.7, 1.0), Marker::Square).edge((0, 0, 200)),
    ];
    let series = |c: usize| {
        Series::scatter(
            dist[c].clone(),
            cs[c].clone(),
            styles[c]
                .clone()
                .size(4)
                .alpha(0.6)
                .label(&format!("Case {}: {}", c + 1, CASES[c])),
        )
    };
    let mut all = Panel::new("Distance vs cosine similarity")
        .xlabel("Euclidean distance")
        .ylabel("Cosine similarity")
        .legend_at(LegendPos::UpperRight);
    for c in 0..3 {
        all = all.add(series(c));
    }
    out.figure(&Figure::new(6.4, 4.8).panel(all), "ch3_proj13_part1a")?;
    let mut fig = Figure::grid(10.0, 3.0, 1, 3);
    for (c, letter) in ["A", "B", "C"].iter().enumerate() {
        fig = fig.panel(
            Panel::new(&format!("{letter}) {}", CASES[c]))
                .xlabel("Euclidean distance")
                .ylabel("Cosine similarity")
                .add(series(c)),
        );
    }
    out.figure(&fig, "ch3_proj13_part1b")?;
    Ok((dist, cs))
}

/// Part 2: the identities linking distance and dot product, checked numerically.
fn part2_identities(
    dist: &[Vec<f64>],
    cs: &[Vec<f64>],
    m: usize,
    k: usize,
    rng: &mut StdRng,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 2: relationship between similarity and distance");
    // Equation 1.13, unit vectors: cos = 1 - d²/2.
    let err13: Vec<f64> = dist[2]
        .iter()
        .zip(&cs[2])
        .map(|(d, s)| s - (1.0 - d * d / 2.0))
        .collect();
    let max13 = err13.iter().map(|e| e.abs()).fold(0.0, f64::max);
    out.say(format!("max |case-3 error (eq. 1.13)| = {max13:.3e}"));
    let idx: Vec<f64> = (0..k).map(|i| i as f64).collect();
    out.figure(
        &Figure::new(8.0, 4.0).panel(
            error_panel("Case 3: cos − (1 − d²/2)", &idx, err13, "error")
                .xlabel("Simulation number"),
        ),
        "ch3_proj13_part2a",
    )?;

    // Fresh, unnormalised vectors: equations 1.14 (cosine form) and 1.15 (dot product).
    let (mut e14, mut e15, mut rel15) = (vec![], vec![], 0.0f64);
    for _ in 0..k {
        let (x, y) = (draw(rng, m), draw(rng, m));
        let (d, s) = (euclid(&x, &y), cosine(&x, &y));
        let (xtx, yty) = (dot(&x, &x), dot(&y, &y));
        let den = xtx.sqrt() * yty.sqrt();
        e14.push(2.0 * s - (xtx / den + yty / den - d * d / den));
        let e = 2.0 * dot(&x, &y) - (xtx + yty - d * d);
        rel15 = rel15.max(e.abs() / (xtx + yty));
        e15.push(e);
    }
    let max14 = e14.iter().map(|e| e.abs()).fold(0.0, f64::max);
    let max15 = e15.iter().map(|e| e.abs()).fold(0.0, f64::max);
    out.say(format!("max |eq. 1.14 error| = {max14:.3e}"));
    out.say(format!("max |eq. 1.15 error| = {max15:.3e}"));
    out.say(format!("max |eq. 1.15 error| / (x·x + y·y) = {rel15:.3e}"));
    out.figure(
        &Figure::grid(8.0, 6.0, 2, 1)
            .panel(error_panel(
                "Equation 1.15: 2x·y − (x·x + y·y − d²)",
                &idx,
                e15,
                "eq. 1.15",
            ))
            .panel(
                error_panel(
                    "Equation 1.14: 2cos − (x·x + y·y − d²)/(‖x‖‖y‖)",
                    &idx,
                    e14,
                    "eq. 1.14",
                )
                .xlabel("Simulation number"),
            ),
        "ch3_proj13_part2b",
    )?;
    Ok(())
}

/// A panel of errors vs simulation number; errors near 1e-15 need scientific y ticks.
fn error_panel(title: &str, idx: &[f64], err: Vec<f64>, label: &str) -> Panel {
    let ((lo, hi), ticks) = sci_axis(&err);
    Panel::new(title)
        .ylabel("Error")
        .ylim(lo, hi)
        .y_ticks(ticks)
        .add(Series::scatter(
            idx.to_vec(),
            err,
            Style::markers((0, 0, 0), Marker::Dot).size(2).label(label),
        ))
}

/// Min–max scaling to [0, 1] that ignores NaN (NaN stays NaN).
fn nan_minmax(v: &[f64]) -> Vec<f64> {
    let lo = v
        .iter()
        .copied()
        .filter(|x| !x.is_nan())
        .fold(f64::INFINITY, f64::min);
    let hi = v
        .iter()
        .copied()
        .filter(|x| !x.is_nan())
        .fold(f64::NEG_INFINITY, f64::max);
    v.iter().map(|x| (x - lo) / (hi - lo)).collect()
}

/// Distance and cosine of every row of `matrix` `[vocab, d]` to row `seed`, with the
/// seed's own entry set to NaN in both (the trivial self-match).
fn distances_and_cosines(matrix: &Tensor, seed: u32) -> Result<(Vec<f64>, Vec<f64>)> {
    let e = matrix.to_kind(Kind::Double); // [vocab, d]
    let v = e.get(seed as i64).unsqueeze(0); // [1, d], broadcast against every row
    let dist = (&e - &v)
        .square()
        .sum_dim_intlist(1, false, Kind::Double)
        .sqrt(); // [vocab]
    let cos = Tensor::cosine_similarity(&e, &v, 1, 1e-8); // [vocab]
    let (mut dist, mut cos) = (to_vec_f64(&dist)?, to_vec_f64(&cos)?);
    // The book NaNs the argmin of the distance and the argmax of the cosine: both are
    // the seed itself (distance exactly 0, cosine 1).
    let amin = argbest(&dist, |a, b| a < b);
    let amax = argbest(&cos, |a, b| a > b);
    dist[amin] = f64::NAN;
    cos[amax] = f64::NAN;
    if amin != seed as usize || amax != seed as usize {
        bail!(
            "the seed's self-match is not the extreme ({amin}, {amax} vs {seed}): duplicate rows?"
        );
    }
    Ok((dist, cos))
}

fn argbest(v: &[f64], better: impl Fn(f64, f64) -> bool) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if !x.is_nan() && (v[best].is_nan() || better(x, v[best])) {
            best = i;
        }
    }
    best
}

/// Part 3 (and Part 5 on normalised rows): distance and similarity to the seed for
/// every token, coloured by the other measure.
fn part3_neighbours(
    emb: &TokenEmbeddings,
    seed: u32,
    matrix: &Tensor,
    figure: &str,
    out: &mut Output,
) -> Result<(Vec<f64>, Vec<f64>)> {
    out.say(format!(
        "\n## {figure}: distance and similarity of every token to \"{SEED_WORD}\""
    ));
    let (euc, cossim) = distances_and_cosines(matrix, seed)?;
    let (euc_s, cos_s) = (nan_minmax(&euc), nan_minmax(&cossim));
    for (name, s) in [("distance", &euc_s), ("cosine", &cos_s)] {
        let fin: Vec<f64> = s.iter().copied().filter(|x| !x.is_nan()).collect();
        out.say(format!(
            "min-max scaled {name}: {} values in [{}, {}], exactly 0: {}, exactly 1: {}",
            fin.len(),
            fin.iter().copied().fold(f64::INFINITY, f64::min),
            fin.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            fin.iter().filter(|&&x| x == 0.0).count(),
            fin.iter().filter(|&&x| x == 1.0).count()
        ));
    }
    // NaN points (the seed) are dropped from the plots.
    let keep: Vec<usize> = (0..euc.len())
        .filter(|&i| !euc[i].is_nan() && !cossim[i].is_nan())
        .collect();
    let pick = |v: &[f64]| -> Vec<f64> { keep.iter().map(|&i| v[i]).collect() };
    let idx: Vec<f64> = keep.iter().map(|&i| i as f64).collect();
    let n = emb.vocab() as f64;
    let dot = Style::markers((0, 0, 0), Marker::Circle).size(2).alpha(0.4);
    let a = Panel::new(&format!(
        "Distance to \"{SEED_WORD}\", coloured by cosine similarity"
    ))
    .xlabel("Token index")
    .ylabel("Euclidean distance")
    .xlim(-20.0, n + 20.0)
    .add(Series::scatter_colored(
        idx.clone(),
        pick(&euc),
        dot.clone().label("cosine similarity (min-max)"),
        pick(&cos_s),
        Colormap::Plasma,
    ));
    let b = Panel::new(&format!(
        "Similarity to \"{SEED_WORD}\", coloured by distance"
    ))
    .xlabel("Token index")
    .ylabel("Cosine similarity")
    .xlim(-20.0, n + 20.0)
    .add(Series::scatter_colored(
        idx,
        pick(&cossim),
        dot.label("distance (min-max)"),
        pick(&euc_s),
        Colormap::Magma,
    ));
    let c = Panel::new("Distance vs similarity")
        .xlabel("Euclidean distance")
        .ylabel("Cosine similarity")
        .add(Series::scatter(
            pick(&euc),
            pick(&cossim),
            Style::markers(rgb_f(0.6, 0.6, 0.9), Marker::Circle)
                .size(3)
                .edge((0, 0, 0))
                .alpha(0.3)
                .label("tokens"),
        ));
    out.figure(
        &Figure::grid(15.0, 4.0, 1, 3).panel(a).panel(b).panel(c),
        figure,
    )?;
    Ok((euc, cossim))
}

/// The `k` indices with the smallest (`ascending`) or largest values, NaN excluded.
fn top_k_nan(v: &[f64], k: usize, ascending: bool) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).filter(|&i| !v[i].is_nan()).collect();
    idx.sort_by(|&a, &b| {
        let o = v[a].total_cmp(&v[b]);
        if ascending {
            o
        } else {
            o.reverse()
        }
    });
    idx.truncate(k);
    idx
}

/// Part 4: the 10 closest tokens by distance and the 10 most similar by cosine.
fn part4_top_k(
    emb: &TokenEmbeddings,
    seed: u32,
    euc: &[f64],
    cossim: &[f64],
    name: &str,
    reference_quirk: bool,
    out: &mut Output,
) -> Result<()> {
    out.say(format!("\n## {name}: top-{TOP_K} closest and most similar"));
    let close = top_k_nan(euc, TOP_K, true);
    let similar = top_k_nan(cossim, TOP_K, false);
    let tok = |i: usize| emb.tokenizer.decode_one(i as u32);
    for &i in &close {
        out.say(format!("Distance of {:.3} to \"{}\"", euc[i], tok(i)?));
    }
    out.say("");
    if reference_quirk {
        // The book sorted descending with the NaN-ed seed present: torch puts NaN first.
        out.say(format!("Similarity of nan to \"{}\"", tok(seed as usize)?));
        for &i in similar.iter().take(TOP_K - 1) {
            out.say(format!("Similarity of {:.3} to \"{}\"", cossim[i], tok(i)?));
        }
    } else {
        for &i in &similar {
            out.say(format!("Similarity of {:.3} to \"{}\"", cossim[i], tok(i)?));
        }
    }
    let mut sorted: Vec<f64> = cossim.iter().copied().filter(|x| !x.is_nan()).collect();
    sorted.sort_by(f64::total_cmp);
    out.say(format!(
        "sorted cosine similarities (ascending): {:.3} {:.3} {:.3} ... {:.3} {:.3} {:.3}",
        sorted[0],
        sorted[1],
        sorted[2],
        sorted[sorted.len() - 3],
        sorted[sorted.len() - 2],
        sorted[sorted.len() - 1]
    ));
    let rows: Vec<Vec<String>> = close
        .iter()
        .zip(&similar)
        .enumerate()
        .map(|(r, (&c, &s))| -> Result<Vec<String>> {
            Ok(vec![
                (r + 1).to_string(),
                c.to_string(),
                format!("{}", euc[c]),
                tok(c)?,
                s.to_string(),
                format!("{}", cossim[s]),
                tok(s)?,
            ])
        })
        .collect::<Result<_>>()?;
    out.table(
        &format!("{name}_top{TOP_K}"),
        &[
            "rank",
            "dist_id",
            "distance",
            "dist_token",
            "cos_id",
            "cosine",
            "cos_token",
        ],
        &rows,
    )?;
    Ok(())
}

/// Part 5: the same on unit-normalised rows, where d = sqrt(2 − 2·cos) ranks like cosine.
fn part5_normalised(emb: &TokenEmbeddings, seed: u32, out: &mut Output) -> Result<()> {
    out.say("\n## Part 5: normalised distance");
    let norms = emb
        .matrix
        .linalg_norm(2.0, [1i64].as_slice(), true, Kind::Float)
        .clamp_min(1e-12); // [vocab, 1]
    let en = &emb.matrix / norms; // [vocab, d], unit rows
    let (euc, cossim) = part3_neighbours(emb, seed, &en, "ch3_proj13_part5", out)?;
    let max_gap = euc
        .iter()
        .zip(&cossim)
        .filter(|(d, s)| !d.is_nan() && !s.is_nan())
        .map(|(d, s)| (d - (2.0 - 2.0 * s).max(0.0).sqrt()).abs())
        .fold(0.0, f64::max);
    out.say(format!("max |d - sqrt(2 - 2 cos)| = {max_gap:.3e}"));
    part4_top_k(emb, seed, &euc, &cossim, "part5", false, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_vector_identity_and_scale_invariance() {
        let mut rng = StdRng::seed_from_u64(7);
        for m in [3, 50, 768] {
            let cases = three_cases(draw(&mut rng, m), draw(&mut rng, m));
            let (d, s) = cases[2];
            assert!((s - (1.0 - d * d / 2.0)).abs() < 1e-12);
            assert!((cases[0].1 - cases[1].1).abs() < 1e-12);
            assert!((cases[0].1 - cases[2].1).abs() < 1e-12);
            assert!(cases[0].0 != cases[1].0);
            let (x, y) = (draw(&mut rng, m), draw(&mut rng, m));
            let (xtx, yty, d) = (dot(&x, &x), dot(&y, &y), euclid(&x, &y));
            assert!((2.0 * dot(&x, &y) - (xtx + yty - d * d)).abs() < 1e-9 * (xtx + yty));
        }
    }

    #[test]
    fn normalising_makes_distance_rank_like_cosine() {
        tch::manual_seed(3);
        // Rows with deliberately varied norms: [200, 8] · diag-free scale in 0.1..5.
        let base = Tensor::randn([200, 8], (Kind::Float, tch::Device::Cpu));
        let scale = Tensor::rand([200, 1], (Kind::Float, tch::Device::Cpu)) * 4.9 + 0.1;
        let e = base * scale;
        let en = &e / e.linalg_norm(2.0, [1i64].as_slice(), true, Kind::Float);
        let mut differ = false;
        for seed in 0..20u32 {
            let (d, c) = distances_and_cosines(&en, seed).unwrap();
            assert_eq!(top_k_nan(&d, 10, true), top_k_nan(&c, 10, false));
            let (d, c) = distances_and_cosines(&e, seed).unwrap();
            differ |= top_k_nan(&d, 10, true) != top_k_nan(&c, 10, false);
            assert!(!top_k_nan(&d, 10, true).contains(&(seed as usize)));
            assert!(!top_k_nan(&c, 10, false).contains(&(seed as usize)));
        }
        assert!(differ);
    }

    #[test]
    fn minmax_ignores_nan() {
        let s = nan_minmax(&[3.0, f64::NAN, 1.0, 2.0, 5.0]);
        assert!(s[1].is_nan());
        assert_eq!([s[0], s[2], s[3], s[4]], [0.5, 0.0, 0.25, 1.0]);
    }
}
