//! The flags every project shares. A project's own `clap` parser flattens
//! [`CommonArgs`] into it:
//!
//! ```text
//! #[derive(clap::Parser)]
//! struct Args { #[command(flatten)] common: common::cli::CommonArgs, /* own flags */ }
//! ```

use crate::hub::ModelFiles;
use crate::output::Output;
use anyhow::{anyhow, Context, Result};
use std::path::{Path, PathBuf};
use tch::{Device, Kind};

/// Flags shared by every project.
#[derive(clap::Args, Debug, Clone)]
pub struct CommonArgs {
    /// The project's main model: a Hugging Face hub id (e.g. gpt2, gpt2-large) or a
    /// local model directory. Each project has its own default (the book's model); a
    /// project's other models have flags of their own (see --help).
    #[arg(long)]
    pub model: Option<String>,

    /// Where to compute: auto (CUDA when available), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,

    /// Weight precision: f32, or f16/bf16 on CUDA.
    #[arg(long, default_value = "f32")]
    pub dtype: String,

    /// Hub revision (branch, tag or commit) of the model, e.g. `step3000` for one of
    /// Pythia's intermediate training checkpoints (default: the repo's main branch).
    /// Ignored for local model directories.
    #[arg(long)]
    pub revision: Option<String>,

    /// Output folder (default: outputs/<project name>).
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// Seed for everything random in the run.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Smoke-test mode: the tiny test model shipped in assets/ and small sizes, offline,
    /// in seconds. Its numbers come from random weights and mean nothing.
    #[arg(long)]
    pub quick: bool,

    /// CPU threads for libtorch (default: libtorch's own choice).
    #[arg(long)]
    pub threads: Option<i32>,
}

/// The tiny randomly initialised GPT-2 that `--quick` runs use.
pub fn tiny_gpt2() -> String {
    tiny_model("tiny-gpt2")
}

/// The tiny randomly initialised RoBERTa with its masked-LM head (2 layers, d 16,
/// byte-level BPE of 320 tokens) that `--quick` runs of masked-LM projects use.
pub fn tiny_roberta() -> String {
    tiny_model("tiny-roberta")
}

/// The folder of one of the tiny test models in `assets/models/` (`tiny-gpt2`,
/// `tiny-bert`, `tiny-roberta`, `tiny-gpt-neo`, `tiny-gpt-neox`, ...).
pub fn tiny_model(name: &str) -> String {
    crate::assets_dir()
        .join("models")
        .join(name)
        .display()
        .to_string()
}

/// The block a project works on: `value`, the block its flag `--{flag}` names, checked
/// against the model's `n_layers` blocks (an error that names the flag, the model and the
/// valid range, not a panic deep in the run); without the flag, the book's block `book`,
/// or the model's last block where it has fewer (the tiny `--quick` models).
pub fn block_or(
    flag: &str,
    value: Option<usize>,
    book: usize,
    n_layers: usize,
    model_id: &str,
) -> Result<usize> {
    if n_layers == 0 {
        anyhow::bail!("{model_id} has no transformer blocks");
    }
    match value {
        Some(l) if l >= n_layers => Err(anyhow!(
            "--{flag} {l} is out of range: {model_id} has {n_layers} blocks (0..={})",
            n_layers - 1
        )),
        Some(l) => Ok(l),
        None => Ok(book.min(n_layers - 1)),
    }
}

impl CommonArgs {
    /// Check `--device` and `--dtype` (an unknown device, CUDA asked for on a machine
    /// without it, or half precision on the CPU is an error here, before any work is
    /// done) and apply the process-wide settings (threads, seed).
    pub fn init(&self) -> Result<()> {
        self.dtype()?; // parses --device too, and checks the dtype against it
        if let Some(n) = self.threads {
            if n < 1 {
                anyhow::bail!("--threads must be at least 1");
            }
            tch::set_num_threads(n);
        }
        tch::manual_seed(self.seed as i64);
        Ok(())
    }

