//! The flags every project shares. A project's own `clap` parser flattens
//! [`CommonArgs`] into it:
//!
//! ```text
//! #[derive(clap::Parser)]
//! struct Args { #[command(flatten)] common: common::cli::CommonArgs, /* own flags */ }
//! ```

use crate::output::Output;
use anyhow::Result;
use std::path::PathBuf;
use tch::{Device, Kind};

/// Flags shared by every project.
#[derive(clap::Args, Debug, Clone)]
pub struct CommonArgs {
    /// Model id on the Hugging Face hub (e.g. gpt2, gpt2-large) or a local model
    /// directory. Each project has its own default (the book's model).
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
    crate::assets_dir()
        .join("models/tiny-gpt2")
        .display()
        .to_string()
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

    /// The output folder for `project`, created.
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

    #[test]
    fn revision_flag_is_passed_on() {
        let a = Args::try_parse_from(["p", "--revision", "step3000"]).unwrap();
        assert_eq!(a.common.revision.as_deref(), Some("step3000"));
        let a = Args::try_parse_from(["p"]).unwrap();
        assert_eq!(a.common.revision, None);
    }
}
