//! Runs project 30 in --quick mode (the real all-MiniLM-L6-v2, 103 written sentences,
//! offline) and checks the spec's offline checks: the batching (1), padding invariance of
//! the [CLS] vectors (2, on the tiny random BERT and on MiniLM against the run's own
//! figure data), layer 0 giving majority-class accuracy without a crash (3), the PCA rule
//! (4), the decision tree (5), the stratified split and the OLS (6). Expected values come
//! from closed forms, from the spec, or from common's model API run here sentence by
//! sentence.

use common::ml::decomposition::Pca;
use common::ml::split::stratified_train_test_split;
use common::ml::tree::{DecisionTree, TreeParams};
use common::testing::{read_csv, run_project, ProjectRun};
use common::{HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use ndarray::{Array1, Array2};
use project30_sentiment_decision_trees::{
    accuracy_on_depth, batch_plan, fit_tree, mean_successive_difference, pca80, rows_identical,
    split_pca_tree,
};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

const FIGURES: [&str; 7] = [
    "part2", "part3", "part4a", "part4b", "part5a", "part5b", "part6",
];

/// The written sentences (label, text), read here from the file the binary includes.
fn quick_rows() -> Vec<(usize, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/quick_sentences.tsv");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let (a, b) = l.split_once('\t').unwrap();
            (a.parse().unwrap(), b.to_string())
        })
        .collect()
}

fn minilm() -> HookedModel {
    let dir = common::embeddings::minilm_dir().unwrap();
    HookedModel::from_pretrained(dir.to_str().unwrap(), tch::Device::Cpu).unwrap()
}

fn hidden(k: usize) -> String {
    if k == 0 {
        "embed.ln.hook_normalized".into()
    } else {
        format!("blocks.{}.hook_normalized_resid_post", k - 1)
    }
}

/// [CLS] (position 0) of every hidden state of each sequence run in one padded batch.
fn cls_states(m: &HookedModel, seqs: &[Vec<u32>]) -> Vec<Vec<Vec<f64>>> {
    let names: Vec<String> = (0..=m.cfg.n_layers).map(hidden).collect();
    let batch = m.batch_from_ids(seqs, PaddingSide::Right).unwrap();
    let run = m
        .run(
            &batch,
            &RunOptions::default()
                .cache(Names::list(&names))
                .logits(LogitsAt::None),
        )
        .unwrap();
    (0..seqs.len())
        .map(|b| {
            names
                .iter()
                .map(|n| {
                    let t = run.cache.get(n).unwrap().get(b as i64).get(0);
                    Vec::<f64>::try_from(t.to_kind(tch::Kind::Double)).unwrap()
                })
                .collect()
        })
        .collect()
}

/// Points of series `series` of a figure CSV.
fn series(run: &ProjectRun, fig: &str, name: &str) -> Vec<(f64, f64)> {
    let rows = run.check_figure(fig).unwrap();
    let pts: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r[1] == name)
        .map(|r| (r[3].parse().unwrap(), r[4].parse().unwrap()))
        .collect();
    assert!(!pts.is_empty(), "{fig}: no series {name:?}");
    pts
}

/// scikit-learn's `_approximate_mode` without ties: floor of the proportional share, the
/// remainder to the largest fractional parts.
fn approx_mode(counts: &[usize], draws: usize) -> Vec<usize> {
    let total: usize = counts.iter().sum();
    let share: Vec<f64> = counts
        .iter()
        .map(|&c| c as f64 * draws as f64 / total as f64)
        .collect();
    let mut got: Vec<usize> = share.iter().map(|s| s.floor() as usize).collect();
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| (share[b] - share[b].floor()).total_cmp(&(share[a] - share[a].floor())));
    let mut left = draws - got.iter().sum::<usize>();
    for i in order {
        if left == 0 {
            break;
        }
        got[i] += 1;
        left -= 1;
    }
    got
}