    /// The device from `--device`.
    pub fn device(&self) -> Result<Device> {
        crate::device::parse_device(&self.device)
    }

    /// The weight dtype from `--dtype` (checked against the device).
    pub fn dtype(&self) -> Result<Kind> {
        crate::device::parse_dtype(&self.dtype, self.device()?)
    }

    /// The model to load: `--model` if given, the tiny test model under `--quick`,
    /// else the project's default.
    pub fn model_or(&self, default: &str) -> String {
        match (&self.model, self.quick) {
            (Some(m), _) => m.clone(),
            (None, true) => tiny_gpt2(),
            (None, false) => default.to_string(),
        }
    }

    /// A BERT-vocabulary model for embedding-only projects: `--model` if given, the real
    /// all-MiniLM-L6-v2 (bert-base-uncased's vocabulary, 384-d) under `--quick`, else
    /// `default`.
    pub fn bert_model_or(&self, default: &str) -> Result<String> {
        Ok(match (&self.model, self.quick) {
            (Some(m), _) => m.clone(),
            (None, true) => crate::embeddings::minilm_dir()?.display().to_string(),
            (None, false) => default.to_string(),
        })
    }

    /// A model the project uses besides its main one (`--model`), named by its own flag
    /// `flag`: the flag's value when given, the tiny test GPT-2 under `--quick`, else
    /// `default` (the book's model). `--model` never changes it.
    pub fn other_model_or(&self, flag: Option<&str>, default: &str) -> String {
        match (flag, self.quick) {
            (Some(m), _) => m.to_string(),
            (None, true) => tiny_gpt2(),
            (None, false) => default.to_string(),
        }
    }

    /// [`Self::other_model_or`] for a BERT-vocabulary model: all-MiniLM-L6-v2 under
    /// `--quick` (see [`Self::bert_model_or`]).
    pub fn other_bert_model_or(&self, flag: Option<&str>, default: &str) -> Result<String> {
        Ok(match (flag, self.quick) {
            (Some(m), _) => m.to_string(),
            (None, true) => crate::embeddings::minilm_dir()?.display().to_string(),
            (None, false) => default.to_string(),
        })
    }

    /// Find every model a run will load through [`Self::load_model`] before it computes
    /// anything: each id is resolved through [`crate::hub`] (downloaded now if it is not
    /// cached, at `--revision`), its `config.json` read and checked (valid JSON, a
    /// supported `model_type`) and each safetensors file's header checked against the
    /// file's length (a truncated copy is caught here). Nothing is loaded. An error
    /// names the model; offline, it also says that `--quick` needs no download.
    pub fn resolve_models<S: AsRef<str>>(&self, ids: &[S]) -> Result<Vec<ModelFiles>> {
        ids.iter()
            .map(|id| self.check_model(id.as_ref(), self.revision.as_deref()))
            .collect()
    }

    /// One model resolved as [`Self::resolve_models`] does, and its config read.
    fn resolve_with_config(&self, id: &str) -> Result<(ModelFiles, crate::model::ModelConfig)> {
        let files = self.check_model(id, self.revision.as_deref())?;
        let cfg = crate::model::ModelConfig::from_file(&files.config)?;
        Ok((files, cfg))
    }

    /// [`Self::resolve_models`] for the one model of a project that needs a causal
    /// decoder (GPT-2, GPT-Neo, GPT-NeoX), with its config: a masked-language encoder
    /// (BERT, RoBERTa) is an error "`id` is a `model_type` encoder: `needs`", where
    /// `needs` says what the project reads and which model to pass instead.
    pub fn resolve_decoder(
        &self,
        id: &str,
        needs: &str,
    ) -> Result<(ModelFiles, crate::model::ModelConfig)> {
        let (files, cfg) = self.resolve_with_config(id)?;
        if cfg.arch.is_encoder() {
            anyhow::bail!("{id} is a {} encoder: {needs}", cfg.model_type);
        }
        Ok((files, cfg))
    }

