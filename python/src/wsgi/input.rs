//! `wsgi.input`: the request body, readable every way PEP 3333 and cgi-style parsers
//! read it (`read(n)`, `read()`, `read(-1)`, `readline(size)`, `readlines(hint)`,
//! iteration, `readinto`) and seekable like Waitress's (a BytesIO or a temp file).
//! The whole body has arrived before the app runs, so reads never wait on the
//! network; it ends at CONTENT_LENGTH (`wsgi.input_terminated`).
//!
//! A small read-ahead buffer serves `readline`; large reads go straight from the
//! host into the new `bytes`, without the GIL when they may touch the disk.
use crate::cell::RequestCell;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use std::sync::Arc;

/// How much `readline` pulls from the host at a time.
const READ_AHEAD: usize = 16 * 1024;
/// Reads larger than this release the GIL (a spilled body is read from disk).
const DETACHED_READ: usize = 64 * 1024;

#[pyclass(module = "waitressd", name = "InputStream")]
pub struct InputStream {
    cell: Arc<RequestCell>,
    id: u64,
    /// The body's length.
    len: u64,
    /// The reader's position as the app sees it.
    pos: u64,
    /// Bytes read from the host and not yet given to the app: `ahead[taken..]`
    /// start at `pos`.
    ahead: Vec<u8>,
    taken: usize,
}

impl InputStream {
    pub fn new(cell: Arc<RequestCell>, id: u64, len: u64) -> InputStream {
        InputStream {
            cell,
            id,
            len,
            pos: 0,
            ahead: Vec::new(),
            taken: 0,
        }
    }

    fn remaining(&self) -> u64 {
        self.len.saturating_sub(self.pos)
    }

    fn buffered(&self) -> &[u8] {
        &self.ahead[self.taken..]
    }

    /// Fill `out` from the read-ahead buffer, then from the host.
    fn read_into(&mut self, py: Python<'_>, out: &mut [u8]) -> PyResult<()> {
        let from_buffer = out.len().min(self.buffered().len());
        out[..from_buffer].copy_from_slice(&self.ahead[self.taken..self.taken + from_buffer]);
        self.taken += from_buffer;
        let rest = &mut out[from_buffer..];
        if !rest.is_empty() {
            let mut call = self.cell.enter(py, self.id)?;
            if rest.len() > DETACHED_READ {
                let host = call.host_ptr();
                py.detach(move || host.with(|h| read_exact(h, rest)))?;
            } else {
                read_exact(call.host(), rest)?;
            }
        }
        self.pos += out.len() as u64;
        Ok(())
    }

    /// Make sure at least `want` bytes (or the rest of the body) are buffered.
    fn fill(&mut self, py: Python<'_>, want: usize) -> PyResult<()> {
        let have = self.buffered().len();
        let unread_in_host = self.remaining() as usize - have;
        if have >= want || unread_in_host == 0 {
            return Ok(());
        }
        self.ahead.drain(..self.taken);
        self.taken = 0;
        let more = (want - have).max(READ_AHEAD).min(unread_in_host);
        let start = self.ahead.len();
        self.ahead.resize(start + more, 0);
        let mut call = self.cell.enter(py, self.id)?;
        read_exact(call.host(), &mut self.ahead[start..])
    }

    /// The next line (through b"\n"), at most `limit` bytes.
    fn line(&mut self, py: Python<'_>, limit: Option<usize>) -> PyResult<Vec<u8>> {
        let limit = limit.unwrap_or(usize::MAX).min(self.remaining() as usize);
        let mut scanned = 0;
        loop {
            let buffered = self.buffered();
            let window = &buffered[..buffered.len().min(limit)];
            if let Some(nl) = window[scanned..].iter().position(|&b| b == b'\n') {
                return Ok(self.take(scanned + nl + 1));
            }
            if window.len() >= limit {
                return Ok(self.take(limit));
            }
            scanned = window.len();
            self.fill(py, scanned + 1)?;
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.ahead[self.taken..self.taken + n].to_vec();
        self.taken += n;
        self.pos += n as u64;
        out
    }

    fn size_arg(size: Option<i64>) -> Option<usize> {
        match size {
            Some(n) if n >= 0 => Some(n as usize),
            _ => None,
        }
    }
}

fn read_exact(host: &mut dyn waitressd::app::HostRequest, mut out: &mut [u8]) -> PyResult<()> {
    while !out.is_empty() {
        match host.read(out) {
            Ok(0) => return Err(PyOSError::new_err("the request body ended early")),
            Ok(n) => out = &mut out[n..],
            Err(_) => return Err(PyOSError::new_err("the request body could not be read")),
        }
    }
    Ok(())
}

#[pymethods]
impl InputStream {
    /// Up to `size` bytes; all that is left when `size` is omitted, None or < 0.
    #[pyo3(signature = (size = None))]
    fn read<'py>(&mut self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyBytes>> {
        let left = self.remaining() as usize;
        let n = Self::size_arg(size).map_or(left, |s| s.min(left));
        PyBytes::new_with(py, n, |out| self.read_into(py, out))
    }

