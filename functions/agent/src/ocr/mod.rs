//! The OCR engine: PP-OCRv6 ONNX models (text detection, then CTC line
//! recognition) run by ONNX Runtime, one thread per engine. The models and
//! the runtime library come from pinned PyPI wheels (`models`).

pub mod det;
pub mod layout;
pub mod models;
pub mod rec;

use std::path::Path;
use std::sync::OnceLock;

use image::GrayImage;
use ort::session::Session;
use ort::value::Tensor;

use det::DbParams;
use layout::{Line, Word};
pub use models::{ModelError, ModelFiles, Size};

#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(
        "ONNX Runtime could not be loaded from {path}: {reason}; fetch it with `{}`",
        models::FETCH_COMMAND
    )]
    Runtime { path: String, reason: String },
    #[error("the OCR model failed on this image: {0}")]
    Inference(String),
}

/// Which models read a receipt, and how.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The detector's size.
    pub det: Size,
    /// The recognizer that reads every line.
    pub rec: Size,
    /// A second, larger recognizer for the words the first read unsurely
    /// on the lines that carry the fields (header, dates, totals).
    pub refine: Option<Size>,
    /// The detector's input: the longer side, in pixels.
    pub det_side: u32,
    /// Outside the header, the larger recognizer reads a chosen word again
    /// only when the first read it with a confidence below this (1.0:
    /// every chosen word).
    pub refine_below: f32,
    /// Also read again the unsure words of the lines that end with a
    /// price (the items), not only the header and the field lines.
    pub refine_items: bool,
    /// Lines per recognizer call.
    pub batch: usize,
    /// Turn a sideways or upside-down page upright (`orient`).
    pub orient: bool,
    /// Detect a very tall page in overlapping tiles (`tiles`).
    pub tile: bool,
    pub db: DbParams,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            det: Size::Tiny,
            rec: Size::Tiny,
            refine: Some(Size::Small),
            det_side: 1280,
            // Measured on sroie-dev (BENCHMARKS.md): re-reading only the
            // words the tiny model was unsure of keeps the accuracy targets
            // at half the larger model's time.
            refine_below: 0.95,
            refine_items: true,
            // One line per call: a batch pads every line to the widest,
            // and the padding costs more than the calls it saves.
            batch: 1,
            orient: true,
            tile: true,
            db: DbParams::default(),
        }
    }
}

impl EngineConfig {
    /// The defaults, changed by `AGENT_DET`, `AGENT_REC`, `AGENT_REFINE`
    /// (`tiny`, `small` or `none`), `AGENT_DET_SIDE`, `AGENT_REC_BATCH` and
    /// `AGENT_REFINE_BELOW` (a confidence in percent); `AGENT_REFINE_ITEMS`,
    /// `AGENT_ORIENT` and `AGENT_TILES` (true or false).
    pub fn from_env() -> Result<Self, String> {
        let mut c = Self::default();
        let size = |name: &str| -> Result<Option<Option<Size>>, String> {
            match std::env::var(name) {
                Err(_) => Ok(None),
                Ok(v) if v == "none" => Ok(Some(None)),
                Ok(v) => Size::parse(&v)
                    .map(|s| Some(Some(s)))
                    .ok_or_else(|| format!("{name} must be tiny, small or none, not {v:?}")),
            }
        };
        if let Some(s) = size("AGENT_DET")? {
            c.det = s.ok_or("AGENT_DET cannot be none")?;
        }
        if let Some(s) = size("AGENT_REC")? {
            c.rec = s.ok_or("AGENT_REC cannot be none")?;
        }
        if let Some(s) = size("AGENT_REFINE")? {
            c.refine = s;
        }
        let num = |name: &str, default: u32, lo: u32, hi: u32| -> Result<u32, String> {
            match std::env::var(name) {
                Err(_) => Ok(default),
                Ok(v) => v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (lo..=hi).contains(n))
                    .ok_or_else(|| format!("{name} must be a number from {lo} to {hi}, not {v:?}")),
            }
        };
        c.det_side = num("AGENT_DET_SIDE", c.det_side, 320, 4000)?;
        c.batch = num("AGENT_REC_BATCH", c.batch as u32, 1, 64)? as usize;
        c.refine_below = num(
            "AGENT_REFINE_BELOW",
            (c.refine_below * 100.0).round() as u32,
            0,
            100,
        )? as f32
            / 100.0;
        c.refine_items = flag("AGENT_REFINE_ITEMS", c.refine_items)?;
        c.orient = flag("AGENT_ORIENT", c.orient)?;
        c.tile = flag("AGENT_TILES", c.tile)?;
        if c.refine == Some(c.rec) {
            c.refine = None;
        }
        Ok(c)
    }

    /// "ppocrv6 det tiny, rec tiny + small"
    pub fn describe(&self) -> String {
        let refine = self
            .refine
            .map(|s| format!(" + {}", s.name()))
            .unwrap_or_default();
        format!(
            "ppocrv6 det {}, rec {}{refine}",
            self.det.name(),
            self.rec.name()
        )
    }
}