    /// [`Self::resolve_models`] for the one model of a project that reads GPT-2's own
    /// modules (the fused `attn.c_attn`, the Conv1D MLP), with its config: any other
    /// architecture is an error "`id` is a `model_type` model: `needs`".
    pub fn resolve_gpt2(
        &self,
        id: &str,
        needs: &str,
    ) -> Result<(ModelFiles, crate::model::ModelConfig)> {
        let (files, cfg) = self.resolve_with_config(id)?;
        if cfg.arch != crate::model::Arch::Gpt2 {
            anyhow::bail!("{id} is a {} model: {needs}", cfg.model_type);
        }
        Ok((files, cfg))
    }

    /// [`Self::resolve_models`] for the models a run reads with
    /// [`crate::embeddings::token_embeddings`] (their main branch; `--revision` applies
    /// to [`Self::load_model`] only), checking too that the architecture has a known
    /// token-embedding tensor.
    pub fn resolve_embeddings<S: AsRef<str>>(&self, ids: &[S]) -> Result<Vec<ModelFiles>> {
        ids.iter()
            .map(|id| {
                let id = id.as_ref();
                let files = self.check_model(id, None)?;
                let cfg = crate::model::ModelConfig::from_file(&files.config)?;
                crate::embeddings::embedding_tensor_name(&cfg.model_type)
                    .map_err(|e| anyhow!("model {id:?}: {e:#}"))?;
                Ok(files)
            })
            .collect()
    }

    fn check_model(&self, id: &str, revision: Option<&str>) -> Result<ModelFiles> {
        let files = crate::hub::resolve_model_at(id, revision).map_err(|e| {
            let hint = if self.quick {
                String::new()
            } else {
                "; --quick runs this project on the bundled tiny models instead, offline and \
                 in seconds"
                    .to_string()
            };
            let local = id.starts_with('.') || id.starts_with('/') || Path::new(id).exists();
            if local {
                e.context(format!("model folder {id:?} cannot be used{hint}"))
            } else if crate::hub::is_offline() {
                e.context(format!(
                    "model {id:?} is not available offline (HF_HUB_OFFLINE is set and it is not \
                     in the Hugging Face cache {}): run once with network access, or pass \
                     --model DIR for a local copy{hint}",
                    crate::hub::hub_cache_dir().display()
                ))
            } else {
                e.context(format!("model {id:?} could not be found{hint}"))
            }
        })?;
        // One line that says what is wrong (the causes joined), as a learner reads it.
        crate::model::ModelConfig::from_file(&files.config)
            .map_err(|e| anyhow!("model {id:?}: its config.json cannot be used: {e:#}"))?;
        for w in &files.weights {
            check_weight_file(w).map_err(|e| anyhow!("model {id:?}: {e:#}"))?;
        }
        Ok(files)
    }

    /// The output folder for `project` (`--out`, default `outputs/<project>`): checked
    /// to be writable now; the run's files replace it in [`Output::finish`].
    pub fn output(&self, project: &str) -> Result<Output> {
        let dir = self
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("outputs").join(project));
        Output::new(dir)
    }

    /// Load a model per these flags.
    pub fn load_model(&self, id: &str) -> Result<crate::model::HookedModel> {
        let device = self.device()?;
        let dtype = self.dtype()?;
        let pb = crate::progress::spinner(&format!(
            "loading {id} on {}",
            crate::device::describe(device)
        ));
        let m = crate::model::HookedModel::load(
            id,
            crate::model::LoadOptions {
                device,
                dtype,
                revision: self.revision.clone(),
            },
        );
        pb.finish_and_clear();
        m
    }
}

