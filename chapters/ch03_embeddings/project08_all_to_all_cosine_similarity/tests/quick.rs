//! Runs the project in --quick mode (real all-MiniLM-L6-v2 embeddings for BERT's
//! vocabulary, the tiny random GPT-2 for GPT-2; offline) and checks the spec's offline
//! checks on what it wrote.

use common::testing::{figure_series, read_csv, reference, run_project};

#[test]
#[allow(clippy::needless_range_loop)] // matrix checks read best with indices
fn quick_run_checks() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project08_all_to_all_cosine_similarity"),
        &["--quick", "--device", "cpu"],
    )
    .unwrap();
    let figs = [
        "ch3_embeddingsA",
        "ch3_embeddingsB",
        "ch3_cossimA",
        "ch3_cossimB",
        "ch3_proj8_part1",
        "ch3_proj8_part2",
        "ch3_proj8_part3",
        "ch3_proj8_part4",
        "ch3_proj8_part5",
    ];
    for f in figs {
        run.check_figure(f).unwrap();
    }
    let s = run.summary();
    // Background: the exact BERT ids of hello and world.
    assert!(s.contains("token ids: hello 7592, world 2088"), "{s}");
    // Part 1: two seeded ids in 3000..=6000; manual == library == the cosine of their
    // rows recomputed here (read straight from model.safetensors, plain f64), 5 decimals.
    let minilm = common::embeddings::minilm_dir().unwrap();
    let bert = reference::token_embeddings(&minilm).unwrap();
    let ids: Vec<usize> = s
        .lines()
        .filter_map(|l| l.strip_prefix("id "))
        .map(|l| l.split(':').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{s}");
    assert!(ids.iter().all(|id| (3000..=6000).contains(id)), "{ids:?}");
    let want = reference::cosine(&bert.row(ids[0]), &bert.row(ids[1]));
    for prefix in ["manual cosine similarity:", "library cosine similarity:"] {
        let v = run.summary_value(prefix).unwrap();
        assert!((v - want).abs() <= 5e-6 + 1e-7, "{prefix} {v} vs {want}");
    }
    // Part 2: shapes and counts.
    assert!(
        s.contains("cosine matrix shape [30522, 30522]: 931,592,484 elements"),
        "{s}"
    );
    assert!(s.contains("[10174, 10174], 103,510,276 elements; non-redundant: 51,750,051"));
    assert!(
        s.contains("subsample: 51,750,051 non-redundant values"),
        "{s}"
    );
    // Part 2 histogram is a density: area 1.
    let f2 = figure_series(&run.file("ch3_proj8_part2.csv")).unwrap();
    let bars = f2
        .iter()
        .find(|((p, _), _)| p.starts_with("(B)"))
        .unwrap()
        .1;
    let w = bars[1].0 - bars[0].0;
    assert_eq!(bars.len(), 100);
    assert!((bars.iter().map(|b| b.1).sum::<f64>() * w - 1.0).abs() < 1e-6);
    // Part 3: the "[unused" entries of the vocabulary file, and the cosines among their
    // rows (f16, as the program stores them) recomputed here.
    let vocab = std::fs::read_to_string(minilm.join("vocab.txt")).unwrap();
    let unused: Vec<usize> = vocab
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("[unused"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(unused.len(), 994);
    assert!(s.contains("994/30522 (3.26%) \"unused\" tokens"), "{s}");
    assert!(s.contains("There are 493,521 non-redundant values"), "{s}");
    assert!(s.contains("  1: [unused0]") && s.contains("  0: [PAD]"));
    let f3 = figure_series(&run.file("ch3_proj8_part3.csv")).unwrap();
    assert_eq!(f3.len(), 1);
    let pts = f3.values().next().unwrap();
    assert_eq!(pts.len(), 30522);
    // used tokens sit at 0, unused at 1 (± N(0, 1)/40 jitter)
    let high: Vec<usize> = pts
        .iter()
        .filter(|p| p.1 > 0.5)
        .map(|p| p.0 as usize)
        .collect();
    assert_eq!(high, unused);
    // unit rows in f64, all their dot products at once (libtorch, double precision),
    // then each rounded to f16 as the program stores it
    let flat: Vec<f64> = unused
        .iter()
        .flat_map(|&i| {
            let r = bert.row(i);
            let n = reference::norm(&r);
            r.into_iter().map(move |x| x / n)
        })
        .collect();
    let u = tch::Tensor::from_slice(&flat).view([unused.len() as i64, -1]);
    let products = Vec::<f64>::try_from(u.matmul(&u.tr()).view([-1])).unwrap();
    let nu = unused.len();
    let mut want: Vec<f64> = vec![];
    for i in 0..nu {
        for j in i + 1..nu {
            want.push(half::f16::from_f64(products[i * nu + j]).to_f64());
        }
    }
    let (header, rows) = read_csv(&run.file("part3_unused_values.csv")).unwrap();
    assert_eq!(header, ["cosine_f16", "count"]);
    let values: Vec<(f64, u64)> = rows
        .iter()
        .map(|r| (r[0].parse().unwrap(), r[1].parse().unwrap()))
        .collect();
    let total: u64 = values.iter().map(|v| v.1).sum();
    assert_eq!(total, 493_521);
    assert_eq!(want.len(), 493_521);
    // The same sorted values, each within an f16 step (the program rounds a float32
    // product to f16, this an f64 one: a value at a rounding boundary may land one step
    // apart).
    want.sort_by(f64::total_cmp);
    let got: Vec<f64> = values
        .iter()
        .flat_map(|&(v, c)| std::iter::repeat_n(v, c as usize))
        .collect();
    let worst = got
        .iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max);
    assert!(
        worst < 1e-3,
        "sorted unused-token cosines differ by up to {worst}"
    );

    // Parts 4-5: 10052 rows, 50,516,326 values each, 1,011 sampled pairs.
    assert!(s.contains("[10052, 16] in float16"), "{s}");
    assert!(s.contains("cosine: 50,516,326 non-redundant values"));
    assert!(s.contains("correlation: 50,516,326 non-redundant values"));
    assert!(s.contains("1011 pairs sampled"));
    assert!(s.contains("10 blocks of up to 1024 rows"));
    // Part 5: every 50,000th pair (i < j, row-major) of GPT-2's every-5th row, in f16:
    // (correlation, cosine) recomputed here from the raw rows.
    let gpt2 = reference::token_embeddings(&reference::tiny_gpt2_dir()).unwrap();
    let n = 10052;
    let f16_row = |i: usize| -> Vec<f64> {
        gpt2.row(5 * i)
            .iter()
            .map(|&x| half::f16::from_f64(x).to_f64())
            .collect()
    };
    let centred = |v: &[f64]| -> Vec<f64> {
        let m = reference::mean(v);
        v.iter().map(|x| x - m).collect()
    };
    let mut want = vec![];
    let (mut i, mut row_start) = (0usize, 0usize); // row i holds flat k in row_start..+n-1-i
    for k in (0..n * (n - 1) / 2).step_by(50_000) {
        while k >= row_start + (n - 1 - i) {
            row_start += n - 1 - i;
            i += 1;
        }
        let j = i + 1 + (k - row_start);
        let (a, b) = (f16_row(i), f16_row(j));
        want.push((
            reference::cosine(&centred(&a), &centred(&b)),
            reference::cosine(&a, &b),
        ));
    }
    let f5 = figure_series(&run.file("ch3_proj8_part5.csv")).unwrap();
    let pairs = f5.iter().find(|((_, n), _)| n == "pairs").unwrap().1;
    assert_eq!(pairs.len(), 1011);
    assert_eq!(want.len(), 1011);
    for (k, (g, w)) in pairs.iter().zip(&want).enumerate() {
        assert!(
            (g.0 - w.0).abs() < 3e-3 && (g.1 - w.1).abs() < 3e-3,
            "pair {k}: {g:?} vs {w:?}"
        );
    }
    let means = f5
        .iter()
        .find(|((_, n), _)| n == "Arithmetic mean")
        .unwrap()
        .1;
    assert_eq!(means.len(), 80);
    assert_eq!(means.iter().map(|p| p.1).sum::<f64>(), 10052.0);
}
