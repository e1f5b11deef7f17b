//! `wsgi.file_wrapper` (Waitress's `ReadOnlyFileBasedBuffer`): wraps a file-like
//! object. Returned as the app's response, a wrapper around a regular file goes out
//! with sendfile(2) from the I/O thread (`serve`); around anything else it is an
//! iterator of `read(block_size)` pieces. Seeking passes through, as in Waitress, so
//! middleware can serve ranges.
use pyo3::prelude::*;

#[pyclass(module = "waitressd", name = "FileWrapper", frozen)]
pub struct FileWrapper {
    filelike: Py<PyAny>,
    block_size: usize,
}

impl FileWrapper {
    pub fn filelike<'py>(&self, py: Python<'py>) -> &Bound<'py, PyAny> {
        self.filelike.bind(py)
    }

    pub fn block_size_value(&self) -> usize {
        self.block_size
    }
}

#[pymethods]
impl FileWrapper {
    #[new]
    #[pyo3(signature = (filelike, block_size = 32768))]
    fn new(filelike: Py<PyAny>, block_size: usize) -> FileWrapper {
        FileWrapper {
            filelike,
            block_size: block_size.max(1),
        }
    }

    /// The wrapped object (Waitress's attribute name).
    #[getter]
    fn file(&self, py: Python<'_>) -> Py<PyAny> {
        self.filelike.clone_ref(py)
    }

    #[getter]
    fn block_size(&self) -> usize {
        self.block_size
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let piece = self
            .filelike
            .bind(py)
            .call_method1("read", (self.block_size,))?;
        Ok((piece.len()? > 0).then_some(piece))
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let f = self.filelike.bind(py);
        if f.hasattr("close")? {
            f.call_method0("close")?;
        }
        Ok(())
    }

    #[pyo3(signature = (*args))]
    fn seek<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, pyo3::types::PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.filelike.bind(py).call_method1("seek", args)
    }

    fn tell<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.filelike.bind(py).call_method0("tell")
    }

    fn seekable(&self, py: Python<'_>) -> PyResult<bool> {
        let f = self.filelike.bind(py);
        if f.hasattr("seekable")? {
            f.call_method0("seekable")?.is_truthy()
        } else {
            Ok(f.hasattr("seek")? && f.hasattr("tell")?)
        }
    }
}
