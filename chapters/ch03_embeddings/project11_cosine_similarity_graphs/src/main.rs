//! # Project 11 — Graphs of cosine similarity
//!
//! **Question.** Can a cosine-similarity matrix of token embeddings be read as a
//! network? Threshold the similarities of one sentence's tokens at median + one
//! (population) standard deviation and draw the supra-threshold pairs as the edges of a
//! circular graph; then draw a fully connected, colour-coded graph of number tokens.
//!
//! **What to look for.**
//! - Part 1: most similarities between unrelated static BERT-large embeddings are
//!   small; the threshold sits right of the bulk, so only ~15–20 % of the 210 pairs
//!   become edges.
//! - Part 2: a sparse graph: function words (as, from, in, into, a, he, his, himself,
//!   one, …) link up, rare content words (gregor, awoke, gigantic, uneasy) are small,
//!   weakly connected nodes; the subword "##sa" behaves unlike a word.
//! - Part 3: single digits link strongly to each other (warm colours), multiples of
//!   ten to each other, close numbers more than distant ones.
//!
//! Run: `cargo run --release -p project11_cosine_similarity_graphs` (downloads
//! `bert-large-uncased` once; only its embedding matrix is read). `--quick` uses the
//! real all-MiniLM-L6-v2 embeddings (the same 30522-word vocabulary, 384-d): the token
//! ids are the book's, the graphs are MiniLM's, not BERT-large's.

use anyhow::{bail, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::data::wordlists::digits_and_tens;
use common::device::to_rows_f64;
use common::embeddings::{token_embeddings, TokenEmbeddings};
use common::output::Output;
use common::plot::{
    bar_edges, circular_layout, markersize_px, network_panel, Bins, Colormap, Figure, Heatmap,
    LabelPlacement, NetworkStyle, Panel, Series, Style,
};
use common::stats::{cosine_matrix, mean, upper_triangle};
use petgraph::graph::{NodeIndex, UnGraph};
use petgraph::visit::EdgeRef;

const PROJECT: &str = "project11_cosine_similarity_graphs";
const TEXT: &str = "As Gregor Samsa awoke one morning from uneasy dreams he found himself transformed in his bed into a gigantic bug";
const DPI: f64 = 100.0;

/// Graphs of the cosine similarities of static token embeddings (BERT-large).
///
/// `--quick` runs offline on the real all-MiniLM-L6-v2 embeddings (bert-base-uncased's
/// vocabulary): token ids are the book's, the similarities are MiniLM's, not BERT-large's.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    let mut out = args.common.output(PROJECT)?;
    let model = args.common.bert_model_or("bert-large-uncased")?;
    args.common.resolve_embeddings(&[&model])?;
    if args.common.quick {
        out.say("--quick: all-MiniLM-L6-v2's embeddings stand in for BERT-large's (same vocabulary); the similarities and graphs are MiniLM's, not the book's.");
    }
    let emb = token_embeddings(&model)?;
    out.say(emb.to_string());
    let sim = part1_similarity_and_threshold(&emb, &mut out)?;
    part2_similarity_graph(&sim, &mut out)?;
    part3_number_network(&emb, &mut out)?;
    out.finish()
}

/// The tokens of a text, their cosine-similarity matrix and its threshold.
struct Similarity {
    tokens: Vec<String>,
    c: Vec<Vec<f64>>,
    threshold: f64,
}

/// Median of the values (mean of the middle two for an even count).
fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => s[n / 2],
        _ => 0.5 * (s[n / 2 - 1] + s[n / 2]),
    }
}

/// The book's threshold: median + population standard deviation (divide by N).
fn threshold(u: &[f64]) -> f64 {
    let m = mean(u);
    let sd = (u.iter().map(|x| (x - m).powi(2)).sum::<f64>() / u.len() as f64).sqrt();
    median(u) + sd
}

/// The largest entry below 0.99: the strongest link that is not the diagonal (or a
/// duplicated token).
fn max_below_099(c: &[Vec<f64>]) -> f64 {
    c.iter()
        .flatten()
        .copied()
        .filter(|&v| v < 0.99)
        .fold(f64::NEG_INFINITY, f64::max)
}

