//! A minimal, safe wrapper over libtesseract's C API, and a pool of warm
//! engines (one per core), so that a request never pays the model load.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::{Arc, Mutex};

#[repr(C)]
struct TessBaseAPI {
    _private: [u8; 0],
}

// Declared from tesseract/capi.h (Tesseract 4 and 5).
unsafe extern "C" {
    fn TessVersion() -> *const c_char;
    fn TessBaseAPICreate() -> *mut TessBaseAPI;
    fn TessBaseAPIDelete(handle: *mut TessBaseAPI);
    fn TessBaseAPIInit3(
        handle: *mut TessBaseAPI,
        datapath: *const c_char,
        language: *const c_char,
    ) -> c_int;
    fn TessBaseAPISetVariable(
        handle: *mut TessBaseAPI,
        name: *const c_char,
        value: *const c_char,
    ) -> c_int;
    fn TessBaseAPISetPageSegMode(handle: *mut TessBaseAPI, mode: c_int);
    fn TessBaseAPISetImage(
        handle: *mut TessBaseAPI,
        imagedata: *const u8,
        width: c_int,
        height: c_int,
        bytes_per_pixel: c_int,
        bytes_per_line: c_int,
    );
    fn TessBaseAPISetSourceResolution(handle: *mut TessBaseAPI, ppi: c_int);
    fn TessBaseAPIRecognize(handle: *mut TessBaseAPI, monitor: *mut c_void) -> c_int;
    fn TessBaseAPIGetUTF8Text(handle: *mut TessBaseAPI) -> *mut c_char;
    fn TessDeleteText(text: *const c_char);
    fn TessBaseAPIMeanTextConf(handle: *mut TessBaseAPI) -> c_int;
    fn TessBaseAPIClear(handle: *mut TessBaseAPI);
}

/// Tesseract's page segmentation mode 4: a single column of text of
/// variable sizes, which is what a receipt is.
pub const PSM_SINGLE_COLUMN: i32 = 4;
/// Mode 6: a single uniform block of text; a second, independent reading.
pub const PSM_SINGLE_BLOCK: i32 = 6;

#[derive(Debug, thiserror::Error)]
pub enum TessError {
    #[error("Tesseract could not load the `{0}` language data (install tesseract-ocr-eng)")]
    Init(String),
    #[error("Tesseract could not read the image")]
    Recognize,
}

/// Text and Tesseract's mean word confidence (0–100).
#[derive(Debug, Clone)]
pub struct OcrText {
    pub text: String,
    pub mean_confidence: i32,
}

/// One initialised engine. Not shareable between threads at once; the
/// pool hands each to one caller at a time.
pub struct Engine {
    handle: *mut TessBaseAPI,
    psm: i32,
}

// SAFETY: a TessBaseAPI may move between threads; it is only ever used by
// one thread at a time (the pool's mutex guarantees it).
unsafe impl Send for Engine {}

impl Engine {
    pub fn new(language: &str) -> Result<Self, TessError> {
        let lang = CString::new(language).map_err(|_| TessError::Init(language.to_owned()))?;
        // SAFETY: plain C calls; the handle is checked and owned by `Engine`.
        unsafe {
            let handle = TessBaseAPICreate();
            if handle.is_null() || TessBaseAPIInit3(handle, std::ptr::null(), lang.as_ptr()) != 0 {
                if !handle.is_null() {
                    TessBaseAPIDelete(handle);
                }
                return Err(TessError::Init(language.to_owned()));
            }
            let psm = std::env::var("AGENT_PSM")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(PSM_SINGLE_COLUMN);
            TessBaseAPISetPageSegMode(handle, psm);
            let name = CString::new("debug_file").unwrap();
            let value = CString::new("/dev/null").unwrap();
            TessBaseAPISetVariable(handle, name.as_ptr(), value.as_ptr());
            Ok(Self { handle, psm })
        }
    }

