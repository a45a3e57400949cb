//! The hostile corpus: files made to stop a service or fill its memory, written by this
//! code rather than kept as binary blobs, so each one says how it is made. The tests of
//! `tests/hostile.rs` and `tests/sources/fuzz.rs` hand them to landing, uploads and sources;
//! `all` lists them with what each must be refused for (RELIABILITY.md, "Hostile input").
//!
//! Workbooks are zipped by hand here, so that an archive can declare what it likes: the
//! sizes in its headers, and a sheet that deflates from a few megabytes to far more.

use std::io::Write;

/// One hostile file: its name (whose extension says its format), its bytes, and words the
/// refusal must contain.
pub struct Hostile {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    pub refused_for: &'static str,
}

/// Every hostile file of the corpus.
pub fn all() -> Vec<Hostile> {
    vec![
        Hostile {
            name: "dimension-bomb.xlsx",
            bytes: dimension_bomb(),
            refused_for: "cell XFD1048576",
        },
        Hostile {
            name: "sparse-corners.xlsx",
            bytes: sparse_corners(),
            refused_for: "a sheet may span at most 20,000,000",
        },
        Hostile {
            name: "zip-bomb.xlsx",
            bytes: zip_bomb(512 << 20, false),
            refused_for: "inflates to more than 256 MiB",
        },
        Hostile {
            name: "zip-bomb-lying.xlsx",
            bytes: zip_bomb(512 << 20, true),
            refused_for: "larger than its declared uncompressed size",
        },
        Hostile {
            name: "repeated-rows.ods",
            bytes: ods_repeats(1_000_000, 90),
            refused_for: "more than 512 MiB of memory",
        },
        Hostile {
            name: "wide-header.csv",
            bytes: wide_header(400_000),
            refused_for: "longer than 1 MiB",
        },
        Hostile {
            name: "many-columns.csv",
            bytes: wide_header(2_000),
            refused_for: "at most 1,000",
        },
        Hostile {
            name: "endless-row.csv",
            bytes: endless_row(3 << 20),
            refused_for: "longer than 1 MiB",
        },
        Hostile {
            name: "many-keys.json",
            bytes: many_keys(2_000),
            refused_for: "at most 1,000 columns",
        },
        Hostile {
            name: "deep.json",
            bytes: deep_json(100_000),
            refused_for: "recursion limit exceeded",
        },
    ]
}