/// A true/false setting from the environment.
fn flag(name: &str, default: bool) -> Result<bool, String> {
    match std::env::var(name).as_deref() {
        Err(_) => Ok(default),
        Ok("1" | "true") => Ok(true),
        Ok("0" | "false") => Ok(false),
        Ok(v) => Err(format!("{name} must be true or false, not {v:?}")),
    }
}

/// The engine's name and version as stored with each receipt.
pub fn version(config: &EngineConfig) -> String {
    format!("{} (onnxruntime 1.32.0)", config.describe())
}

static RUNTIME: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// Loads ONNX Runtime once per process.
fn runtime(path: &Path) -> Result<ort::environment::Environment, OcrError> {
    let loaded = RUNTIME.get_or_init(|| {
        if !path.is_file() {
            return Err("the file does not exist".to_owned());
        }
        ort::init_from(path)
            .map_err(|e| e.to_string())?
            .with_name("receipt-agent")
            .build()
            .map_err(|e| e.to_string())
    });
    loaded.clone().map_err(|reason| OcrError::Runtime {
        path: path.display().to_string(),
        reason,
    })
}

fn session(env: &ort::environment::Environment, path: &Path) -> Result<Session, OcrError> {
    let path = ModelFiles::require(path.to_path_buf())?;
    let load = |e: ort::Error| ModelError::Load {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    Ok(Session::builder(env)
        .map_err(load)?
        .with_intra_threads(1)
        .map_err(|e| load(e.into()))?
        .with_inter_threads(1)
        .map_err(|e| load(e.into()))?
        // Every receipt and batch has its own shape: memory patterns
        // planned for one shape are never reused, only kept.
        .with_memory_pattern(false)
        .map_err(|e| load(e.into()))?
        // Nor does an arena sized for the largest receipt so far pay off:
        // freed buffers go back to the allocator.
        .with_execution_providers([ort::ep::CPU::default().with_arena_allocator(false).build()])
        .map_err(|e| load(e.into()))?
        .commit_from_file(&path)
        .map_err(load)?)
}

/// Runs a model on one float input; answers the first output's shape and data.
fn infer(
    session: &mut Session,
    shape: &[usize],
    data: Vec<f32>,
) -> Result<(Vec<usize>, Vec<f32>), OcrError> {
    let fail = |e: ort::Error| OcrError::Inference(e.to_string());
    let input = Tensor::from_array((shape.to_vec(), data)).map_err(fail)?;
    let outputs = session.run(ort::inputs![input]).map_err(fail)?;
    let (out_shape, values) = outputs[0].try_extract_tensor::<f32>().map_err(fail)?;
    let dims = out_shape.iter().map(|&d| d.max(0) as usize).collect();
    Ok((dims, values.to_vec()))
}

struct Recognizer {
    session: Session,
    dictionary: Vec<String>,
}

impl Recognizer {
    fn load(
        env: &ort::environment::Environment,
        files: &ModelFiles,
        size: Size,
    ) -> Result<Self, OcrError> {
        let dictionary = models::read_dictionary(&ModelFiles::require(files.dictionary(size))?)?;
        let session = session(env, &files.recognizer(size))?;
        Ok(Self {
            session,
            dictionary,
        })
    }

    /// Reads the lines, batching those of similar width together.
    fn read(
        &mut self,
        lines: &[rec::LineImage],
        batch: usize,
    ) -> Result<Vec<rec::Decoded>, OcrError> {
        let mut order: Vec<usize> = (0..lines.len()).collect();
        order.sort_by_key(|&i| lines[i].width);
        let mut out = vec![
            rec::Decoded {
                text: String::new(),
                confidence: 0.0
            };
            lines.len()
        ];
        for chunk in order.chunks(batch.max(1)) {
            let imgs: Vec<&rec::LineImage> = chunk.iter().map(|&i| &lines[i]).collect();
            let (shape, data) = rec::batch_input(&imgs);
            let (dims, probs) = infer(&mut self.session, &shape, data)?;
            let [n, steps, classes] = dims[..] else {
                return Err(OcrError::Inference(format!(
                    "unexpected recognizer output {dims:?}"
                )));
            };
            if n != chunk.len() || classes != self.dictionary.len() + 1 {
                return Err(OcrError::Inference(format!(
                    "the recognizer answers {classes} classes for a dictionary of {}",
                    self.dictionary.len()
                )));
            }
            for (k, &i) in chunk.iter().enumerate() {
                let one = &probs[k * steps * classes..(k + 1) * steps * classes];
                out[i] = rec::ctc_decode(one, classes, &self.dictionary);
            }
        }
        Ok(out)
    }
}

/// What the engine read: lines in reading order, and its confidence (0–1).
#[derive(Debug, Clone, Default)]
pub struct Reading {
    pub lines: Vec<Line>,
    pub confidence: f32,
}

impl Reading {
    pub fn text(&self) -> String {
        self.lines
            .iter()
            .map(Line::text)
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// One warm engine: its sessions stay loaded between receipts. Used by one
/// thread at a time (the pool hands it out).
pub struct OcrEngine {
    config: EngineConfig,
    det: Session,
    rec: Recognizer,
    refine: Option<Recognizer>,
}

impl OcrEngine {
    pub fn new(files: &ModelFiles, config: EngineConfig) -> Result<Self, OcrError> {
        let env = runtime(&files.runtime())?;
        let det = session(&env, &files.detector(config.det))?;
        let rec = Recognizer::load(&env, files, config.rec)?;
        let refine = config
            .refine
            .map(|s| Recognizer::load(&env, files, s))
            .transpose()?;
        Ok(Self {
            config,
            det,
            rec,
            refine,
        })
    }

    pub fn version(&self) -> String {
        version(&self.config)
    }

    /// Finds the text boxes of a gray image.
    pub fn detect(&mut self, gray: &GrayImage) -> Result<det::Detection, OcrError> {
        let input = det::detect_input(gray, self.config.det_side);
        let shape = input.shape;
        let (dims, prob) = infer(&mut self.det, &shape, input.data)?;
        let [_, _, h, w] = dims[..] else {
            return Err(OcrError::Inference(format!(
                "unexpected detector output {dims:?}"
            )));
        };
        Ok(det::boxes_from_map(
            &prob,
            w,
            h,
            &self.config.db,
            (
                input.scale_x * shape[3] as f32 / w as f32,
                input.scale_y * shape[2] as f32 / h as f32,
            ),
            (gray.width() as f32, gray.height() as f32),
        ))
    }

    /// Detects, recognises and orders the text of a gray image.
    /// Turns the page upright first (`orient`): sideways or upside down.
    pub fn read(&mut self, gray: &GrayImage) -> Result<Reading, OcrError> {
        let t0 = std::time::Instant::now();
        let (upright, detection) = self.upright(gray)?;
        let gray = upright.as_ref().unwrap_or(gray);
        let det::Detection {
            boxes, page_angle, ..
        } = detection;
        let t_det = t0.elapsed();
        let crops: Vec<rec::LineImage> = boxes.iter().map(|b| rec::crop(gray, b)).collect();
        let t_crop = t0.elapsed();
        let decoded = self.rec.read(&crops, self.config.batch)?;
        let t_rec = t0.elapsed();
        let mut refined = 0;
        let words: Vec<Word> = boxes
            .iter()
            .zip(decoded)
            .map(|(b, d)| Word {
                b: *b,
                text: d.text,
                confidence: d.confidence,
            })
            .collect();
        let mut lines = layout::group_lines(words, page_angle);
        if let Some(fine) = self.refine.as_mut() {
            let chosen: Vec<(usize, usize)> = refine::choose(&lines, self.config.refine_items)
                .into_iter()
                .flat_map(|l| (0..lines[l].words.len()).map(move |w| (l, w)))
                .filter(|&(l, w)| lines[l].words[w].confidence < self.config.refine_below)
                .collect();
            refined = chosen.len();
            let again: Vec<rec::LineImage> = chosen
                .iter()
                .map(|&(l, w)| rec::crop(gray, &lines[l].words[w].b))
                .collect();
            let better = fine.read(&again, self.config.batch)?;
            for ((l, w), d) in chosen.into_iter().zip(better) {
                lines[l].words[w].text = d.text;
                lines[l].words[w].confidence = d.confidence;
            }
        }
        tracing::debug!(
            boxes = boxes.len(),
            refined,
            det_ms = t_det.as_millis() as u64,
            crop_ms = (t_crop - t_det).as_millis() as u64,
            rec_ms = (t_rec - t_crop).as_millis() as u64,
            refine_ms = (t0.elapsed() - t_rec).as_millis() as u64,
            "read"
        );
        let read: Vec<f32> = lines
            .iter()
            .flat_map(|l| &l.words)
            .filter(|w| !w.text.is_empty())
            .map(|w| w.confidence)
            .collect();
        let confidence = if read.is_empty() {
            0.0
        } else {
            read.iter().sum::<f32>() / read.len() as f32
        };
        Ok(Reading { lines, confidence })
    }
}

pub mod orient;
pub mod refine;
pub mod tiles;
