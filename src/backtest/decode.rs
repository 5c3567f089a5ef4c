//! Opening one input: gzip detected by its magic bytes, inflated whole when it fits, streamed
//! otherwise.
//!
//! Owns decompression only. CloudTrail files are small (a few MB of JSON each), so the common
//! case reads the compressed file whole and inflates it in one call with libdeflate (about twice
//! as fast as a streaming inflate; measured in docs/backtest.md), into a buffer the caller
//! recycles. The gzip trailer gives the size to allocate. Inputs larger than [`WHOLE_LIMIT`],
//! stdin, and gzip data libdeflate rejects (several gzip members, or a corrupt file, whose error
//! then comes from the streaming decoder) are read as a stream, in blocks, through flate2. No
//! record splitting and no evaluation here.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::path::Path;

/// The largest input (decompressed, and compressed) held in memory whole.
pub(crate) const WHOLE_LIMIT: usize = 32 << 20;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A readable input, opened.
pub(crate) enum Opened {
    /// The whole decompressed input: the first `len` bytes of the buffer.
    Whole(Vec<u8>, usize),
    /// Decompressed bytes to read in blocks.
    Stream(Box<dyn Read + Send>),
}

/// Per-worker decompression state, reused from file to file.
pub(crate) struct Decoder {
    inflater: libdeflater::Decompressor,
    compressed: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder { inflater: libdeflater::Decompressor::new(), compressed: Vec::new() }
    }
}

/// What a failed read says, for the list of unreadable files.
fn read_error(e: io::Error) -> String {
    format!("cannot read: {e}")
}

/// The error text for gzip data that does not inflate.
pub(crate) fn gzip_error(e: io::Error) -> String {
    format!("cannot decompress (corrupt or truncated gzip data?): {e}")
}

impl Decoder {
    /// Open `path` (`-` is stdin). `out` is a recycled buffer for the decompressed bytes.
    /// Inputs larger than `whole` (normally [`WHOLE_LIMIT`]) are streamed.
    pub(crate) fn open(&mut self, path: &Path, out: Vec<u8>, whole: usize) -> Result<Opened, String> {
        if path == Path::new("-") {
            return stream(BufReader::with_capacity(256 << 10, io::stdin()));
        }
        let mut f = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
        let len = f.metadata().map_err(read_error)?.len();
        let mut magic = [0u8; 2];
        let got = read_up_to(&mut f, &mut magic).map_err(read_error)?;
        f.rewind().map_err(read_error)?;
        let gzip = got == 2 && magic == GZIP_MAGIC;
        if len > whole as u64 {
            return stream(BufReader::with_capacity(256 << 10, f));
        }
        if gzip {
            self.compressed.clear();
            self.compressed.reserve(len as usize);
            f.read_to_end(&mut self.compressed).map_err(read_error)?;
            self.inflate(out, whole)
        } else {
            let mut out = out;
            out.clear();
            f.read_to_end(&mut out).map_err(read_error)?;
            let n = out.len();
            Ok(Opened::Whole(out, n))
        }
    }

    /// Inflate `self.compressed` whole when its trailer promises a size that fits and libdeflate
    /// accepts it; otherwise stream it (several members, or the streaming decoder's error).
    fn inflate(&mut self, mut out: Vec<u8>, whole: usize) -> Result<Opened, String> {
        let c = &self.compressed;
        let isize = match c.len().checked_sub(4).map(|i| &c[i..]) {
            Some(t) => u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize,
            None => usize::MAX,
        };
        if isize <= whole {
            if out.len() < isize {
                // Rounded up, so that a recycled buffer rarely grows again (each reallocation
                // leaves the allocator a hole of the old size).
                out.resize(isize.next_multiple_of(1 << 20), 0);
            }
            // libdeflate stops after the first gzip member and ignores what follows: when a
            // second member may follow (its header bytes occur later), the stream reads them all.
            let more = c.len() > 18 && memchr::memmem::find_iter(&c[10..], b"\x1f\x8b\x08").next().is_some();
            if !more {
                if let Ok(n) = self.inflater.gzip_decompress(c, &mut out[..isize]) {
                    if n == isize {
                        return Ok(Opened::Whole(out, n));
                    }
                }
            }
        }
        let data = std::mem::take(&mut self.compressed);
        stream(io::Cursor::new(data))
    }
}

