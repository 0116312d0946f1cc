//! The unembedding writes its product straight into a (huge-page-marked) output; it must
//! give exactly the plain product, for every input rank, small and large.

use common::HookedModel;
use tch::{Device, Kind, Tensor};

#[test]
fn unembedding_into_its_output_equals_the_plain_product() {
    for name in ["tiny-gpt2", "tiny-gpt-neo", "tiny-gpt-neox"] {
        let p = common::assets_dir().join("models").join(name);
        let m = HookedModel::from_pretrained(p.to_str().unwrap(), Device::Cpu).unwrap();
        let d = m.cfg.d_model as i64;
        let w = m.unembed_matrix(); // [d_model, vocab]
        let vocab = w.size()[1];
        tch::manual_seed(3);
        // [d], [5, d], [2, 3, d], and [4, 40, d]: 160 rows x 50,257 logits x 4 bytes
        // = 32 MB for GPT-2's vocabulary, over the size that is marked for huge pages.
        for shape in [vec![d], vec![5, d], vec![2, 3, d], vec![4, 40, d]] {
            let x = Tensor::randn(shape.as_slice(), (Kind::Float, Device::Cpu));
            let got = m.unembed(&x).unwrap();
            let mut want_shape = shape.clone();
            *want_shape.last_mut().unwrap() = vocab;
            assert_eq!(got.size(), want_shape, "{name} {shape:?}");
            let want = x.matmul(&w);
            let diff = f64::try_from((&got - &want).abs().max()).unwrap();
            assert!(diff < 1e-5, "{name} {shape:?}: {diff}");
        }
        let bad = Tensor::zeros([2, d + 1], (Kind::Float, Device::Cpu));
        assert!(m.unembed(&bad).is_err());
    }
}