/// Label alignment of a node on the circle, as the book sets it: right-aligned left of
/// the centre (`cos ≤ 0`), top-aligned below it (`sin ≤ 0`), so labels sit outside.
fn label_alignment((x, y): (f64, f64)) -> (&'static str, &'static str) {
    (
        if x <= 0.0 { "right" } else { "left" },
        if y <= 0.0 { "top" } else { "bottom" },
    )
}

fn decode_all(emb: &TokenEmbeddings, ids: &[u32]) -> Result<Vec<String>> {
    ids.iter().map(|&i| emb.tokenizer.decode_one(i)).collect()
}

/// Part 1: the tokens' similarity matrix, its unique values and the threshold.
fn part1_similarity_and_threshold(emb: &TokenEmbeddings, out: &mut Output) -> Result<Similarity> {
    out.say("\n## Part 1: tokens, embeddings, cosine similarity");
    let ids = emb.tokenizer.encode(TEXT)?;
    let tokens = decode_all(emb, &ids)?;
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    out.say(format!(
        "There are {} tokens in the text, {} of which are unique",
        ids.len(),
        unique.len()
    ));
    let mut rows = vec![];
    for (i, (id, t)) in ids.iter().zip(&tokens).enumerate() {
        out.say(format!("{id:>6}  {t}"));
        rows.push(vec![i.to_string(), id.to_string(), t.clone()]);
    }
    out.table("part1_tokens", &["position", "token_id", "token"], &rows)?;

    // [n, d] -> unit rows -> [n, n] cosine matrix
    let c = to_rows_f64(&cosine_matrix(&emb.rows(&ids)?))?;
    // unique values: the non-zero entries of the strict upper triangle
    let u: Vec<f64> = upper_triangle(&c)
        .into_iter()
        .filter(|&v| v != 0.0)
        .collect();
    let th = threshold(&u);
    out.say(format!("{} unique similarity values", u.len()));
    out.say(format!(
        "threshold = median {:.4} + std {:.4} = {th:.4}",
        median(&u),
        th - median(&u)
    ));
    let above = u.iter().filter(|&&v| v > th).count();
    out.say(format!(
        "{above} of {} pairs ({:.1}%) are above the threshold",
        u.len(),
        100.0 * above as f64 / u.len() as f64
    ));

    let n = tokens.len();
    let pos_ticks = |start: usize| {
        (start..n)
            .step_by(2)
            .map(|i| (i as f64, i.to_string()))
            .collect()
    };
    let heat = Panel::new("A) Cosine similarity matrix")
        .xlabel("Text token position")
        .ylabel("Text token position")
        .heatmap(Heatmap::new(c.clone(), Colormap::Plasma).range(-0.7, 0.7))
        .x_ticks(pos_ticks(0))
        .y_ticks(pos_ticks(1));
    let hist = Series::histogram(&u, Bins::Count(40), (128, 128, 128));
    let Series::Bars {
        x, heights, width, ..
    } = &hist
    else {
        bail!("histogram is not drawn as bars");
    };
    let edges = bar_edges(x, heights, *width, (0, 0, 0));
    let hist_panel = Panel::new("B) Distribution of unique similarities")
        .xlabel("Cosine similarity value")
        .ylabel("Count")
        .add(hist)
        .add(edges)
        .add(Series::vline(
            th,
            Style::line((255, 0, 255))
                .dashed()
                .label("Threshold (median + std)"),
        ))
        .legend();
    out.figure(
        &Figure::grid(12.0, 4.0, 1, 2).panel(heat).panel(hist_panel),
        "ch3_proj11_part1",
    )?;
    Ok(Similarity {
        tokens,
        c,
        threshold: th,
    })
}

/// The thresholded graph: one node per token, an edge (weight = similarity) for every
/// pair `i < j` above the threshold.
fn threshold_graph(sim: &Similarity) -> UnGraph<String, f64> {
    let mut g = UnGraph::new_undirected();
    let nodes: Vec<NodeIndex> = sim.tokens.iter().map(|t| g.add_node(t.clone())).collect();
    for i in 0..nodes.len() {
        for j in i + 1..nodes.len() {
            if sim.c[i][j] > sim.threshold {
                g.add_edge(nodes[i], nodes[j], sim.c[i][j]);
            }
        }
    }
    g
}

