//! Project 26's offline checks. The --quick run (tiny random GPT-2: 3 blocks, d_model 16,
//! GPT-2's real tokenizer, the spec's sentences, offline) is compared with references
//! that do not come from the program: transformers' `hidden_states` and PyTorch forward
//! hooks on the same tiny model and sentence (`tests/fixtures/reference.json`, written
//! by `scripts/make_fixture.py`), the spec's token ids and sentence lengths, and closed
//! forms for the correlation helpers.

use common::stats::{pearson, spearman};
use common::testing::{figure_series, read_csv, reference, run_project, FigureSeries, ProjectRun};
use serde_json::Value;
use std::sync::OnceLock;

/// The spec's ids of the main sentence.
const SPEC_IDS: [u32; 17] = [
    3646, 1187, 787, 9623, 17252, 780, 484, 836, 470, 2666, 257, 2085, 706, 345, 3745, 606, 13,
];
/// --quick's constants (the spec's block 5, dimension 123, layer 10, MLP layer 4 scaled
/// to the 3-block, 16-wide model).
const BLOCK: usize = 1;
const DIM: usize = 11;
const LAYER: usize = 1;

type Mat = Vec<Vec<f64>>;

fn reference_json() -> &'static Value {
    static R: OnceLock<Value> = OnceLock::new();
    R.get_or_init(|| {
        serde_json::from_str(include_str!("fixtures/reference.json")).expect("reference.json")
    })
}

fn mat(v: &Value) -> Mat {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

/// `key[i]`, a [tokens, d] matrix.
fn fx(key: &str, i: usize) -> Mat {
    mat(&reference_json()[key][i])
}

fn col(m: &Mat, j: usize) -> Vec<f64> {
    m.iter().map(|r| r[j]).collect()
}

fn flat_from(m: &Mat, from: usize) -> Vec<f64> {
    m[from..].iter().flatten().copied().collect()
}

fn sub(a: &Mat, b: &Mat) -> Vec<f64> {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| x - y)
        .collect()
}

fn frob(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |a, x| a.max(x.abs()))
}

fn close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    assert!(!got.is_empty(), "{what}: empty");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "{what}[{i}]: {g} vs {w}");
    }
}

/// Ranks 1..n with ties averaged, written here independently of common::stats.
fn avg_ranks(v: &[f64]) -> Vec<f64> {
    v.iter()
        .map(|&x| {
            let less = v.iter().filter(|&&y| y < x).count() as f64;
            let equal = v.iter().filter(|&&y| y == x).count() as f64;
            less + (equal + 1.0) / 2.0
        })
        .collect()
}

fn ys(s: &FigureSeries, panel_prefix: &str, series: &str) -> Vec<(f64, f64)> {
    s.iter()
        .find(|((p, n), _)| p.starts_with(panel_prefix) && n == series)
        .unwrap_or_else(|| {
            panic!(
                "no series {series:?} in panel {panel_prefix:?}: {:?}",
                s.keys()
            )
        })
        .1
        .clone()
}

fn run() -> &'static ProjectRun {
    static R: OnceLock<ProjectRun> = OnceLock::new();
    R.get_or_init(|| {
        run_project(
            env!("CARGO_BIN_EXE_project26_residual_adjustments"),
            &["--quick", "--device", "cpu"],
        )
        .unwrap()
    })
}

#[test]
fn figures_exist_and_are_readable() {
    for f in ["part1", "part2", "part3", "part4"] {
        run().check_figure(&format!("ch5_proj26_{f}")).unwrap();
    }
}