/// A streaming reader over `r`, inflating when it starts with the gzip magic bytes.
fn stream<R: BufRead + Send + 'static>(mut r: R) -> Result<Opened, String> {
    let gzip = r.fill_buf().map_err(read_error)?.starts_with(&GZIP_MAGIC);
    if gzip {
        Ok(Opened::Stream(Box::new(GzStream(flate2::bufread::MultiGzDecoder::new(r)))))
    } else {
        Ok(Opened::Stream(Box::new(r)))
    }
}

/// Marks inflate errors so the stream reader can word them as decompression errors.
struct GzStream<R>(flate2::bufread::MultiGzDecoder<R>);

impl<R: BufRead> Read for GzStream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| io::Error::new(e.kind(), GzipError(e)))
    }
}

/// An inflate error (wrapped so that [`describe_stream_error`] can tell it from an I/O error).
#[derive(Debug)]
struct GzipError(io::Error);

impl std::fmt::Display for GzipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for GzipError {}

/// The unreadable-file text for an error from an [`Opened::Stream`] reader.
pub(crate) fn describe_stream_error(e: io::Error) -> String {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<GzipError>()) {
        Some(g) => gzip_error(io::Error::new(g.0.kind(), g.0.to_string())),
        None => read_error(e),
    }
}

/// Read until `buf` is full or the input ends; returns the bytes read.
pub(crate) fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    pub(crate) fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn read_all(o: Opened) -> Result<Vec<u8>, String> {
        match o {
            Opened::Whole(mut v, n) => {
                v.truncate(n);
                Ok(v)
            }
            Opened::Stream(mut r) => {
                let mut v = Vec::new();
                r.read_to_end(&mut v).map_err(describe_stream_error)?;
                Ok(v)
            }
        }
    }

    #[test]
    fn gzip_whole_multi_member_plain_and_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = Decoder::default();
        let p = dir.path().join("a.json.gz");
        std::fs::write(&p, gz(b"{\"a\":1}")).unwrap();
        let o = d.open(&p, vec![7u8; 100], WHOLE_LIMIT).unwrap();
        assert!(matches!(o, Opened::Whole(_, 7)));
        assert_eq!(read_all(o).unwrap(), b"{\"a\":1}");
        // Two gzip members (legal; `cat a.gz b.gz`): libdeflate declines, the stream reads both.
        let mut two = gz(b"{\"a\":1}\n");
        two.extend(gz(b"{\"a\":2}\n"));
        std::fs::write(&p, two).unwrap();
        let o = d.open(&p, Vec::new(), WHOLE_LIMIT).unwrap();
        assert!(matches!(o, Opened::Stream(_)));
        assert_eq!(read_all(o).unwrap(), b"{\"a\":1}\n{\"a\":2}\n");
        // Plain, named .gz or not.
        std::fs::write(&p, b"plain").unwrap();
        assert_eq!(read_all(d.open(&p, Vec::new(), WHOLE_LIMIT).unwrap()).unwrap(), b"plain");
        // Truncated gzip: the error names decompression.
        let mut t = gz(&vec![b'x'; 10_000]);
        t.truncate(t.len() / 2);
        std::fs::write(&p, t).unwrap();
        let e = read_all(d.open(&p, Vec::new(), WHOLE_LIMIT).unwrap()).unwrap_err();
        assert!(e.starts_with("cannot decompress"), "{e}");
        // Missing file.
        let e = d.open(&dir.path().join("nope"), Vec::new(), WHOLE_LIMIT).err().unwrap();
        assert!(e.starts_with("cannot open"), "{e}");
    }
}
