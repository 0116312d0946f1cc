//! Runs the project in --quick mode (tiny GPT-2 for RoBERTa, MiniLM for BERT-large,
//! offline) and checks the spec's offline checks on what it wrote, against projections
//! recomputed here from the raw embedding matrices.

use common::testing::reference::{self, RawMatrix};
use common::testing::{read_csv, run_project};

/// GPT-2 ids of the pole words (Hugging Face `tokenizers` on GPT-2's tokenizer.json;
/// RoBERTa's BPE splits them the same way).
const GPT2_POLES: [(&str, u32); 8] = [
    ("future", 2003),
    ("past", 1613),
    ("good", 922),
    ("evil", 6181),
    ("young", 1862),
    ("old", 1468),
    ("big", 1263),
    ("small", 1402),
];

fn gpt2_id(word: &str) -> u32 {
    GPT2_POLES.iter().find(|p| p.0 == word).unwrap().1
}

/// proj[t] = cos(E[t], E[pos] − E[neg]) for every row t (projection of the unit rows onto
/// the unit axis normalised after subtracting), in f64.
fn projections(e: &RawMatrix, pos: u32, neg: u32) -> Vec<f64> {
    let (p, n) = (e.row(pos as usize), e.row(neg as usize));
    let axis: Vec<f64> = p.iter().zip(&n).map(|(a, b)| a - b).collect();
    (0..e.rows)
        .map(|t| reference::cosine(&e.row(t), &axis))
        .collect()
}

/// The top-10 and bottom-10 tables `{table}_top10.csv` / `{table}_bottom10.csv` against
/// the recomputed projections. Compared by value at each rank (float32 in the program,
/// f64 here: a near tie may swap two ids, never their values), and each listed id's own
/// projection.
fn check_tables(run: &common::testing::ProjectRun, table: &str, proj: &[f64]) {
    for (which, descending) in [("top10", true), ("bottom10", false)] {
        let name = format!("{table}_{which}.csv");
        let (header, rows) = read_csv(&run.file(&name)).unwrap();
        assert_eq!(
            header,
            ["rank", "token_id", "projection", "token"],
            "{name}"
        );
        let want = reference::extreme_indices(proj, 10, descending);
        assert_eq!(rows.len(), 10, "{name}");
        for (k, r) in rows.iter().enumerate() {
            assert_eq!(r[0], (k + 1).to_string(), "{name}");
            let id: usize = r[1].parse().unwrap();
            let p: f64 = r[2].parse().unwrap();
            assert!(
                (p - proj[want[k]]).abs() < 1e-5,
                "{name} rank {}: {p} vs {} (id {})",
                k + 1,
                proj[want[k]],
                want[k]
            );
            assert!(
                (p - proj[id]).abs() < 1e-5,
                "{name}: id {id} projects to {}",
                proj[id]
            );
        }
    }
}

#[test]
fn quick_run_checks() {
    let run = run_project(
        env!("CARGO_BIN_EXE_project14_linear_semantic_axes"),
        &["--quick", "--device", "cpu"],
    )
    .unwrap();
    let gpt2 = reference::token_embeddings(&reference::tiny_gpt2_dir()).unwrap();
    let minilm_dir = common::embeddings::minilm_dir().unwrap();
    let bert = reference::token_embeddings(&minilm_dir).unwrap();
    let bert_id = |w: &str| reference::vocab_txt_id(&minilm_dir, w).unwrap();

    // Parts 2-3 on the main model (the tiny GPT-2) for the four axes, and Part 5's main
    // axis on each other model: (figure prefix, table prefix, matrix, pole ids).
    let mut parts: Vec<(String, String, &RawMatrix, u32, u32)> = vec![];
    for (i, (pos, neg)) in [
        ("future", "past"),
        ("good", "evil"),
        ("young", "old"),
        ("big", "small"),
    ]
    .into_iter()
    .enumerate()
    {
        let s = if i == 0 {
            String::new()
        } else {
            format!("_{pos}-{neg}")
        };
        parts.push((
            format!("ch3_proj14_part{{}}{s}"),
            format!("part3{s}"),
            &gpt2,
            gpt2_id(pos),
            gpt2_id(neg),
        ));
    }
    parts.push((
        "ch3_proj14_part5_bert_part{}".into(),
        "part5_bert_part3".into(),
        &bert,
        bert_id("future"),
        bert_id("past"),
    ));
    parts.push((
        "ch3_proj14_part5_tiny-gpt2_part{}".into(),
        "part5_tiny-gpt2_part3".into(),
        &gpt2,
        gpt2_id("future"),
        gpt2_id("past"),
    ));
    // Check 2: the lists are the extremes of cos(E[t], axis); check 1: ‖a_norm‖ =
    // sqrt(2 − 2 cos(pos, neg)), printed once per axis.
    let s = run.summary();
    let mut want_norms = vec![];
    for (_, table, e, pos, neg) in &parts {
        check_tables(&run, table, &projections(e, *pos, *neg));
        let c = reference::cosine(&e.row(*pos as usize), &e.row(*neg as usize));
        let r = format!("{:.3}", (2.0 - 2.0 * c).sqrt());
        want_norms.push(format!(
            "norm of axis (subtraction of normed vectors) = {r} (sqrt(2 - 2 cos) = {r})"
        ));
    }
    let got_norms: Vec<&str> = s
        .lines()
        .filter(|l| l.starts_with("norm of axis (subtraction"))
        .collect();
    assert_eq!(got_norms, want_norms);
    assert_eq!(
        s.matches("norm of axis (normed after subtraction) = 1.000")
            .count(),
        6
    );
    assert_eq!(s.matches("norm of En[300] = 1.000000").count(), 3, "{s}");

    // Every figure is a valid image with its CSV, and these are all the figures: the
    // main model's Part 1, each axis's Parts 2-3, and each Part 5 model's Parts 1-3.
    let mut want_pngs = vec!["ch3_proj14_part1".to_string()];
    for (fig, ..) in &parts {
        want_pngs.push(fig.replace("{}", "2"));
        want_pngs.push(fig.replace("{}", "3"));
        if fig.contains("part5") {
            want_pngs.push(fig.replace("{}", "1"));
        }
    }
    for f in &want_pngs {
        run.check_figure(f).unwrap();
    }
    want_pngs.sort();
    let files = |suffix: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&run.dir)
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                name.strip_suffix(suffix).map(String::from)
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(files(".png"), want_pngs);
    let mut want_tables: Vec<String> = parts.iter().map(|p| p.1.clone()).collect();
    want_tables.sort();
    assert_eq!(files("_top10.csv"), want_tables);
    assert_eq!(files("_bottom10.csv"), want_tables);

    // Check 6: the pole words are single tokens that decode back to themselves (GPT-2's
    // BPE = RoBERTa's merges; ids in GPT-2 numbering under --quick).
    for (w, id) in GPT2_POLES {
        assert!(
            s.contains(&format!("\" {w}\" -> [{id}] -> \" {w}\"")),
            "{w}: {s}"
        );
    }
}