/// Part 2: the supra-threshold pairs as a circular network graph.
fn part2_similarity_graph(sim: &Similarity, out: &mut Output) -> Result<()> {
    out.say("\n## Part 2: the network similarity graph");
    let g = threshold_graph(sim);
    let n = g.node_count();
    let pos = circular_layout(n);
    let maxcs = max_below_099(&sim.c);
    out.say(format!(
        "{} edges among {n} nodes; strongest link below 0.99: {maxcs:.4}",
        g.edge_count()
    ));

    // Node size: 5·sqrt(entries of the row above threshold), diagonal included (so an
    // isolated node gets 5 points); that count is the node's degree + 1.
    let counts: Vec<usize> = g.node_indices().map(|v| g.edges(v).count() + 1).collect();
    let sizes_pt: Vec<f64> = counts.iter().map(|&k| 5.0 * (k as f64).sqrt()).collect();
    let mut rows = vec![];
    for (i, ((t, &(x, y)), (k, s))) in sim
        .tokens
        .iter()
        .zip(&pos)
        .zip(counts.iter().zip(&sizes_pt))
        .enumerate()
    {
        let (ha, va) = label_alignment((x, y));
        rows.push(vec![
            i.to_string(),
            t.clone(),
            format!("{x:.6}"),
            format!("{y:.6}"),
            k.to_string(),
            format!("{s:.4}"),
            ha.to_string(),
            va.to_string(),
        ]);
    }
    out.table(
        "part2_nodes",
        &[
            "node",
            "token",
            "x",
            "y",
            "count_above_threshold",
            "size_points",
            "ha",
            "va",
        ],
        &rows,
    )?;

    let edges: Vec<(usize, usize, f64)> = g
        .edge_references()
        .map(|e| (e.source().index(), e.target().index(), *e.weight()))
        .collect();
    let color_index = |w: f64| (w - sim.threshold) / (maxcs - sim.threshold);
    let edge_rows: Vec<Vec<String>> = edges
        .iter()
        .map(|&(i, j, w)| {
            vec![
                i.to_string(),
                j.to_string(),
                sim.tokens[i].clone(),
                sim.tokens[j].clone(),
                format!("{w:.6}"),
                format!("{:.6}", color_index(w)),
            ]
        })
        .collect();
    out.table(
        "part2_edges",
        &["i", "j", "token_i", "token_j", "cosine", "color_index"],
        &edge_rows,
    )?;

    let style = NetworkStyle {
        colormap: Colormap::Plasma,
        color_range: Some((sim.threshold, maxcs)),
        // line width 3·similarity points, in pixels
        width_per_weight: Some(3.0 * DPI / 72.0),
        node_sizes: sizes_pt.iter().map(|&s| markersize_px(s, DPI)).collect(),
        label_size: 16,
        labels: LabelPlacement::Outside,
        plot_px: 8.0 * DPI * 0.9,
        dpi: DPI,
        ..NetworkStyle::default()
    };
    let panel = network_panel("", &pos, &sim.tokens, &edges, &style);
    out.figure(&Figure::new(8.0, 8.0).panel(panel), "ch3_proj11_part2")?;
    Ok(())
}

