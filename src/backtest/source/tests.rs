//! The streaming source on its own: scheduling, batching, unreadable files, large inputs.

use std::sync::Mutex;

use super::*;

/// Collects every record's text with its file, in any order.
#[derive(Default)]
struct Collect {
    /// Fail the file whose name contains this.
    reject: Option<&'static str>,
    batches: Mutex<u64>,
}

impl Sink for Collect {
    type Part = Vec<(String, String)>;
    type Total = Vec<(String, String)>;
    fn batch(&self, b: &Batch<'_>, part: &mut Self::Part) -> Result<(), String> {
        *self.batches.lock().unwrap() += 1;
        if self.reject.is_some_and(|r| b.file().contains(r)) {
            return Err("rejected".into());
        }
        part.extend(b.records().map(|r| (b.file().rsplit('/').next().unwrap().to_string(), r.text().into_owned())));
        Ok(())
    }
    fn commit(&self, part: Self::Part, total: &mut Self::Total) {
        total.extend(part);
    }
}

fn gz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn sorted(o: Outcome<Vec<(String, String)>>) -> Vec<(String, String)> {
    let mut v: Vec<_> = o.totals.into_iter().flatten().collect();
    v.sort();
    v
}

#[test]
fn files_gz_and_plain_read_and_rejected() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("a.json.gz"), gz(br#"{"Records":[{"n":1},{"n":2}]}"#)).unwrap();
    std::fs::write(d.path().join("b.jsonl"), b"{\"n\":3}\nplain line\n").unwrap(); // JSON lines, then text
    std::fs::write(d.path().join("c.json"), b"{\"n\":").unwrap();
    let sink = Collect::default();
    let progress = Progress::default();
    let o = scan(&[d.path().to_path_buf()], 2, &sink, &progress).unwrap();
    assert_eq!((o.files_read, o.records), (2, 4));
    assert_eq!(o.unreadable.len(), 1);
    assert!(o.unreadable[0].error.contains("unexpected end of data"), "{:?}", o.unreadable);
    let p = progress.snapshot();
    assert_eq!((p.files, p.unreadable, p.records), (3, 1, 4));
    let texts: Vec<String> = sorted(o).into_iter().map(|g| g.1).collect();
    assert_eq!(texts, ["{\"n\":1}", "{\"n\":2}", "plain line", "{\"n\":3}"]);
    // A consumer's error makes the file unreadable: none of its records count.
    let sink = Collect { reject: Some("a.json"), ..Default::default() };
    let o = scan(&[d.path().to_path_buf()], 1, &sink, &Progress::default()).unwrap();
    assert_eq!((o.files_read, o.records), (1, 2));
    let errors: Vec<&str> = o.unreadable.iter().map(|u| u.error.as_str()).collect();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0], "rejected");
}

/// Tiny blocks and batches: a plain file and a two-member gzip are streamed in many blocks, cut
/// into many batches shared by three workers, and every record arrives exactly once, with its
/// offset; a record cut by a block end is carried over.
#[test]
fn streamed_inputs_in_many_blocks_and_batches() {
    let d = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..500).map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 37))).collect();
    let text = lines.join("\n");
    std::fs::write(d.path().join("big.jsonl"), &text).unwrap();
    let (a, b) = text.split_at(text.len() / 2);
    let mut two = gz(a.as_bytes());
    two.extend(gz(b.as_bytes()));
    std::fs::write(d.path().join("two.json.gz"), two).unwrap();
    let env = format!("{{\"Records\":[{}]}}", lines.join(","));
    std::fs::write(d.path().join("env.json"), &env).unwrap();
    let limits = Limits { whole: 100, block: 300, piece: 200 };
    let sink = Collect::default();
    let o = scan_with(&[d.path().to_path_buf()], 3, &sink, &Progress::default(), limits).unwrap();
    assert!(o.unreadable.is_empty(), "{:?}", o.unreadable);
    assert_eq!((o.files_read, o.records), (3, 1500));
    assert!(*sink.batches.lock().unwrap() > 100);
    for file in ["big.jsonl", "two.json.gz", "env.json"] {
        let mut got: Vec<String> = sorted_file(&o, file);
        got.sort();
        let mut want = lines.clone();
        want.sort();
        assert_eq!(got, want, "{file}");
    }
}

fn sorted_file(o: &Outcome<Vec<(String, String)>>, file: &str) -> Vec<String> {
    o.totals.iter().flatten().filter(|(f, _)| f == file).map(|(_, t)| t.clone()).collect()
}

/// A streamed file that turns bad after some blocks contributes nothing.
#[test]
fn streamed_file_bad_halfway_contributes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let mut text: String = (0..200).map(|i| format!("{{\"n\":{i}}}\n")).collect();
    text.push_str("{\"n\": }\n");
    std::fs::write(d.path().join("bad.json"), &text).unwrap();
    let limits = Limits { whole: 10, block: 64, piece: 32 };
    let o = scan_with(&[d.path().join("bad.json")], 2, &Collect::default(), &Progress::default(), limits).unwrap();
    assert_eq!((o.files_read, o.records), (0, 0));
    assert!(o.totals.iter().all(Vec::is_empty));
    assert_eq!(o.unreadable.len(), 1);
    assert!(o.unreadable[0].error.starts_with("line 201, column 7: invalid JSON"), "{:?}", o.unreadable);
}

#[test]
fn record_offsets() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("a.json"), b"[ {\"a\":1},\n  {\"b\":2} ]").unwrap();
    struct Offsets;
    impl Sink for Offsets {
        type Part = Vec<u64>;
        type Total = Vec<u64>;
        fn batch(&self, b: &Batch<'_>, part: &mut Vec<u64>) -> Result<(), String> {
            part.extend(b.records().map(|r| r.offset));
            Ok(())
        }
        fn commit(&self, part: Vec<u64>, total: &mut Vec<u64>) {
            total.extend(part);
        }
    }
    let o = scan(&[d.path().join("a.json")], 1, &Offsets, &Progress::default()).unwrap();
    assert_eq!(o.totals.concat(), [2, 13]);
}