#[test]
fn quick_run_checks() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project30_sentiment_decision_trees"),
        &["--quick", "--device", "cpu"],
    )
    .unwrap();
    for f in FIGURES {
        run.check_figure(f).unwrap();
    }
    let s = run.summary();
    let rows = quick_rows();
    assert_eq!(rows.len(), 103);

    // Check 1: batching. The book's 3,367 rows give 105 batches / 3,360 samples; the
    // written 103 give 3 / 96, dropping 7 as the book does.
    assert_eq!(batch_plan(3367, 32), (105, 3360, 7));
    assert!(s.contains("103 rows // 32 = 3 batches, sample_size = 96 (7 rows dropped)"));
    let m = minilm();
    let (head, table) = read_csv(&run.file("part2_batches.csv")).unwrap();
    assert_eq!(head[..3], ["batch", "sequences", "padded_length"]);
    assert_eq!(table.len(), 3);
    let (cls, sep) = (101u32, 102u32); // bert-base-uncased's [CLS] and [SEP]
    let mut all_seqs = vec![];
    for (b, r) in table.iter().enumerate() {
        // Each sentence tokenised alone: [CLS] ... [SEP]; the batch is as wide as the longest.
        let seqs: Vec<Vec<u32>> = rows[b * 32..(b + 1) * 32]
            .iter()
            .map(|(_, t)| m.tokenizer.encode_with_special_tokens(t).unwrap())
            .collect();
        for q in &seqs {
            assert_eq!((q[0], q[q.len() - 1]), (cls, sep));
            assert!(!q[1..q.len() - 1].contains(&sep));
        }
        let longest = seqs.iter().map(Vec::len).max().unwrap();
        assert_eq!(r[1], "32");
        assert_eq!(r[2], longest.to_string(), "batch {b} padded length");
        assert_eq!(
            r[4], "32",
            "batch {b}: rows with [CLS] first, [SEP] before padding"
        );
        all_seqs.extend(seqs);
    }
    let part2_len = series(&run, "part2", "Padded token length");
    let want: Vec<f64> = table.iter().map(|r| r[2].parse().unwrap()).collect();
    assert_eq!(part2_len.iter().map(|p| p.1).collect::<Vec<_>>(), want);

    // Check 2: padding invariance. Tiny random BERT: a short sentence alone vs in a batch
    // with a longer one.
    let tiny = common::assets_dir().join("models/tiny-bert");
    let tb = HookedModel::from_pretrained(tiny.to_str().unwrap(), tch::Device::Cpu).unwrap();
    let short = tb
        .tokenizer
        .encode_with_special_tokens("a good film")
        .unwrap();
    let long = tb
        .tokenizer
        .encode_with_special_tokens("the film is long and the plot is not very good at all")
        .unwrap();
    assert!(long.len() > short.len() + 5);
    let alone = cls_states(&tb, std::slice::from_ref(&short));
    let padded = cls_states(&tb, &[short.clone(), long]);
    let mut worst = 0f64;
    for (a, p) in alone[0].iter().zip(&padded[0]) {
        for (x, y) in a.iter().zip(p) {
            worst = worst.max((x - y).abs());
        }
    }
    assert!(worst < 1e-5, "tiny BERT padding changes [CLS] by {worst}");
    // MiniLM: each sentence alone, per-sentence mean [CLS] of every layer, against the
    // run's Part 5 figure (computed in padded batches of 32). Negatives come first in the
    // CSV (in sentence order), then positives.
    let n_hidden = m.cfg.n_layers + 1;
    let mut means = vec![vec![]; n_hidden]; // [layer][sentence]
    for q in &all_seqs {
        let st = cls_states(&m, std::slice::from_ref(q));
        for (k, v) in st[0].iter().enumerate() {
            means[k].push(v.iter().sum::<f64>() / v.len() as f64);
        }
    }
    let labels: Vec<usize> = rows[..96].iter().map(|r| r.0).collect();
    let neg_pts = series(&run, "part5a", "Negative");
    let pos_pts = series(&run, "part5a", "Positive");
    let n_neg = labels.iter().filter(|&&l| l == 0).count();
    let n_pos = 96 - n_neg;
    assert_eq!(
        (neg_pts.len(), pos_pts.len()),
        (n_hidden * n_neg, n_hidden * n_pos)
    );
    let mut worst = 0f64;
    for k in 0..n_hidden {
        let neg: Vec<f64> = (0..96)
            .filter(|&i| labels[i] == 0)
            .map(|i| means[k][i])
            .collect();
        let pos: Vec<f64> = (0..96)
            .filter(|&i| labels[i] == 1)
            .map(|i| means[k][i])
            .collect();
        for (j, v) in neg.iter().enumerate() {
            let p = neg_pts[k * n_neg + j];
            assert!((p.0 - (k as f64 - 0.2)).abs() < 0.2, "jitter");
            worst = worst.max((p.1 - v).abs());
        }
        for (j, v) in pos.iter().enumerate() {
            worst = worst.max((pos_pts[k * n_pos + j].1 - v).abs());
        }
    }
    assert!(worst < 1e-5, "batched vs alone mean [CLS]: {worst}");

    // Part 3: the pooled-variance t statistic, by hand from the last layer's means.
    let last = &means[n_hidden - 1];
    let neg: Vec<f64> = (0..96)
        .filter(|&i| labels[i] == 0)
        .map(|i| last[i])
        .collect();
    let pos: Vec<f64> = (0..96)
        .filter(|&i| labels[i] == 1)
        .map(|i| last[i])
        .collect();
    let mv = |v: &[f64]| {
        let mu = v.iter().sum::<f64>() / v.len() as f64;
        (mu, v.iter().map(|x| (x - mu).powi(2)).sum::<f64>())
    };
    let ((m0, ss0), (m1, ss1)) = (mv(&neg), mv(&pos));
    let sp2 = (ss0 + ss1) / (94.0);
    let t = (m0 - m1) / (sp2 * (1.0 / n_neg as f64 + 1.0 / n_pos as f64)).sqrt();
    let line = s.lines().find(|l| l.starts_with("Student t-test")).unwrap();
    let got: f64 = line
        .split("= ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((got - t).abs() < 2e-3, "t {got} vs {t}");
    assert!(line.contains("t(94)"));
    assert!(run.check_figure("part3").unwrap().iter().any(|r| r[0]
        == format!(
            "Mean [CLS] acts (t={t:.2}, p={})",
            &line[line.len() - 6..line.len() - 1]
        )));

    // Check 3: layer 0 is identical for all inputs, the run survives, and its accuracy is
    // the majority class's share: the stratified counts (floor + largest remainder) put
    // the same class counts in every split.
    assert!(means[0].iter().all(|v| (v - means[0][0]).abs() < 1e-6));
    let (_, layer_rows) = read_csv(&run.file("part6_layer_accuracy.csv")).unwrap();
    assert_eq!(layer_rows.len(), n_hidden);
    assert_eq!(layer_rows[0][4], "true");
    assert!(layer_rows[1..].iter().all(|r| r[4] == "false"));
    let counts = [n_neg, n_pos];
    let tr = approx_mode(&counts, 76);
    let te = approx_mode(&[counts[0] - tr[0], counts[1] - tr[1]], 20);
    let major = if tr[1] > tr[0] { 1 } else { 0 };
    let want_train = tr[major] as f64 / 76.0;
    let want_test = te[major] as f64 / 20.0;
    let got_train: f64 = layer_rows[0][1].parse().unwrap();
    let got_test: f64 = layer_rows[0][2].parse().unwrap();
    assert!(
        (got_train - want_train).abs() < 1e-6,
        "{got_train} vs {want_train}"
    );
    assert!(
        (got_test - want_test).abs() < 1e-6,
        "{got_test} vs {want_test}"
    );
    let acc_test = series(&run, "part5b", "Test");
    assert!((acc_test[0].1 - want_test).abs() < 1e-6);
    // The pipeline on identical rows, directly: no error, majority-class predictions.
    let same = Array2::from_shape_fn((50, 8), |(_, j)| j as f64 * 0.1 - 0.3);
    assert!(rows_identical(same.view()));
    // common's PCA alone does not always refuse such data: the column mean of identical
    // values can round away from them (0.1·j − 0.3 here), leaving ~1e-32 of "variance" it
    // would rank. The pipeline's own identical-rows test is what keeps layer 0 honest.
    if let Ok(p) = Pca::fit(
        same.view(),
        common::ml::decomposition::NComponents::VarianceFraction(0.8),
    ) {
        assert!(
            p.explained_variance.iter().all(|&v| v < 1e-20),
            "{:?}",
            p.explained_variance
        );
    }
    let y: Vec<usize> = (0..50).map(|i| usize::from(i % 5 < 3)).collect(); // 30 ones
    let (red, fit) = split_pca_tree(same.view(), &y, &mut StdRng::seed_from_u64(1)).unwrap();
    assert!(red.no_variance);
    assert_eq!((fit.train_acc, fit.test_acc), (24.0 / 40.0, 6.0 / 10.0));

    // Check 4: PCA rule on data with variances 60/25/10/5 %: independent Gaussian columns,
    // exactly whitened (Gram–Schmidt), scaled by the square roots.
    let mut rng = StdRng::seed_from_u64(7);
    let nrm = Normal::new(0.0, 1.0).unwrap();
    let n = 400;
    let mut cols: Vec<Array1<f64>> = vec![];
    for _ in 0..4 {
        let mut c: Array1<f64> = (0..n).map(|_| nrm.sample(&mut rng)).collect();
        let mean = c.mean().unwrap();
        c -= mean;
        for p in &cols {
            let proj = c.dot(p);
            c = &c - &(p * proj);
        }
        let norm = c.dot(&c).sqrt();
        cols.push(c / norm);
    }
    let var: [f64; 4] = [0.60, 0.25, 0.10, 0.05];
    let x = Array2::from_shape_fn((n, 4), |(i, j)| cols[j][i] * var[j].sqrt());
    let red = pca80(x.view(), x.view()).unwrap();
    assert_eq!(red.n_components, 2);
    assert!((red.variance_explained - 0.85).abs() < 1e-9);
    let all = Pca::fit(x.view(), common::ml::decomposition::NComponents::All).unwrap();
    assert!((all.explained_variance_ratio.sum() - 1.0).abs() < 1e-12);
    let want = [0.60, 0.25, 0.10, 0.05];
    for (a, b) in all.explained_variance_ratio.iter().zip(want) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
    // Part 4's reported count obeys the rule (ratio > 0.8 with the count kept).
    let l4 = s.lines().find(|l| l.starts_with("PCA keeps")).unwrap();
    let pct: f64 = l4
        .split('(')
        .nth(1)
        .unwrap()
        .split('%')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(pct > 80.0 && pct < 100.0, "{l4}");

    // Check 5: a separable 1-D set is split once, perfectly; depth never exceeds 4;
    // importances are non-negative and sum to 1.
    let xs = Array2::from_shape_fn((40, 1), |(i, _)| i as f64 - 19.5);
    let ys: Array1<usize> = (0..40).map(|i| usize::from(i >= 20)).collect();
    let f = fit_tree(xs.view(), ys.view(), xs.view(), ys.view()).unwrap();
    assert_eq!(
        (f.train_acc, f.tree.depth(), f.tree.n_leaves()),
        (1.0, 1, 2)
    );
    let noise = Array2::from_shape_fn((300, 5), |_| nrm.sample(&mut rng));
    let yn: Array1<usize> = (0..300).map(|i| i % 2).collect();
    let deep = DecisionTree::fit(noise.view(), yn.view(), &TreeParams::default()).unwrap();
    assert!(deep.depth() > 4);
    let f = fit_tree(noise.view(), yn.view(), noise.view(), yn.view()).unwrap();
    assert_eq!(f.tree.depth(), 4);
    let imp = f.tree.feature_importances();
    assert!(imp.iter().all(|&v| v >= 0.0) && (imp.sum() - 1.0).abs() < 1e-12);
    assert!(s.contains("deepest tree: 4") || s.contains("deepest tree: 3"));
    assert!(s
        .lines()
        .any(|l| l == "deepest tree over all layers and repetitions: 4"
            || l == "deepest tree over all layers and repetitions: 3"));
    let (_, imp_rows) = read_csv(&run.file("part4b_importances.csv")).unwrap();
    let imps: Vec<f64> = imp_rows.iter().map(|r| r[1].parse().unwrap()).collect();
    assert!(imps.iter().all(|&v| v >= 0.0));
    assert!((imps.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    let mut sorted = imps.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let bars: Vec<f64> = run
        .check_figure("part4b")
        .unwrap()
        .iter()
        .filter(|r| r[2] == "bar")
        .map(|r| r[4].parse().unwrap())
        .collect();
    assert_eq!(bars.len(), 10.min(imps.len()));
    for (a, b) in bars.iter().zip(&sorted) {
        assert!((a - b).abs() < 1e-9);
    }

    // Check 6: the stratified split keeps class shares within one sample; OLS on an exact
    // line recovers it.
    let y3: Vec<usize> = (0..3360).map(|i| usize::from(i % 100 < 56)).collect();
    for seed in 0..5 {
        let sp = stratified_train_test_split(&y3, 0.2, &mut StdRng::seed_from_u64(seed)).unwrap();
        assert_eq!((sp.train.len(), sp.test.len()), (2688, 672));
        let pos = |idx: &[usize]| idx.iter().filter(|&&i| y3[i] == 1).count() as f64;
        let share = pos(&y3.iter().enumerate().map(|(i, _)| i).collect::<Vec<_>>()) / 3360.0;
        assert!((pos(&sp.train) - share * 2688.0).abs() <= 1.0);
        assert!((pos(&sp.test) - share * 672.0).abs() <= 1.0);
    }
    let line: Vec<f64> = (1..=24).map(|x| 0.5 + 0.01 * x as f64).collect();
    let (b0, b1) = accuracy_on_depth(&line).unwrap();
    assert!((b0 - 0.5).abs() < 1e-12 && (b1 - 0.01).abs() < 1e-12);
    // Part 7 on the run's own layer accuracies, by the closed-form slope.
    let acc: Vec<f64> = layer_rows[1..]
        .iter()
        .map(|r| r[2].parse().unwrap())
        .collect();
    let nx = acc.len() as f64;
    let xm = (nx + 1.0) / 2.0;
    let ym = acc.iter().sum::<f64>() / nx;
    let sxy: f64 = acc
        .iter()
        .enumerate()
        .map(|(i, a)| (i as f64 + 1.0 - xm) * (a - ym))
        .sum();
    let sxx: f64 = (1..=acc.len()).map(|i| (i as f64 - xm).powi(2)).sum();
    let slope = sxy / sxx;
    assert!(
        s.contains(&format!("beta1 = {:.3}%", 100.0 * slope)),
        "{slope}"
    );
    let msd = (acc[acc.len() - 1] - acc[0]) / (nx - 1.0);
    assert!((mean_successive_difference(&acc) - msd).abs() < 1e-12);
    assert!(s.contains(&format!("mean successive difference {:.4}%", 100.0 * msd)));
    let fitted = series(&run, "part6", "Fitted line");
    assert_eq!(fitted.len(), acc.len());
    assert!((fitted[1].1 - fitted[0].1 - slope).abs() < 1e-6);
    assert!(run
        .check_figure("part6")
        .unwrap()
        .iter()
        .any(|r| r[0] == format!("Increase of {:.3}% accuracy per transformer", 100.0 * slope)));
}