/// Part 3: a fully connected graph of number tokens, coloured by similarity.
fn part3_number_network(emb: &TokenEmbeddings, out: &mut Output) -> Result<()> {
    out.say("\n## Part 3: graphing number networks");
    let strings = digits_and_tens();
    let ids = emb.single_tokens(&strings)?;
    let labels = decode_all(emb, &ids)?;
    let mut rows = vec![];
    for (s, id) in strings.iter().zip(&ids) {
        out.say(format!("{id:>6}  {s}"));
        rows.push(vec![s.clone(), id.to_string()]);
    }
    out.table("part3_ids", &["string", "token_id"], &rows)?;
    let c = to_rows_f64(&cosine_matrix(&emb.rows(&ids)?))?; // [20, 20]
    let n = c.len();
    let maxcs = max_below_099(&c);
    let cmin = c.iter().flatten().copied().fold(f64::INFINITY, f64::min);
    out.say(format!(
        "similarities from {cmin:.4} to {maxcs:.4} (largest below 0.99)"
    ));

    // Every pair is an edge: the complete graph, coloured by min-max scaled similarity.
    let mut g: UnGraph<String, f64> = UnGraph::new_undirected();
    let nodes: Vec<NodeIndex> = labels.iter().map(|l| g.add_node(l.clone())).collect();
    for i in 0..n {
        for j in i + 1..n {
            g.add_edge(nodes[i], nodes[j], c[i][j]);
        }
    }
    let edges: Vec<(usize, usize, f64)> = g
        .edge_references()
        .map(|e| (e.source().index(), e.target().index(), *e.weight()))
        .collect();
    out.say(format!("{} edges (all pairs)", edges.len()));
    let style = NetworkStyle {
        color_range: Some((cmin, maxcs)),
        edge_width: 2, // matplotlib's default 1.5 points
        node_sizes: vec![markersize_px(24.0, DPI)],
        label_size: 12,
        label_bold: true,
        labels: LabelPlacement::Center,
        lim: 1.2, // labels sit on the nodes: less room needed
        dpi: DPI,
        ..NetworkStyle::default()
    };
    let panel = network_panel("", &circular_layout(n), &labels, &edges, &style);
    out.figure(&Figure::new(8.0, 8.0).panel(panel), "ch3_proj11_part3")?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // matrix checks read best with indices
mod tests {
    use super::*;

    #[test]
    fn threshold_uses_the_population_sd() {
        let t = threshold(&[1.0, 2.0, 3.0, 4.0]);
        assert!((t - (2.5 + 1.25f64.sqrt())).abs() < 1e-12);
        assert!((t - 3.618).abs() < 1e-3);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    }

    #[test]
    fn graph_on_a_random_matrix() {
        let n = 21;
        let e = tch::Tensor::randn([n as i64, 64], (tch::Kind::Float, tch::Device::Cpu));
        let c = to_rows_f64(&cosine_matrix(&e)).unwrap();
        for i in 0..n {
            assert!((c[i][i] - 1.0).abs() < 1e-6);
            for j in 0..n {
                assert!((c[i][j] - c[j][i]).abs() < 1e-6);
                assert!(c[i][j].abs() <= 1.0 + 1e-6);
            }
        }
        let u = upper_triangle(&c);
        assert_eq!(u.len(), n * (n - 1) / 2);
        let sim = Similarity {
            tokens: (0..n).map(|i| i.to_string()).collect(),
            c: c.clone(),
            threshold: threshold(&u),
        };
        let g = threshold_graph(&sim);
        assert_eq!(
            g.edge_count(),
            u.iter().filter(|&&v| v > sim.threshold).count()
        );
        let maxcs = max_below_099(&c);
        for e in g.edge_references() {
            let t = (e.weight() - sim.threshold) / (maxcs - sim.threshold);
            assert!((0.0..=1.0).contains(&t));
        }
        // a node without supra-threshold neighbours gets 5·sqrt(1) = 5 points
        let mut lonely = sim;
        for j in 1..n {
            lonely.c[0][j] = -1.0;
            lonely.c[j][0] = -1.0;
        }
        let g = threshold_graph(&lonely);
        let k = g.edges(NodeIndex::new(0)).count() + 1;
        assert_eq!(5.0 * (k as f64).sqrt(), 5.0);
    }

    #[test]
    fn layout_and_alignment() {
        let n = 21;
        let pos = circular_layout(n);
        let step = std::f64::consts::TAU / n as f64;
        for (i, p) in pos.iter().enumerate() {
            let a = i as f64 * step;
            assert!((p.0 - a.cos()).abs() < 1e-12 && (p.1 - a.sin()).abs() < 1e-12);
            let (ha, va) = label_alignment(*p);
            assert_eq!(ha == "right", a.cos() <= 0.0);
            assert_eq!(va == "top", a.sin() <= 0.0);
        }
        assert!((n - 1) as f64 * step < std::f64::consts::TAU - 1e-9);
    }

    #[test]
    fn bert_ids_as_in_the_spec() {
        let t = common::tokenizer::Tokenizer::minilm_bert().unwrap();
        assert_eq!(
            t.encode(TEXT).unwrap(),
            [
                2004, 16973, 3520, 3736, 19179, 2028, 2851, 2013, 15491, 5544, 2002, 2179, 2370,
                8590, 1999, 2010, 2793, 2046, 1037, 20193, 11829
            ]
        );
        let ids: Vec<u32> = digits_and_tens()
            .iter()
            .map(|s| t.encode(s).unwrap()[0])
            .collect();
        let mut want: Vec<u32> = (1014..1024).collect();
        want.extend([2184, 2322, 2382, 2871, 2753, 3438, 3963, 3770, 3938, 2531]);
        assert_eq!(ids, want);
    }
}