/// Offline check 5: the main sentence's 17 ids, from the spec and from transformers.
#[test]
fn tokenizer_ids() {
    let line = run().summary_line("ids: ").unwrap();
    let got: Vec<u32> = line
        .trim_start_matches("ids: [")
        .trim_end_matches(']')
        .split(", ")
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(got, SPEC_IDS);
    let fixture: Vec<u32> = reference_json()["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    assert_eq!(fixture, SPEC_IDS);
}

/// Offline check 1: block outputs are the next hidden states; the last one is ln_f'd.
#[test]
fn block_outputs_are_hidden_states() {
    let r = run();
    let n = reference_json()["n_layer"].as_u64().unwrap() as usize;
    // Part 1: both curves against transformers' hidden_states[BLOCK + 1] and the
    // PyTorch forward hook on transformer.h[BLOCK], at dimension DIM.
    let s1 = figure_series(&r.file("ch5_proj26_part1.csv")).unwrap();
    let hs = ys(&s1, "", &format!("H[{}] (hidden state)", BLOCK + 1));
    let cap = ys(&s1, "", &format!("block {BLOCK} output (hook)"));
    let want_hs = col(&fx("hidden_states", BLOCK + 1), DIM);
    let want_cap = col(&fx("block_out", BLOCK), DIM);
    assert_eq!(hs.len(), 17);
    close(
        &hs.iter().map(|p| p.1).collect::<Vec<_>>(),
        &want_hs,
        1e-5,
        "H curve",
    );
    close(
        &cap.iter().map(|p| p.1).collect::<Vec<_>>(),
        &want_cap,
        1e-5,
        "hook curve",
    );
    close(
        &hs.iter().map(|p| p.0).collect::<Vec<_>>(),
        &(0..17).map(|i| i as f64).collect::<Vec<_>>(),
        0.0,
        "token positions",
    );
    let d1 = r
        .summary_value(&format!("Part 1: max |H[{}] - captured| = ", BLOCK + 1))
        .unwrap();
    assert_eq!(d1, 0.0);

    // Part 2: ‖H[i+1] − block i‖_F from the fixture: 0 for i < n-1, the ln_f gap for
    // the last block.
    let s2 = figure_series(&r.file("ch5_proj26_part2.csv")).unwrap();
    let norms: Vec<f64> = s2.values().next().unwrap().iter().map(|p| p.1).collect();
    let want: Vec<f64> = (0..n)
        .map(|l| frob(&sub(&fx("hidden_states", l + 1), &fx("block_out", l))))
        .collect();
    assert_eq!(norms.len(), n);
    assert!(norms[..n - 1].iter().all(|&v| v == 0.0), "{norms:?}");
    assert!(want[n - 1] > 1.0, "the fixture's last gap {}", want[n - 1]);
    assert!(
        (norms[n - 1] - want[n - 1]).abs() < 1e-4 * want[n - 1],
        "{} vs {}",
        norms[n - 1],
        want[n - 1]
    );
    // ln_f(last block output) equals H[n]; the raw output does not (by the fixture's gap).
    let ln = r
        .summary_value(&format!("max |ln_f(block {} output) - H[{n}]| = ", n - 1))
        .unwrap();
    assert_eq!(ln, 0.0);
    let raw = r
        .summary_value(&format!("max |block {} output - H[{n}]| = ", n - 1))
        .unwrap();
    let want_raw = max_abs(&sub(&fx("block_out", n - 1), &fx("hidden_states", n)));
    assert!((raw - want_raw).abs() < 1e-4, "{raw} vs {want_raw}");
    // and transformers' own ln_f of the hooked output is its H[n]
    assert!(
        max_abs(&sub(
            &mat(&reference_json()["ln_f_of_last_block"]),
            &fx("hidden_states", n),
        )) < 1e-6
    );
}

/// Offline check 2: H[L] + attn_L + mlp_L = H[L+1] at every block but the last.
#[test]
fn residual_identity() {
    let r = run();
    let n = reference_json()["n_layer"].as_u64().unwrap() as usize;
    let (header, rows) = read_csv(&r.file("part4_residual_identity.csv")).unwrap();
    assert_eq!(header, ["layer", "max_abs_error"]);
    assert_eq!(rows.len(), n - 1);
    for (l, row) in rows.iter().enumerate() {
        assert_eq!(row[0], l.to_string());
        let e: f64 = row[1].parse().unwrap();
        assert!(e < 1e-5, "layer {l}: {e}");
    }
    let fro = r
        .summary_value("Frobenius norm of recon - hs_post = ")
        .unwrap();
    assert!(fro < 1e-5, "{fro}");

    // Part 4's panels against the fixture, tokens 1..16 flattened.
    let s4 = figure_series(&r.file("ch5_proj26_part4.csv")).unwrap();
    let pts = |p: &str| {
        s4.iter()
            .find(|((q, _), _)| q.starts_with(p))
            .unwrap()
            .1
            .clone()
    };
    let (a, b, c) = (pts("A)"), pts("B)"), pts("C)"));
    let pre = flat_from(&fx("hidden_states", LAYER), 1);
    let post = flat_from(&fx("hidden_states", LAYER + 1), 1);
    let attn = flat_from(&fx("attn_c_proj", LAYER), 1);
    let mlp = flat_from(&fx("mlp_c_proj", LAYER), 1);
    assert_eq!(a.len(), 16 * 16);
    let xs = |v: &[(f64, f64)]| v.iter().map(|p| p.0).collect::<Vec<_>>();
    let yv = |v: &[(f64, f64)]| v.iter().map(|p| p.1).collect::<Vec<_>>();
    close(&xs(&a), &pre, 1e-5, "A x = H[L]");
    close(&yv(&a), &post, 1e-5, "A y = H[L+1]");
    close(&xs(&b), &attn, 1e-5, "B x = attn");
    close(&yv(&b), &mlp, 1e-5, "B y = mlp");
    close(&xs(&c), &post, 1e-5, "C x = H[L+1]");
    close(&yv(&c), &post, 2e-5, "C y = recon");
    // the axis limit: 1.1 × max |H[L]|, |H[L+1]| over tokens 1..
    let lim = 1.1 * max_abs(&pre).max(max_abs(&post));
    let got = r.summary_value("axis limit (tokens 1..): ±").unwrap();
    assert!((got - lim).abs() < 1e-3, "{got} vs {lim}");
}

/// Part 3: per-token Pearson and Spearman of the hooked attn / mlp outputs.
#[test]
fn attention_mlp_correlations() {
    let r = run();
    let attn = fx("attn_c_proj", LAYER);
    let mlp = fx("mlp_c_proj", LAYER);
    let s3 = figure_series(&r.file("ch5_proj26_part3.csv")).unwrap();
    let got_r: Vec<f64> = ys(&s3, "Attention", "Pearson")
        .iter()
        .map(|p| p.1)
        .collect();
    let got_rho: Vec<f64> = ys(&s3, "Attention", "Spearman")
        .iter()
        .map(|p| p.1)
        .collect();
    let want_r: Vec<f64> = (0..17)
        .map(|t| reference::pearson(&attn[t], &mlp[t]))
        .collect();
    let want_rho: Vec<f64> = (0..17)
        .map(|t| reference::pearson(&avg_ranks(&attn[t]), &avg_ranks(&mlp[t])))
        .collect();
    close(&got_r, &want_r, 1e-5, "Pearson per token");
    close(&got_rho, &want_rho, 1e-5, "Spearman per token");
    // panel B: the last token's 16 attention and MLP values
    let b = s3
        .iter()
        .find(|((p, _), _)| p.starts_with("Token 16"))
        .expect("panel B")
        .1
        .clone();
    close(
        &b.iter().map(|p| p.0).collect::<Vec<_>>(),
        &attn[16],
        1e-5,
        "B x",
    );
    close(
        &b.iter().map(|p| p.1).collect::<Vec<_>>(),
        &mlp[16],
        1e-5,
        "B y",
    );
    // the table holds the same numbers
    let (_, rows) = read_csv(&r.file("part3_correlations.csv")).unwrap();
    assert_eq!(rows.len(), 17);
    assert_eq!(rows[16][1], ".");
    let tab_r: Vec<f64> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    close(&tab_r, &want_r, 2e-6, "table Pearson");
}

/// Offline check 3: overwrite vs append, detaching, and logits unchanged by captures.
#[test]
fn capture_semantics() {
    let r = run();
    let d = reference_json()["d_model"].as_u64().unwrap();
    let sh = |p: usize| format!("(1, {p}, {d})");
    let (header, rows) = read_csv(&r.file("part5_captures.csv")).unwrap();
    assert_eq!(
        header,
        ["sentence", "mode", "hook_point", "stored", "shapes"]
    );
    // The spec's lengths: "I like corn" 3, then 4, 5, 14, 7 tokens.
    let mut want = vec![vec![
        "I like corn".to_string(),
        "overwrite".into(),
        format!("blocks.{LAYER}.hook_attn_out"),
        "1".into(),
        sh(3),
    ]];
    let sentences = [
        "I like chocolate.",
        "I still like chocolate.",
        "You know the shape my breath will take before I let it out.",
        "Four score and seven years ago.",
    ];
    let mut shapes = vec![];
    for (s, p) in sentences.iter().zip([4, 5, 14, 7]) {
        shapes.push(sh(p));
        want.push(vec![
            s.to_string(),
            "append".into(),
            "blocks.2.hook_mlp_out".into(),
            shapes.len().to_string(),
            shapes.join(" "),
        ]);
    }
    want.push(vec![
        "I like corn (after detach)".into(),
        "append".into(),
        "blocks.2.hook_mlp_out".into(),
        "4".into(),
        shapes.join(" "),
    ]);
    assert_eq!(rows, want);
    // Part 1's capture, detached, kept the 17-token pass.
    let line = r
        .summary_line("after detaching and running \"I like corn\": the capture")
        .unwrap();
    assert!(
        line.ends_with(&format!("holds 1 tensor of shape {}", sh(17))),
        "{line}"
    );
    // Capturing does not change the logits; the argmax is transformers'.
    let dl = r
        .summary_value("max |last-position logits with the capture - without| = ")
        .unwrap();
    assert_eq!(dl, 0.0);
    let am = r
        .summary_value("argmax of the last-position logits: ")
        .unwrap();
    assert_eq!(
        am as u64,
        reference_json()["last_logits_argmax"].as_u64().unwrap()
    );
}

/// Offline check 4: the correlation helpers on closed forms.
#[test]
fn correlation_helpers() {
    let x = [-2.0, -0.5, 0.1, 1.0, 3.0, 4.5];
    let cube: Vec<f64> = x.iter().map(|v: &f64| v.powi(3)).collect();
    assert!((spearman(&x, &cube).unwrap() - 1.0).abs() < 1e-12);
    let lin: Vec<f64> = x.iter().map(|v| 2.0 * v + 1.0).collect();
    assert!((pearson(&x, &lin).unwrap() - 1.0).abs() < 1e-12);
    let neg: Vec<f64> = x.iter().map(|v| -v).collect();
    assert!((pearson(&x, &neg).unwrap() + 1.0).abs() < 1e-12);
    // ranks [1, 2.5, 2.5, 4] vs [1, 2, 3, 4]: 4.5 / sqrt(4.5 · 5) = 3 / sqrt(10)
    let rho = spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 4.0]).unwrap();
    assert!((rho - 3.0 / 10f64.sqrt()).abs() < 1e-12, "{rho}");
    assert!((rho - 0.9487).abs() < 1e-4);
}