/// A safetensors file's header parses and its tensors' byte ranges end exactly at the
/// end of the file (what the loader checks too, here without reading any tensor).
/// PyTorch checkpoints are left to the loader.
fn check_weight_file(path: &Path) -> Result<()> {
    if path.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        return Ok(());
    }
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: read-only map of a file only read while the map lives (the same use as
    // the loader's); only the header's pages are touched.
    let map = unsafe { memmap2::Mmap::map(&f) }
        .with_context(|| format!("memory-mapping {}", path.display()))?;
    safetensors::SafeTensors::read_metadata(&map).map_err(|e| {
        anyhow!(
            "{} is not a complete safetensors file ({e:?}, {} bytes): it is probably \
             truncated by an interrupted download or copy; delete it (a hub model is then \
             downloaded again) or copy it again",
            path.display(),
            map.len()
        )
    })?;
    Ok(())
}

/// The four GPT-2 sizes, for projects that compare them (p20, p33): a `--sizes`-style
/// flag takes them by [`Gpt2Size::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Gpt2Size {
    Small,
    Medium,
    Large,
    Xl,
}

impl Gpt2Size {
    /// Smallest first.
    pub const ALL: [Gpt2Size; 4] = [Self::Small, Self::Medium, Self::Large, Self::Xl];

    /// `small`, `medium`, `large`, `xl` (as the flags and the book's labels write them).
    pub fn name(self) -> &'static str {
        match self {
            Self::Small => "small",
            Self::Medium => "medium",
            Self::Large => "large",
            Self::Xl => "xl",
        }
    }

    /// The Hugging Face id of the book's model of this size.
    pub fn default_id(self) -> &'static str {
        match self {
            Self::Small => "gpt2",
            Self::Medium => "gpt2-medium",
            Self::Large => "gpt2-large",
            Self::Xl => "gpt2-xl",
        }
    }
}

/// The flags that name the larger GPT-2 sizes' models (small is `--model`); flatten it
/// into a project's arguments with `#[command(flatten)]`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Gpt2SizeModels {
    /// GPT-2 medium [default: gpt2-medium; the tiny GPT-2 under --quick].
    #[arg(long)]
    pub medium_model: Option<String>,
    /// GPT-2 large [default: gpt2-large; the tiny GPT-2 under --quick].
    #[arg(long)]
    pub large_model: Option<String>,
    /// GPT-2 xl [default: gpt2-xl; the tiny GPT-2 under --quick].
    #[arg(long)]
    pub xl_model: Option<String>,
}

