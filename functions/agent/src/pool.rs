//! Warm engines, one per permitted concurrent OCR, so that a request never
//! pays the model load.

use std::sync::{Arc, Mutex};

use crate::ocr::{EngineConfig, ModelFiles, OcrEngine, OcrError};

#[derive(Clone)]
pub struct EnginePool {
    engines: Arc<Mutex<Vec<OcrEngine>>>,
    permits: Arc<tokio::sync::Semaphore>,
    pub size: usize,
    /// The engine's name and model versions, as stored with each receipt.
    pub version: String,
}

impl EnginePool {
    /// Loads `size` engines from `files`; a missing model is an error that
    /// names the command that fetches it.
    pub fn new(size: usize, files: &ModelFiles, config: &EngineConfig) -> Result<Self, OcrError> {
        let size = size.max(1);
        let engines = (0..size)
            .map(|_| OcrEngine::new(files, config.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            engines: Arc::new(Mutex::new(engines)),
            permits: Arc::new(tokio::sync::Semaphore::new(size)),
            size,
            version: crate::ocr::version(config),
        })
    }

    /// One engine from the default models directory and the configuration
    /// of the environment (the command line, tests).
    pub fn from_env(size: usize) -> Result<Self, anyhow::Error> {
        let config = EngineConfig::from_env().map_err(anyhow::Error::msg)?;
        Ok(Self::new(
            size,
            &ModelFiles::new(crate::ocr::models::default_dir()),
            &config,
        )?)
    }

    /// Runs `f` with an engine on a blocking thread; waits for a free one.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut OcrEngine) -> T + Send + 'static,
    ) -> T {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the pool's semaphore is never closed");
        let engines = self.engines.clone();
        tokio::task::spawn_blocking(move || {
            let mut engine = lock(&engines).pop().expect("a permit guarantees an engine");
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut engine)));
            lock(&engines).push(engine);
            match out {
                Ok(v) => v,
                Err(p) => std::panic::resume_unwind(p),
            }
        })
        .await
        .expect("the OCR task does not panic")
    }

    /// Runs `f` with an engine on this thread (the command line, tests);
    /// waits for a free one.
    pub fn run_here<T>(&self, f: impl FnOnce(&mut OcrEngine) -> T) -> T {
        let _permit = loop {
            match self.permits.try_acquire() {
                Ok(p) => break p,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
            }
        };
        let mut engine = lock(&self.engines)
            .pop()
            .expect("a permit guarantees an engine");
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut engine)));
        lock(&self.engines).push(engine);
        match out {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        }
    }
}

/// The engines' list; a panic elsewhere never leaves it unusable (an
/// engine is pushed back before the panic goes on).
fn lock(m: &Mutex<Vec<OcrEngine>>) -> std::sync::MutexGuard<'_, Vec<OcrEngine>> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