    /// As `read` (the body is in hand: one call returns all that was asked for).
    #[pyo3(signature = (size = None))]
    fn read1<'py>(&mut self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyBytes>> {
        self.read(py, size)
    }

    /// Fill a writable buffer (bytearray, memoryview); returns the count.
    fn readinto(&mut self, py: Python<'_>, buffer: &Bound<'_, PyAny>) -> PyResult<usize> {
        let bytes = pyo3::types::PyMemoryView::from(buffer)?.call_method1("cast", ("B",))?;
        let n = bytes.len()?.min(self.remaining() as usize);
        let data = PyBytes::new_with(py, n, |out| self.read_into(py, out))?;
        bytes.set_item(pyo3::types::PySlice::new(py, 0, n as isize, 1), data)?;
        Ok(n)
    }

    /// The next line, through b"\n", of at most `size` bytes; b"" at the end.
    #[pyo3(signature = (size = None))]
    fn readline<'py>(
        &mut self,
        py: Python<'py>,
        size: Option<i64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let line = self.line(py, Self::size_arg(size))?;
        Ok(PyBytes::new(py, &line))
    }

    /// Every remaining line (stopping once `hint` bytes were read, if given).
    #[pyo3(signature = (hint = None))]
    fn readlines<'py>(
        &mut self,
        py: Python<'py>,
        hint: Option<i64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let hint = Self::size_arg(hint).filter(|&h| h > 0);
        let lines = PyList::empty(py);
        let mut total = 0;
        loop {
            let line = self.line(py, None)?;
            if line.is_empty() {
                break;
            }
            total += line.len();
            lines.append(PyBytes::new(py, &line))?;
            if hint.is_some_and(|h| total >= h) {
                break;
            }
        }
        Ok(lines)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let line = self.line(py, None)?;
        Ok((!line.is_empty()).then(|| PyBytes::new(py, &line)))
    }

    /// Move to `offset` from the start (whence 0), the position (1) or the end (2).
    #[pyo3(signature = (offset, whence = 0))]
    fn seek(&mut self, py: Python<'_>, offset: i64, whence: i32) -> PyResult<u64> {
        let base: i128 = match whence {
            0 => 0,
            1 => self.pos as i128,
            2 => self.len as i128,
            _ => {
                return Err(PyValueError::new_err(format!(
                    "invalid whence ({whence}, should be 0, 1 or 2)"
                )))
            }
        };
        let target = base + offset as i128;
        if target < 0 {
            return Err(PyValueError::new_err(format!(
                "negative seek position {target}"
            )));
        }
        let target = target as u64;
        // Within the read-ahead buffer: just move in it.
        let buffer_start = self.pos - self.taken as u64;
        let buffer_end = self.pos + self.buffered().len() as u64;
        if (buffer_start..=buffer_end).contains(&target) {
            self.taken = (target - buffer_start) as usize;
        } else {
            self.ahead.clear();
            self.taken = 0;
            let mut call = self.cell.enter(py, self.id)?;
            call.host()
                .seek_body(std::io::SeekFrom::Start(target.min(self.len)))
                .map_err(|_| PyOSError::new_err("the request body could not be repositioned"))?;
        }
        self.pos = target;
        Ok(target)
    }

    fn tell(&self) -> u64 {
        self.pos
    }

    fn seekable(&self) -> bool {
        true
    }

    fn readable(&self) -> bool {
        true
    }

    fn writable(&self) -> bool {
        false
    }

    /// Nothing to release: the server owns the body.
    fn close(&self) {}

    #[getter]
    fn closed(&self) -> bool {
        false
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        false
    }
}