impl Gpt2SizeModels {
    /// The model id of each size in `sizes`, smallest first and each once: small is
    /// `--model` (else `gpt2`), the others their own flag, the tiny GPT-2 under `--quick`,
    /// else the book's model ([`CommonArgs::other_model_or`]).
    pub fn ids(&self, common: &CommonArgs, sizes: &[Gpt2Size]) -> Vec<(Gpt2Size, String)> {
        Gpt2Size::ALL
            .into_iter()
            .filter(|s| sizes.contains(s))
            .map(|s| {
                let flag = match s {
                    Gpt2Size::Small => return (s, common.model_or(s.default_id())),
                    Gpt2Size::Medium => &self.medium_model,
                    Gpt2Size::Large => &self.large_model,
                    Gpt2Size::Xl => &self.xl_model,
                };
                (s, common.other_model_or(flag.as_deref(), s.default_id()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Args {
        #[command(flatten)]
        common: CommonArgs,
    }

    fn init(args: &[&str]) -> Result<()> {
        let a = Args::try_parse_from(std::iter::once("project").chain(args.iter().copied()))
            .expect("flags parse");
        a.common.init()
    }

    #[test]
    fn gpt2_size_models_are_model_then_each_flag_then_quick_then_the_books() {
        #[derive(Parser)]
        struct Sized {
            #[command(flatten)]
            common: CommonArgs,
            #[command(flatten)]
            sizes: Gpt2SizeModels,
        }
        let parse = |args: &[&str]| {
            Sized::try_parse_from(std::iter::once("project").chain(args.iter().copied()))
                .expect("flags parse")
        };
        let ids = |a: &Sized, sizes: &[Gpt2Size]| -> Vec<(&'static str, String)> {
            a.sizes
                .ids(&a.common, sizes)
                .into_iter()
                .map(|(s, id)| (s.name(), id))
                .collect()
        };
        let a = parse(&[]);
        let all = ids(
            &a,
            &[
                Gpt2Size::Xl,
                Gpt2Size::Small,
                Gpt2Size::Large,
                Gpt2Size::Medium,
            ],
        );
        let want = [
            ("small", "gpt2"),
            ("medium", "gpt2-medium"),
            ("large", "gpt2-large"),
            ("xl", "gpt2-xl"),
        ];
        assert_eq!(all, want.map(|(s, i)| (s, i.to_string())));
        let a = parse(&["--model", "my-small", "--large-model", "my-large"]);
        assert_eq!(
            ids(&a, &[Gpt2Size::Large, Gpt2Size::Small, Gpt2Size::Large]),
            [
                ("small", "my-small".to_string()),
                ("large", "my-large".to_string())
            ]
        );
        let a = parse(&["--quick", "--xl-model", "my-xl"]);
        assert_eq!(
            ids(&a, &Gpt2Size::ALL),
            [
                ("small", tiny_gpt2()),
                ("medium", tiny_gpt2()),
                ("large", tiny_gpt2()),
                ("xl", "my-xl".to_string())
            ]
        );
    }

    #[test]
    fn init_rejects_a_bad_device_at_once() {
        let err = init(&["--quick", "--device", "tpu"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--device") && err.contains("tpu"), "{err}");
        assert!(init(&["--device", "cuda:x"]).is_err());
        init(&["--quick", "--device", "cpu"]).unwrap();
        init(&["--quick"]).unwrap();
    }

    #[test]
    fn init_rejects_cuda_without_a_gpu() {
        if tch::Cuda::is_available() {
            // with a GPU, only an index past the last device is refused
            let err = init(&["--device", "cuda:999"]).unwrap_err().to_string();
            assert!(err.contains("CUDA device"), "{err}");
            return;
        }
        let err = init(&["--device", "cuda"]).unwrap_err().to_string();
        assert!(err.contains("CUDA"), "{err}");
    }

    #[test]
    fn init_rejects_half_precision_on_the_cpu_and_bad_dtypes() {
        for dt in ["bf16", "f16"] {
            let err = init(&["--dtype", dt, "--device", "cpu"])
                .unwrap_err()
                .to_string();
            assert!(err.contains("only supported on CUDA"), "{err}");
        }
        let err = init(&["--dtype", "f8", "--device", "cpu"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--dtype"), "{err}");
        assert!(init(&["--threads", "0", "--device", "cpu"]).is_err());
    }

    fn args(a: &[&str]) -> CommonArgs {
        Args::try_parse_from(std::iter::once("project").chain(a.iter().copied()))
            .expect("flags parse")
            .common
    }

    #[test]
    fn model_flag_is_the_main_model_only() {
        let a = args(&["--model", "my-bert"]);
        assert_eq!(a.model_or("bert-large-uncased"), "my-bert");
        assert_eq!(a.bert_model_or("bert-large-uncased").unwrap(), "my-bert");
        assert_eq!(a.other_model_or(None, "gpt2-medium"), "gpt2-medium");
        assert_eq!(
            a.other_bert_model_or(None, "bert-base-uncased").unwrap(),
            "bert-base-uncased"
        );
        assert_eq!(a.other_model_or(Some("gpt2-xl"), "gpt2-medium"), "gpt2-xl");
        // --quick stands in for every model, but an explicit flag still wins
        let q = args(&["--quick", "--model", "my-bert"]);
        assert_eq!(q.other_model_or(None, "gpt2-medium"), tiny_gpt2());
        assert_eq!(q.other_model_or(Some("x"), "gpt2-medium"), "x");
    }

    /// A copy of the tiny GPT-2 in a temporary folder, for breaking it.
    fn tiny_copy() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let src = PathBuf::from(tiny_gpt2());
        for f in ["config.json", "model.safetensors", "tokenizer.json"] {
            std::fs::copy(src.join(f), tmp.path().join(f)).unwrap();
        }
        tmp
    }

    #[test]
    fn resolving_catches_broken_models_before_any_work() {
        let a = args(&["--device", "cpu"]);
        let good = tiny_copy();
        let id = good.path().display().to_string();
        let files = a.resolve_models(&[&id]).unwrap();
        assert_eq!(
            files[0].weights,
            vec![good.path().join("model.safetensors")]
        );
        assert_eq!(a.resolve_embeddings(&[&id]).unwrap().len(), 1);

        let msg = |dir: &tempfile::TempDir| {
            format!(
                "{:#}",
                a.resolve_models(&[dir.path().display().to_string()])
                    .unwrap_err()
            )
        };
        let truncated = tiny_copy();
        let w = truncated.path().join("model.safetensors");
        let len = std::fs::metadata(&w).unwrap().len();
        std::fs::File::options()
            .write(true)
            .open(&w)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
        let m = msg(&truncated);
        assert!(
            m.contains("not a complete safetensors file") && m.contains("truncated"),
            "{m}"
        );

        let bad_json = tiny_copy();
        std::fs::write(
            bad_json.path().join("config.json"),
            "{\"model_type\": \"gpt2\",",
        )
        .unwrap();
        let m = msg(&bad_json);
        assert!(
            m.contains("config.json") && m.contains("not valid JSON"),
            "{m}"
        );

        let llama = tiny_copy();
        std::fs::write(
            llama.path().join("config.json"),
            r#"{"model_type": "llama"}"#,
        )
        .unwrap();
        let m = msg(&llama);
        assert!(m.contains("\"llama\" is not supported"), "{m}");

        // a missing folder: the error names it and, outside --quick, offers --quick
        let m = format!("{:#}", a.resolve_models(&["./no/such/model"]).unwrap_err());
        assert!(
            m.contains("./no/such/model") && m.contains("--quick"),
            "{m}"
        );
    }

    #[test]
    fn resolve_decoder_refuses_an_encoder_with_the_projects_reason() {
        let a = args(&["--device", "cpu"]);
        let models = crate::assets_dir().join("models");
        let gpt2 = models.join("tiny-gpt2").display().to_string();
        let (files, cfg) = a.resolve_decoder(&gpt2, "unused").unwrap();
        assert_eq!(files.config, models.join("tiny-gpt2").join("config.json"));
        assert_eq!((cfg.model_type.as_str(), cfg.n_layers), ("gpt2", 3));
        let bert = models.join("tiny-bert").display().to_string();
        let e = a
            .resolve_decoder(&bert, "this project reads next-token logits")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!("{bert} is a bert encoder: this project reads next-token logits")
        );
    }

    #[test]
    fn resolve_gpt2_refuses_other_decoders_and_encoders_with_the_projects_reason() {
        let a = args(&["--device", "cpu"]);
        let models = crate::assets_dir().join("models");
        let gpt2 = models.join("tiny-gpt2").display().to_string();
        let (files, cfg) = a.resolve_gpt2(&gpt2, "unused").unwrap();
        assert_eq!(files.config, models.join("tiny-gpt2").join("config.json"));
        assert_eq!(cfg.model_type, "gpt2");
        for (name, model_type) in [("tiny-gpt-neo", "gpt_neo"), ("tiny-bert", "bert")] {
            let id = models.join(name).display().to_string();
            let e = a
                .resolve_gpt2(&id, "this project reads attn.c_attn")
                .unwrap_err()
                .to_string();
            assert_eq!(
                e,
                format!("{id} is a {model_type} model: this project reads attn.c_attn")
            );
        }
    }

    #[test]
    fn revision_flag_is_passed_on() {
        let a = Args::try_parse_from(["p", "--revision", "step3000"]).unwrap();
        assert_eq!(a.common.revision.as_deref(), Some("step3000"));
        let a = Args::try_parse_from(["p"]).unwrap();
        assert_eq!(a.common.revision, None);
    }
}