    /// Reads an 8-bit grayscale image (`width × height` bytes, row-major)
    /// with the given page segmentation mode.
    pub fn recognize_with(
        &mut self,
        gray: &[u8],
        width: u32,
        height: u32,
        ppi: u32,
        psm: i32,
    ) -> Result<OcrText, TessError> {
        // SAFETY: a plain setter on a live handle.
        unsafe { TessBaseAPISetPageSegMode(self.handle, psm) };
        let out = self.recognize(gray, width, height, ppi);
        // SAFETY: as above.
        unsafe { TessBaseAPISetPageSegMode(self.handle, self.psm) };
        out
    }

    /// Reads an 8-bit grayscale image (`width × height` bytes, row-major).
    pub fn recognize(
        &mut self,
        gray: &[u8],
        width: u32,
        height: u32,
        ppi: u32,
    ) -> Result<OcrText, TessError> {
        assert_eq!(gray.len(), (width * height) as usize, "image size");
        // SAFETY: `gray` outlives the calls below (Tesseract copies it in
        // SetImage); the returned text is freed with TessDeleteText.
        unsafe {
            TessBaseAPISetImage(
                self.handle,
                gray.as_ptr(),
                width as c_int,
                height as c_int,
                1,
                width as c_int,
            );
            TessBaseAPISetSourceResolution(self.handle, ppi as c_int);
            if TessBaseAPIRecognize(self.handle, std::ptr::null_mut()) != 0 {
                TessBaseAPIClear(self.handle);
                return Err(TessError::Recognize);
            }
            let ptr = TessBaseAPIGetUTF8Text(self.handle);
            let text = if ptr.is_null() {
                String::new()
            } else {
                let t = CStr::from_ptr(ptr).to_string_lossy().into_owned();
                TessDeleteText(ptr);
                t
            };
            let mean_confidence = TessBaseAPIMeanTextConf(self.handle);
            TessBaseAPIClear(self.handle);
            Ok(OcrText {
                text,
                mean_confidence,
            })
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: the handle came from TessBaseAPICreate and is dropped once.
        unsafe { TessBaseAPIDelete(self.handle) }
    }
}

/// "tesseract 5.3.0"
pub fn version() -> String {
    // SAFETY: TessVersion returns a static NUL-terminated string.
    let v = unsafe { CStr::from_ptr(TessVersion()) };
    format!("tesseract {}", v.to_string_lossy())
}

/// Warm engines, one per permitted concurrent OCR.
#[derive(Clone)]
pub struct EnginePool {
    engines: Arc<Mutex<Vec<Engine>>>,
    permits: Arc<tokio::sync::Semaphore>,
    pub size: usize,
}

impl EnginePool {
    pub fn new(size: usize, language: &str) -> Result<Self, TessError> {
        let size = size.max(1);
        let engines = (0..size)
            .map(|_| Engine::new(language))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            engines: Arc::new(Mutex::new(engines)),
            permits: Arc::new(tokio::sync::Semaphore::new(size)),
            size,
        })
    }

    /// Runs `f` with an engine on a blocking thread; waits for a free one.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine) -> T + Send + 'static,
    ) -> T {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the pool's semaphore is never closed");
        let engines = self.engines.clone();
        tokio::task::spawn_blocking(move || {
            let mut engine = engines
                .lock()
                .unwrap()
                .pop()
                .expect("a permit guarantees an engine");
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut engine)));
            engines.lock().unwrap().push(engine);
            match out {
                Ok(v) => v,
                Err(p) => std::panic::resume_unwind(p),
            }
        })
        .await
        .expect("the OCR task does not panic")
    }

    /// Runs `f` with an engine on this thread (the command line).
    pub fn run_here<T>(&self, f: impl FnOnce(&mut Engine) -> T) -> T {
        let mut engine = self.engines.lock().unwrap().pop().expect("an idle engine");
        let out = f(&mut engine);
        self.engines.lock().unwrap().push(engine);
        out
    }
}
