//! Times each PP-OCRv6 model (tiny and small detection and recognition) on
//! the same inputs with two runtimes, one thread each, alternating: rten
//! (pure Rust) and ONNX Runtime through ort (the library from the pinned
//! onnxruntime wheel). Detection runs on the given receipts at the agent's
//! input size (longer side 1280); recognition on batches of 8 lines of
//! 48 × 480. Prints the median seconds per call and the ratio.

use std::path::PathBuf;
use std::time::Instant;

use rten_tensor::NdTensor;
use rten_tensor::prelude::*;

fn models_dir() -> PathBuf {
    std::env::var_os("AGENT_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cache/receipt-ocr/models")
        })
}

fn det_input(path: &str, limit: u32) -> ([usize; 4], Vec<f32>) {
    let img = image::open(path).expect("an image").to_luma8();
    let (w, h) = img.dimensions();
    let s = (limit as f32 / w.max(h) as f32).min(1.0);
    let nw = (((w as f32 * s) / 32.0).round() as u32).max(1) * 32;
    let nh = (((h as f32 * s) / 32.0).round() as u32).max(1) * 32;
    let r = image::imageops::resize(&img, nw, nh, image::imageops::FilterType::Triangle);
    let mean = [0.485f32, 0.456, 0.406];
    let std = [0.229f32, 0.224, 0.225];
    let plane = (nw * nh) as usize;
    let mut v = vec![0f32; 3 * plane];
    for c in 0..3 {
        for (i, p) in r.pixels().enumerate() {
            v[c * plane + i] = (f32::from(p.0[0]) / 255.0 - mean[c]) / std[c];
        }
    }
    ([1, 3, nh as usize, nw as usize], v)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let images: Vec<String> = std::env::args().skip(1).collect();
    assert!(!images.is_empty(), "usage: runtime-bench IMAGE...");
    let dir = models_dir();
    let env = ort::init_from(dir.join("onnxruntime/libonnxruntime.so.1.32.0"))
        .expect("libonnxruntime (./infra/fetch-models.sh)")
        .build()
        .expect("an ONNX Runtime environment");
    let rten_pool = std::sync::Arc::new(rten::ThreadPool::with_num_threads(1));
    let opts = rten::RunOptions::default().with_thread_pool(Some(rten_pool));
    println!("{:<26}{:>10}{:>10}{:>12}", "model", "rten s", "ort s", "rten/ort");
    for (name, file) in [
        ("det tiny", "ppocrv6/tiny/det/det.onnx"),
        ("det small", "ppocrv6/small/det/det.onnx"),
        ("rec tiny (8 lines)", "ppocrv6/tiny/rec/rec.onnx"),
        ("rec small (8 lines)", "ppocrv6/small/rec/rec.onnx"),
    ] {
        let path = dir.join(file);
        let rten_model = rten::Model::load_file(&path).expect("rten loads the model");
        let mut session = ort::session::Session::builder(&env)
            .and_then(|b| b.with_intra_threads(1).map_err(Into::into))
            .and_then(|b| b.with_inter_threads(1).map_err(Into::into))
            .and_then(|mut b| b.commit_from_file(&path))
            .expect("ort loads the model");
        let inputs: Vec<([usize; 4], Vec<f32>)> = if name.starts_with("det") {
            images.iter().map(|p| det_input(p, 1280)).collect()
        } else {
            (0..images.len())
                .map(|i| ([8, 3, 48, 480], vec![(i % 7) as f32 / 7.0 - 0.5; 8 * 3 * 48 * 480]))
                .collect()
        };
        let (mut t_rten, mut t_ort) = (Vec::new(), Vec::new());
        for (shape, data) in &inputs {
            let x = NdTensor::from_data(*shape, data.clone());
            let t = Instant::now();
            let out = rten_model
                .run_one(x.view().into(), Some(opts.clone()))
                .expect("rten runs");
            t_rten.push(t.elapsed().as_secs_f64());
            drop(out);
            let x = ort::value::Tensor::from_array((shape.to_vec(), data.clone())).expect("a tensor");
            let t = Instant::now();
            let out = session.run(ort::inputs![x]).expect("ort runs");
            t_ort.push(t.elapsed().as_secs_f64());
            drop(out);
        }
        let (r, o) = (median(t_rten), median(t_ort));
        println!("{name:<26}{r:>10.3}{o:>10.3}{:>12.2}", r / o);
    }
}
