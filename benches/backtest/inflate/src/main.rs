//! `inflate-bench DIR [RUNS]`: inflate every *.gz file under DIR with each implementation, one
//! thread, page cache warm; print MB/s of output per implementation (median of RUNS).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("read_dir").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|e| e == "gz") {
            out.push(p);
        }
    }
}

fn isize(c: &[u8]) -> usize {
    let t = &c[c.len() - 4..];
    u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).expect("usage: inflate-bench DIR [RUNS]"));
    let runs: usize = args.get(2).map_or(3, |r| r.parse().expect("RUNS"));
    let mut list = Vec::new();
    files(&dir, &mut list);
    let data: Vec<Vec<u8>> = list.iter().map(|p| std::fs::read(p).expect("read")).collect();
    let total: usize = data.iter().map(|c| isize(c)).sum();
    let mut buf: Vec<u8> = Vec::new();
    let mut de = libdeflater::Decompressor::new();
    type Inflate<'a> = Box<dyn FnMut(&[u8], &mut Vec<u8>) -> usize + 'a>;
    let flate2_name = if cfg!(feature = "zlib-rs") {
        "flate2 + zlib-rs, streaming"
    } else {
        "flate2 + miniz_oxide (default), streaming"
    };
    let impls: Vec<(&str, Inflate)> = vec![
        (
            flate2_name,
            Box::new(|c: &[u8], out: &mut Vec<u8>| {
                out.clear();
                flate2::read::MultiGzDecoder::new(c).read_to_end(out).expect("inflate")
            }),
        ),
        (
            "libdeflate (libdeflater), whole buffer",
            Box::new(|c: &[u8], out: &mut Vec<u8>| {
                let n = isize(c);
                if out.len() < n {
                    out.resize(n, 0);
                }
                de.gzip_decompress(c, &mut out[..n]).expect("inflate")
            }),
        ),
    ];
    println!(
        "{} files, {:.1} MB gzip, {:.1} MB out",
        data.len(),
        data.iter().map(Vec::len).sum::<usize>() as f64 / 1e6,
        total as f64 / 1e6
    );
    for (name, mut f) in impls {
        let mut times = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            let mut n = 0;
            for c in &data {
                n += f(c, &mut buf);
            }
            assert_eq!(n, total, "{name}");
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let t = times[times.len() / 2];
        println!("  {name:<40} {t:6.2} s  {:7.1} MB/s", total as f64 / 1e6 / t);
    }
}