/// A zip archive of `(name, data)` parts, written by hand: `Stored` parts as they are,
/// `Deflated` parts with their stream already made, and each part's sizes as given.
pub enum Part {
    Stored(&'static str, Vec<u8>),
    /// name, deflate stream, CRC-32 and size of what it inflates to, and the size declared.
    Deflated {
        name: &'static str,
        stream: Vec<u8>,
        crc: u32,
        inflated: u64,
        declared: u64,
    },
}

pub fn zip(parts: Vec<Part>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    let count = parts.len() as u16;
    for part in parts {
        let (name, data, method, crc, declared) = match part {
            Part::Stored(name, data) => {
                let mut h = crc32fast::Hasher::new();
                h.update(&data);
                let len = data.len() as u64;
                (name, data, 0u16, h.finalize(), len)
            }
            Part::Deflated {
                name,
                stream,
                crc,
                declared,
                ..
            } => (name, stream, 8u16, crc, declared),
        };
        let offset = out.len() as u32;
        let declared = declared.min(u64::from(u32::MAX)) as u32;
        let header = |signature: u32, central: bool| {
            let mut h = Vec::new();
            h.extend(signature.to_le_bytes());
            if central {
                h.extend(20u16.to_le_bytes()); // made by
            }
            h.extend(20u16.to_le_bytes()); // needed to extract
            h.extend(0u16.to_le_bytes()); // flags
            h.extend(method.to_le_bytes());
            h.extend(0u16.to_le_bytes()); // time
            h.extend(0x5a21u16.to_le_bytes()); // date: 2025-01-01
            h.extend(crc.to_le_bytes());
            h.extend((data.len() as u32).to_le_bytes());
            h.extend(declared.to_le_bytes());
            h.extend((name.len() as u16).to_le_bytes());
            h.extend(0u16.to_le_bytes()); // extra
            if central {
                h.extend(0u16.to_le_bytes()); // comment
                h.extend(0u16.to_le_bytes()); // disk
                h.extend(0u16.to_le_bytes()); // internal attributes
                h.extend(0u32.to_le_bytes()); // external attributes
                h.extend(offset.to_le_bytes());
            }
            h.extend(name.as_bytes());
            h
        };
        out.extend(header(0x0403_4b50, false));
        out.extend(&data);
        central.extend(header(0x0201_4b50, true));
    }
    let at = out.len() as u32;
    out.extend(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0u8; 4]); // disks
    out.extend(count.to_le_bytes());
    out.extend(count.to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(at.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#;
const RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
const WORKBOOK: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
const WORKBOOK_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#;
const SHEET_START: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#;
const SHEET_END: &str = "</sheetData></worksheet>";

fn workbook(sheet: Part) -> Vec<u8> {
    zip(vec![
        Part::Stored("[Content_Types].xml", CONTENT_TYPES.into()),
        Part::Stored("_rels/.rels", RELS.into()),
        Part::Stored("xl/workbook.xml", WORKBOOK.into()),
        Part::Stored("xl/_rels/workbook.xml.rels", WORKBOOK_RELS.into()),
        sheet,
    ])
}

/// An XLSX of two cells, A1 and XFD1048576: 1.7 KB that a reader sizing its table from
/// the corners asks hundreds of GiB for.
pub fn dimension_bomb() -> Vec<u8> {
    let sheet = format!(
        r#"{SHEET_START}<row r="1"><c r="A1" t="inlineStr"><is><t>census_date</t></is></c></row><row r="1048576"><c r="XFD1048576"><v>1</v></c></row>{SHEET_END}"#
    );
    workbook(Part::Stored("xl/worksheets/sheet1.xml", sheet.into_bytes()))
}

/// An XLSX of three cells, A1, ALL1 and A1048576: inside the columns an extract may have,
/// but a table a thousand columns wide and a million rows long, nearly all blank.
pub fn sparse_corners() -> Vec<u8> {
    let sheet = format!(
        r#"{SHEET_START}<row r="1"><c r="A1"><v>1</v></c><c r="ALL1"><v>1</v></c></row><row r="1048576"><c r="A1048576"><v>1</v></c></row>{SHEET_END}"#
    );
    workbook(Part::Stored("xl/worksheets/sheet1.xml", sheet.into_bytes()))
}

/// Bits for a deflate stream, least significant first as RFC 1951 packs them.
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn new() -> Bits {
        Bits {
            out: Vec::new(),
            acc: 0,
            n: 0,
        }
    }

    fn put(&mut self, value: u64, bits: u32) {
        self.acc |= value << self.n;
        self.n += bits;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// A Huffman code: most significant bit first.
    fn code(&mut self, code: u32, bits: u32) {
        let reversed = code.reverse_bits() >> (32 - bits);
        self.put(u64::from(reversed), bits);
    }

    fn literal(&mut self, byte: u8) {
        if byte < 144 {
            self.code(0x30 + u32::from(byte), 8);
        } else {
            self.code(0x190 + u32::from(byte) - 144, 9);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// A deflate stream (one block, fixed codes) of `start`, then `unit` repeated `times`
/// times, then `end`: each further copy of the unit costs two bytes per 258 inflated.
/// `times - 1` times the unit's length must be a multiple of 258; the unit at most 32 long.
fn deflate_repeat(start: &[u8], unit: &[u8], times: u64, end: &[u8]) -> Vec<u8> {
    let len = unit.len() as u64;
    assert!((17..=32).contains(&len) && ((times - 1) * len).is_multiple_of(258));
    let mut b = Bits::new();
    b.put(1, 1); // the last block
    b.put(1, 2); // fixed Huffman codes
    start.iter().chain(unit).for_each(|&c| b.literal(c));
    let (code, extra_bits) = if len <= 24 {
        (8, len - 17)
    } else {
        (9, len - 25)
    };
    for _ in 0..(times - 1) * len / 258 {
        b.code(0xC5, 8); // length 258 (code 285)
        b.code(code, 5); // distance 17-24 or 25-32
        b.put(extra_bits, 3);
    }
    end.iter().for_each(|&c| b.literal(c));
    b.code(0, 7); // end of block
    b.finish()
}

/// The CRC-32 of `start`, `unit` `times` times and `end`, without writing them out.
fn crc_repeat(start: &[u8], unit: &[u8], times: u64, end: &[u8]) -> u32 {
    let mut all = crc32fast::Hasher::new();
    all.update(start);
    let mut power = crc32fast::Hasher::new();
    power.update(unit);
    let mut left = times;
    while left > 0 {
        if left & 1 == 1 {
            all.combine(&power);
        }
        let doubled = power.clone();
        power.combine(&doubled);
        left >>= 1;
    }
    all.update(end);
    all.finalize()
}

/// An XLSX whose sheet of one-cell rows deflates to at least `inflated` bytes from a few
/// megabytes; `lying` declares the sheet a kilobyte.
pub fn zip_bomb(inflated: u64, lying: bool) -> Vec<u8> {
    let unit = b"<row><c><v>1</v></c></row>";
    // One more than a multiple of 129: 26 × 129 = 13 × 258.
    let times = (inflated / unit.len() as u64 / 129 + 1) * 129 + 1;
    let total = (SHEET_START.len() + SHEET_END.len()) as u64 + unit.len() as u64 * times;
    workbook(Part::Deflated {
        name: "xl/worksheets/sheet1.xml",
        stream: deflate_repeat(SHEET_START.as_bytes(), unit, times, SHEET_END.as_bytes()),
        crc: crc_repeat(SHEET_START.as_bytes(), unit, times, SHEET_END.as_bytes()),
        inflated: total,
        declared: if lying { 1024 } else { total },
    })
}

/// An ODS whose one row of `columns` numbers is repeated `rows` times: a few hundred bytes
/// from which the reader builds a table of every cell.
pub fn ods_repeats(rows: u64, columns: u64) -> Vec<u8> {
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body><office:spreadsheet><table:table table:name="Sheet1"><table:table-row table:number-rows-repeated="{rows}"><table:table-cell office:value-type="float" office:value="1" table:number-columns-repeated="{columns}"><text:p>1</text:p></table:table-cell></table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"#
    );
    let manifest = r#"<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>"#;
    zip(vec![
        Part::Stored(
            "mimetype",
            b"application/vnd.oasis.opendocument.spreadsheet".to_vec(),
        ),
        Part::Stored("META-INF/manifest.xml", manifest.into()),
        Part::Stored("content.xml", content.into_bytes()),
    ])
}

/// A census header with `columns` columns in all, the listed ones first, then one data row.
pub fn wide_header(columns: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let listed = "census_date,site_code,ward_code,sector,stay,age_group,bed_class,care_type,available_beds,occupied_beds";
    out.extend(listed.as_bytes());
    for i in 10..columns {
        write!(out, ",x{i}").unwrap();
    }
    out.extend(b"\n2026-11-24,RXA01,W1,general_acute,overnight,adult,core,general,20,10\n");
    out
}

/// A census header and then `bytes` of one row that never ends.
pub fn endless_row(bytes: usize) -> Vec<u8> {
    let mut out = b"census_date,site_code,ward_code,sector,stay,age_group,bed_class,care_type,available_beds,occupied_beds\n2026-11-24,".to_vec();
    out.extend(std::iter::repeat_n(b'9', bytes));
    out
}

/// A JSON array of objects with `keys` different keys between them.
pub fn many_keys(keys: usize) -> Vec<u8> {
    let mut out = b"[".to_vec();
    for i in 0..keys {
        if i > 0 {
            out.push(b',');
        }
        write!(out, "{{\"k{i}\":1}}").unwrap();
    }
    out.push(b']');
    out
}

/// A JSON array nested `depth` deep.
pub fn deep_json(depth: usize) -> Vec<u8> {
    let mut out = vec![b'['; depth];
    out.extend(std::iter::repeat_n(b']', depth));
    out
}

/// Writes the corpus to `dir`, for a look at it, or for a test that hands it over by name.
pub fn write_all(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    all()
        .into_iter()
        .map(|h| {
            let path = dir.join(h.name);
            std::fs::write(&path, &h.bytes).unwrap();
            path
        })
        .collect()
}
